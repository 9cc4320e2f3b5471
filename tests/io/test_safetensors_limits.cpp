// load_safetensors reads the header first and checks it against the file's size and the
// machine's memory before it reads (or allocates for) the data section: a file with bytes after
// its last tensor, or a sparse file whose header declares more than the machine holds, is
// refused at once, in a few KiB.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "base/format.h"
#include "base/memory.h"
#include "learner/io/safetensors.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;
using tg::test::TempDir;

namespace {

std::string st_bytes(const std::string& header, const std::string& data) {
  uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header + data;
}

void put_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

double peak_kib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss);
}

}  // namespace

TEST_CASE(
    "safetensors: bytes after the last tensor's data are refused, from the file and in memory") {
  TempDir tmp;
  const std::string ok =
      st_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0'));
  const std::string path = tmp / "pad.safetensors";
  put_file(path, ok);
  CHECK(load_safetensors(path).at("w").numel() == 2);
  put_file(path, ok + "xyz");
  CHECK(has(error_of([&] { load_safetensors(path); }),
            "3 bytes after the last tensor's data: the header accounts for 8 of the file's 11 "
            "data bytes"));
  CHECK(has(error_of([&] { parse_safetensors(ok + "xyz", "m.st"); }),
            "'m.st': 3 bytes after the last tensor's data"));
  // A header without tensors must have no data at all.
  CHECK(has(error_of([&] { parse_safetensors(st_bytes("{}", "1234"), "e.st"); }),
            "4 bytes after the last tensor's data: the header accounts for 0"));
}

TEST_CASE(
    "safetensors: a sparse file declaring more than the machine has is refused before it is read") {
  const MemoryAvailable m = available_memory();
  if (!m.known()) {
    MESSAGE("SKIPPED: this machine's available memory is unknown");
    return;
  }
  TempDir tmp;
  // One U8 tensor twice the available memory, in a sparse file of that size (no blocks on disk).
  const uint64_t n = (static_cast<uint64_t>(m.bytes) * 2 + 4095) / 4096 * 4096;
  const std::string header = R"({"big":{"dtype":"U8","shape":[)" + std::to_string(n) +
                             R"(],"data_offsets":[0,)" + std::to_string(n) + "]}}";
  const std::string path = tmp / "sparse.safetensors";
  put_file(path, st_bytes(header, ""));
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(8 + header.size() + n)) == 0);
  const double before = peak_kib();
  const std::string e = error_of([&] { load_safetensors(path); });
  CHECK(has(e, "load_safetensors: '" + path + "': loading it needs about "));
  CHECK(has(e, "this machine has available"));
  // Nothing of the data was read: the process's peak memory did not grow by more than a MiB or
  // so (reading it, as the loader once did, would take the whole machine).
  CHECK((peak_kib() - before) < 16 * 1024);
}

TEST_CASE("safetensors: read_safetensors_metadata reads the header alone, with its checks") {
  TempDir tmp;
  const std::string path = tmp / "meta.safetensors";
  const std::string ok = st_bytes(
      R"({"__metadata__":{"epoch":"3"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      std::string(8, '\0'));
  put_file(path, ok);
  CHECK(read_safetensors_metadata(path) == Metadata{{"epoch", "3"}});
  put_file(path, ok + "x");  // the same checks as a load
  CHECK(has(error_of([&] { read_safetensors_metadata(path); }), "1 bytes after the last tensor"));
  // A sparse file of 64 GiB of declared data: the metadata comes without reading any of it.
  const uint64_t n = uint64_t(64) << 30;
  const std::string header = R"({"__metadata__":{"k":"v"},"big":{"dtype":"U8","shape":[)" +
                             std::to_string(n) + R"(],"data_offsets":[0,)" + std::to_string(n) +
                             "]}}";
  put_file(path, st_bytes(header, ""));
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(8 + header.size() + n)) == 0);
  const double before = peak_kib();
  CHECK(read_safetensors_metadata(path).at("k") == "v");
  CHECK((peak_kib() - before) < 16 * 1024);
}
