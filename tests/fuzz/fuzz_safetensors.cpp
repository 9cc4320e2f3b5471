// libFuzzer harness for the safetensors loader (learner/io/safetensors.h): the input is a whole
// file, run through parse_safetensors, which is what load_safetensors does after reading the
// file. A tg::Error is the expected answer to a bad file; anything else escapes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "learner/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string file(reinterpret_cast<const char*>(data), size);
  try {
    tg::Metadata meta;
    tg::parse_safetensors(file, "fuzz.safetensors", &meta);
  } catch (const tg::Error&) {
  }
  return 0;
}
