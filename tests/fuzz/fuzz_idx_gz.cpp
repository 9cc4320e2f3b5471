// libFuzzer harness for the IDX reader's gzip path (learner/data/idx_gzip.cpp): the input is
// always treated as a .gz file, so the fuzzer spends its time inside inflate, concatenated
// members and the size bound rather than finding the 1f 8b magic first; what inflates is then
// parsed as read_images and read_labels would. Only tg::Error is caught.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "learner/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> file(data, data + size);
  try {
    const std::vector<uint8_t> bytes = tg::idx::gunzip(file, "fuzz.idx.gz");
    try {
      tg::idx::parse_images(bytes, "fuzz.idx.gz");
    } catch (const tg::Error&) {
    }
    tg::idx::parse_labels(bytes, "fuzz.idx.gz", 10);
  } catch (const tg::Error&) {
  }
  return 0;
}
