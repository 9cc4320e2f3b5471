// DType and Device: what a tensor's elements are and where they live.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tg {

// f32 for values, f64 for gradcheck and references, i32 for labels and indices, u8 for raw
// pixels.
enum class DType : uint8_t { f32, f64, i32, u8 };

size_t dtype_size(DType d);
const char* dtype_name(DType d);  // "float32", "float64", "int32", "uint8"
bool is_floating(DType d);

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::i32;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::u8;
}

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::cpu, 0}; }
  static constexpr Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const;  // "cpu", "cuda:0"
};

// Calls f(T{}) with T the C++ type of d. Throws tg::Error (naming op) for dtypes not in the
// list; by default all four.
#define TG_DISPATCH_CASE(dt, T, ...) \
  case dt: {                         \
    using scalar_t = T;              \
    return __VA_ARGS__();            \
  }
#define TG_DISPATCH_FLOATING(dtype, op, ...)                                \
  [&] {                                                                     \
    switch (dtype) {                                                        \
      TG_DISPATCH_CASE(::tg::DType::f32, float, __VA_ARGS__)                \
      TG_DISPATCH_CASE(::tg::DType::f64, double, __VA_ARGS__)               \
      default:                                                              \
        TG_FAIL(op, "expected a floating dtype (float32 or float64), got ", \
                ::tg::dtype_name(dtype));                                   \
    }                                                                       \
  }()
#define TG_DISPATCH_ALL(dtype, op, ...)                        \
  [&] {                                                        \
    switch (dtype) {                                           \
      TG_DISPATCH_CASE(::tg::DType::f32, float, __VA_ARGS__)   \
      TG_DISPATCH_CASE(::tg::DType::f64, double, __VA_ARGS__)  \
      TG_DISPATCH_CASE(::tg::DType::i32, int32_t, __VA_ARGS__) \
      TG_DISPATCH_CASE(::tg::DType::u8, uint8_t, __VA_ARGS__)  \
    }                                                          \
    TG_FAIL(op, "unknown dtype");                              \
  }()

}  // namespace tg
