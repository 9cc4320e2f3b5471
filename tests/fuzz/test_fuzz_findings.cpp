// What each committed crasher (tests/fuzz/crashers/<harness>/) must give now that its bug is
// fixed: a tg::Error with the right message. The replay test only proves the crasher no longer
// crashes under the sanitizers; these cases also fail in a plain build, where the bug was
// silent (a signed overflow that only UBSan reports).
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

#include "learner/data/idx.h"
#include "learner/io/checkpoint.h"
#include "test_util.h"

namespace {

std::string crasher(const std::string& harness, const std::string& name) {
  const std::string path = std::string(TG_FUZZ_DIR) + "/crashers/" + harness + "/" + name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "missing crasher ", path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("safetensors: a zero dim beside dims whose product overflows int64 is too large") {
  // shape [0, 628602461104, 84273879]: 0 elements, so the byte count passed, but the strides
  // of the empty tensor (products of the other dims) overflowed int64 in contiguous_strides.
  const std::string file = crasher("safetensors", "zero_dim_then_huge_dims_overflow_strides");
  const std::string e = tg::test::error_of([&] { tg::parse_safetensors(file, "crash.st"); });
  CHECK(tg::test::has(e, "load_safetensors: 'crash.st': tensor 'a2': shape"));
  CHECK(tg::test::has(e, "is too large"));
  // The largest empty shape whose strides fit still loads.
  const std::string ok = std::string("\x50\0\0\0\0\0\0\0", 8) +
                         R"({"a":{"dtype":"F32","shape":[0,4294967296,2147483647],)"
                         R"("data_offsets":[0,0]}})";
  std::string padded = ok + std::string(8 + 0x50 - ok.size(), ' ');
  CHECK(tg::parse_safetensors(padded, "ok.st").at("a").numel() == 0);
}

TEST_CASE("idx: a small gzip file whose header claims 2 GiB allocates nothing like it") {
  // Both crashers are under 100 bytes and inflate to an IDX header saying about 2 GB of data;
  // the reader reserved that much at once (libFuzzer's 1 GiB malloc limit caught it), now at
  // most what the compressed input could inflate to. Run in a child whose address space is
  // capped 512 MiB above what it uses: an allocation of gigabytes fails there, as it would
  // on a small machine.
  for (const char* harness : {"idx", "idx_gz"}) {
    CAPTURE(harness);
    const std::string bytes = crasher(harness, "small_gz_header_claims_2gib_reserved");
    CHECK(bytes.size() < 100);
    const std::vector<uint8_t> file(bytes.begin(), bytes.end());
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      std::ifstream status("/proc/self/statm");
      long pages = 0;
      status >> pages;
      const rlim_t cap = rlim_t(pages) * rlim_t(::sysconf(_SC_PAGESIZE)) + (rlim_t(512) << 20);
      const rlimit lim{cap, cap};
      ::setrlimit(RLIMIT_AS, &lim);
      try {
        tg::idx::gunzip(file, "crash.gz");
      } catch (const tg::Error&) {
        ::_exit(0);  // refused, as it should be
      } catch (...) {
        ::_exit(2);  // std::bad_alloc: it tried to allocate gigabytes
      }
      ::_exit(0);
    }
    int st = 0;
    REQUIRE(::waitpid(child, &st, 0) == child);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }
}
