// IDX parsing from hand-built bytes: what a good header gives, and every way a header or its
// data can be wrong, each with the message it must produce — and, for hostile dims, proof that
// nothing was allocated before the error.
#include <doctest/doctest.h>

#include <vector>

#include "idx_fixture.h"
#include "learner/data/idx.h"
#include "learner/data/idx_detail.h"
#include "tensor/creation.h"
#include "tensor/storage.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;
using tg::test::idx_bytes;

namespace {
std::string parse_error(const std::vector<uint8_t>& b) {
  return error_of([&] { idx::parse(b, "bytes.idx"); });
}
}  // namespace

TEST_CASE("idx: a hand-built 3-d file parses to its dims and values") {
  std::vector<uint8_t> data(2 * 3 * 4);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 10);
  Tensor t = idx::parse(idx_bytes(2051, {2, 3, 4}, data), "x");
  CHECK(t.dtype() == DType::u8);
  CHECK(t.shape() == Shape{2, 3, 4});
  CHECK(t.is_contiguous());
  CHECK(t.to_vector<uint8_t>() == data);
  CHECK(t.at<int32_t>({1, 2, 3}) == 230);
}

TEST_CASE("idx: 1-d, 2-d and 4-d unsigned-byte files parse") {
  CHECK(idx::parse(idx_bytes(0x801, {3}, {7, 8, 9}), "x").to_vector<uint8_t>() ==
        std::vector<uint8_t>{7, 8, 9});
  CHECK(idx::parse(idx_bytes(0x802, {2, 1}, {1, 2}), "x").shape() == Shape{2, 1});
  Tensor t4 = idx::parse(idx_bytes(0x804, {1, 2, 1, 2}, {1, 2, 3, 4}), "x");
  CHECK(t4.shape() == Shape{1, 2, 1, 2});
  CHECK(t4.at<int32_t>({0, 1, 0, 1}) == 4);
  // Big-endian dims: 0x00000102 is 258, not 513.
  CHECK(idx::parse(idx_bytes(0x801, {258}, std::vector<uint8_t>(258)), "x").size(0) == 258);
}

TEST_CASE("idx: an empty file and a 3-byte file are refused") {
  std::string e = parse_error({});
  CHECK(has(e, "bytes.idx"));
  CHECK(has(e, "empty file"));
  e = parse_error({0, 0, 8});
  CHECK(has(e, "too short"));
  CHECK(has(e, "3 bytes"));
}

TEST_CASE("idx: a bad magic is refused with the bytes it found") {
  std::string e = parse_error({0x50, 0x4B, 3, 4, 0, 0, 0, 0});  // a zip file
  CHECK(has(e, "bytes.idx: bad magic"));
  CHECK(has(e, "0x50 0x4B"));
  CHECK(has(parse_error({0, 1, 8, 1, 0, 0, 0, 1, 5}), "bad magic"));
}

TEST_CASE("idx: type codes other than unsigned byte are refused, naming the code") {
  std::string e = parse_error(idx_bytes(0x0D01, {1}, {0, 0, 0, 0}));
  CHECK(has(e, "type code 0x0D"));
  CHECK(has(e, "float32"));
  CHECK(has(parse_error(idx_bytes(0x0901, {1}, {0})), "type code 0x09"));
  CHECK(has(parse_error(idx_bytes(0x4201, {1}, {0})), "type code 0x42"));
}

TEST_CASE("idx: 0 dims and more than 4 dims are refused") {
  CHECK(has(parse_error({0, 0, 8, 0}), "number of dims 0"));
  CHECK(has(parse_error(idx_bytes(0x805, {1, 1, 1, 1, 1}, {9})), "number of dims 5"));
}

TEST_CASE("idx: a header cut off inside its dims is refused") {
  std::string e = parse_error({0, 0, 8, 3, 0, 0, 0, 2, 0, 0});
  CHECK(has(e, "truncated header"));
  CHECK(has(e, "need 16"));
  CHECK(has(e, "file has 10"));
}

