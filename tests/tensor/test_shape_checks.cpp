// Hostile shapes: every tensor is built by empty() or make_view(), and both refuse a shape
// whose element count, byte size or strides would overflow int64 (a signed overflow is
// undefined behaviour, and a wrapped byte count gives a tensor a storage too small for it),
// whichever API the shape came through.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "tensor/creation.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;

namespace {

constexpr int64_t k2to62 = int64_t(1) << 62;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

const Shape kHugeEmpty = {0, k2to62, k2to62};  // no elements, but strides of 2^124

}  // namespace

TEST_CASE("shape checks: an empty shape whose strides overflow int64 is refused by every maker") {
  const std::string s = "[0, 4611686018427387904, 4611686018427387904]";
  std::string e = error_of([] { empty(kHugeEmpty); });
  CHECK(has(e, "empty: shape " + s + " is too large"));
  CHECK(has(e, "the product of its non-zero sizes (the strides) overflows int64"));
  CHECK(has(error_of([] { zeros(kHugeEmpty); }), "shape " + s + " is too large"));
  CHECK(has(error_of([] { ones(kHugeEmpty, DType::i32); }), "shape " + s + " is too large"));
  CHECK(has(error_of([] { full(kHugeEmpty, 2.0, DType::f64); }), "shape " + s + " is too large"));
  CHECK(has(error_of([] { randn(kHugeEmpty); }), "shape " + s + " is too large"));
  CHECK(has(error_of([] {
              empty({0, kMax, kMax}, DType::u8);
            }),
            "shape [0, 9223372036854775807, 9223372036854775807] is too large"));
  CHECK(has(error_of([] {
              empty({0, 65536, 65536, 65536, 65536, 65536, 65536, 65536}, DType::u8);
            }),
            "is too large"));
  // The zero may come last, after the sizes that overflow.
  CHECK(has(error_of([] { empty({k2to62, k2to62, 0}); }), "is too large"));
}

TEST_CASE("shape checks: an element count or a byte size past int64 is refused") {
  std::string e = error_of([] { empty({k2to62, 4}); });
  CHECK(has(e, "empty: shape [4611686018427387904, 4] is too large"));
  CHECK(has(e, "(the element count and the strides) overflows int64"));
  // 2^62 floats are 2^64 bytes: the byte count would wrap to 0 and give a 0-byte storage.
  e = error_of([] { empty({k2to62}, DType::f32); });
  CHECK(has(e,
            "empty: shape [4611686018427387904] is too large: 4611686018427387904 elements "
            "of 4 bytes are more bytes than int64 can count"));
  CHECK(has(error_of([] { zeros({int64_t(1) << 61, 2}, DType::f64); }), "elements of 8 bytes"));
  CHECK(has(error_of([] { empty({2, -3}); }), "empty: negative size -3 in shape [2, -3]"));
}

TEST_CASE("shape checks: the largest shapes that fit are still made") {
  // 2^32 * (2^31 - 1) < 2^63: the strides fit, and there are no elements.
  Tensor t = empty({0, int64_t(1) << 32, (int64_t(1) << 31) - 1});
  CHECK(t.numel() == 0);
  CHECK(t.strides() ==
        Shape{(int64_t(1) << 32) * ((int64_t(1) << 31) - 1), (int64_t(1) << 31) - 1, 1});
  CHECK(empty({0, kMax}, DType::f64).numel() == 0);
  CHECK(zeros({0}).reshape({0, kMax}).shape() == Shape{0, kMax});
}

TEST_CASE("shape checks: views refuse shapes that overflow") {
  const Tensor z = zeros({0});
  std::string e = error_of([&] { z.reshape(kHugeEmpty); });
  CHECK(
      has(e, "Tensor::reshape: shape [0, 4611686018427387904, 4611686018427387904] is too large"));
  CHECK(has(error_of([&] { z.view(kHugeEmpty); }), "Tensor::view: shape [0, 4611686018427387904"));
  CHECK(has(error_of([&] {
              z.view({-1, k2to62, k2to62});
            }),
            "Tensor::view: shape [-1, 4611686018427387904, 4611686018427387904] is too large"));
  CHECK(has(error_of([] {
              zeros({0, 1, 1}).expand(kHugeEmpty);
            }),
            "Tensor::expand: shape [0, 4611686018427387904, 4611686018427387904] is too large"));
  CHECK(has(error_of([] { zeros({1}).reshape({-2}); }), "negative size -2"));
}

TEST_CASE("shape checks: make_view refuses strides whose reach overflows int64") {
  const Tensor base = zeros({4});
  // 2^62 * 2 wraps to a negative end: it must count as outside the storage, not inside.
  std::string e = error_of([&] { make_view(base, {3}, {k2to62}, 0); });
  CHECK(has(e,
            "make_view: shape [3] with strides [4611686018427387904] and offset 0 reaches "
            "outside its storage of 4 elements"));
  CHECK(has(error_of([&] { make_view(base, {2, 2}, {kMax, kMax}, 0); }), "reaches outside"));
  CHECK(make_view(base, {2, 2}, {2, 1}, 0).to_vector<float>().size() == 4);
}

TEST_CASE("shape checks: shape_numel and contiguous_strides throw instead of overflowing") {
  CHECK(has(error_of([] {
              shape_numel({k2to62, 4});
            }),
            "shape_numel: shape [4611686018427387904, 4] has more elements than int64 can count"));
  CHECK(shape_numel(kHugeEmpty) == 0);
  CHECK(has(error_of([] {
              contiguous_strides({2, k2to62, k2to62});
            }),
            "contiguous_strides: the strides of shape [2, 4611686018427387904, "
            "4611686018427387904] overflow int64"));
  CHECK(contiguous_strides({0, 3, 0, 2}) == Shape{6, 2, 2, 1});
}
