// DType and Device helpers: element sizes and the names used in messages and printing.
#include "tensor/dtype.h"

#include "base/error.h"

namespace tg {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::f32:
      return 4;
    case DType::f64:
      return 8;
    case DType::i32:
      return 4;
    case DType::u8:
      return 1;
  }
  TG_FAIL("dtype_size", "unknown dtype ", static_cast<int>(d));
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32:
      return "float32";
    case DType::f64:
      return "float64";
    case DType::i32:
      return "int32";
    case DType::u8:
      return "uint8";
  }
  return "unknown";
}

bool is_floating(DType d) {
  return d == DType::f32 || d == DType::f64;
}

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

}  // namespace tg
