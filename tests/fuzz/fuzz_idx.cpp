// libFuzzer harness for the IDX reader (learner/data/idx.h): the input is a whole file, raw or
// gzipped, run through exactly what idx::read / read_images / read_labels do after reading it
// (decode, then the three parsers). A tg::Error is the expected answer to a bad file; anything
// else escapes, so libFuzzer (or the replay test) reports it.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "learner/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> file(data, data + size);
  try {
    const std::vector<uint8_t> bytes = tg::idx::decode(file, "fuzz.idx");
    try {
      tg::idx::parse(bytes, "fuzz.idx");
    } catch (const tg::Error&) {
    }
    try {
      tg::idx::parse_images(bytes, "fuzz.idx");
    } catch (const tg::Error&) {
    }
    tg::idx::parse_labels(bytes, "fuzz.idx", 10);
  } catch (const tg::Error&) {
  }
  return 0;
}
