// What each committed crasher (tests/fuzz/crashers/<harness>/) must give now that its bug is
// fixed: a tg::Error with the right message. The replay test only proves the crasher no longer
// crashes under the sanitizers; these cases also fail in a plain build, where the bug was
// silent (a signed overflow that only UBSan reports).
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>

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