TEST_CASE("idx: a zero dim is refused") {
  std::string e = parse_error(idx_bytes(2051, {2, 0, 4}, {}));
  CHECK(has(e, "dim 1 is 0"));
}

TEST_CASE("idx: truncated data is refused with both byte counts") {
  std::string e = parse_error(idx_bytes(2051, {2, 2, 2}, {1, 2, 3, 4, 5}));
  CHECK(has(e, "bytes.idx: truncated: header says 8 bytes of data, file has 5"));
}

TEST_CASE("idx: trailing bytes are refused") {
  std::string e = parse_error(idx_bytes(2049, {2}, {1, 2, 3}));
  CHECK(has(e, "trailing bytes"));
  CHECK(has(e, "header says 2 bytes of data, file has 3 (1 extra"));
}

TEST_CASE("idx: huge dims fail before anything is allocated") {
  const size_t allocations = cpu_allocation_count();
  // The product overflows int64: refused while multiplying.
  std::string e =
      parse_error(idx_bytes(0x804, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {1, 2, 3}));
  CHECK(has(e, "overflow"));
  e = parse_error(idx_bytes(2051, {0xFFFFFFFF, 0xFFFFFFFF, 2}, {}));
  CHECK(has(e, "overflow"));
  // Representable but far beyond the file: a truncation, not a 2^64-byte allocation.
  e = parse_error(idx_bytes(2051, {0xFFFFFFFF, 0x7FFFFFFF, 1}, {1}));
  CHECK(has(e, "truncated: header says 9223372030412324865 bytes of data, file has 1"));
  e = parse_error(idx_bytes(2051, {60000, 28, 28}, std::vector<uint8_t>(100)));
  CHECK(has(e, "header says 47040000 bytes of data, file has 100"));
  CHECK(cpu_allocation_count() == allocations);
}

TEST_CASE("idx: parse_images and parse_labels work on bytes, as the file readers do") {
  Tensor img = idx::parse_images(idx_bytes(2051, {1, 2, 2}, {1, 2, 3, 4}), "mem");
  CHECK(img.shape() == Shape{1, 2, 2});
  CHECK(img.to_vector<uint8_t>() == std::vector<uint8_t>{1, 2, 3, 4});
  Tensor lab = idx::parse_labels(idx_bytes(2049, {3}, {0, 9, 4}), "mem");
  CHECK(lab.dtype() == DType::i32);
  CHECK(lab.to_vector<int32_t>() == std::vector<int32_t>{0, 9, 4});
  // The errors name the given name, as the file readers name the path.
  CHECK(has(error_of([] { idx::parse_images(idx_bytes(2049, {1}, {0}), "mem.idx"); }),
            "mem.idx: expected an image file"));
  CHECK(has(error_of([] {
              idx::parse_labels(idx_bytes(2049, {2}, {1, 10}), "mem.idx");
            }),
            "mem.idx: label 10 at index 1 is out of range for 10 classes"));
  CHECK(has(error_of([] { idx::parse_labels(idx_bytes(2049, {1}, {0}), "mem.idx", 0); }),
            "num_classes must be > 0"));
}

TEST_CASE("idx: decode inflates gzip bytes and passes anything else through") {
  const std::vector<uint8_t> raw = idx_bytes(2049, {3}, {7, 8, 9});
  const std::string gz = idx::detail::gzip(tg::test::to_string(raw), "x");
  CHECK(idx::decode(tg::test::to_bytes(gz), "mem.gz") == raw);
  CHECK(idx::gunzip(tg::test::to_bytes(gz), "mem.gz") == raw);
  CHECK(idx::decode(raw, "mem") == raw);
  CHECK(idx::decode({}, "mem").empty());
  // gunzip insists on gzip; decode's size bound holds for bytes as for files.
  CHECK(has(error_of([&] { idx::gunzip(raw, "mem.idx.gz"); }), "mem.idx.gz: corrupt gzip data"));
  CHECK(has(error_of([&] { idx::decode(tg::test::to_bytes(gz), "mem.gz", 5); }),
            "mem.gz: inflates to more than the limit of 5 bytes"));
}
