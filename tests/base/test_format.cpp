// base/format.h: the one number formatter (messages, CSV, metadata, plots, flags) and
// tg::bytes, the one byte-count formatter.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "base/format.h"

TEST_CASE("format: num is the shortest text that reads back to the same double") {
  CHECK(tg::num(0.1) == "0.1");
  CHECK(tg::num(0.05) == "0.05");
  CHECK(tg::num(1e-7) == "1e-07");
  CHECK(tg::num(3) == "3");
  for (double v : {0.1, 1.0 / 3, 2.5e-300, 123456789.123, -0.7}) CHECK(std::stod(tg::num(v)) == v);
}

TEST_CASE("format: fixed and sig are printf's %.Nf and %.Ng") {
  CHECK(tg::fixed(0.98375, 4) == "0.9838");
  CHECK(tg::fixed(2, 2) == "2.00");
  CHECK(tg::sig(0.000123456, 3) == "0.000123");
  CHECK(tg::sig(1234567, 3) == "1.23e+06");
}

TEST_CASE("format: NaN is nan whatever its sign bit, infinities are inf and -inf") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (double v : {nan, -nan, std::copysign(nan, -1.0)}) {
    CHECK(tg::num(v) == "nan");
    CHECK(tg::fixed(v, 4) == "nan");
    CHECK(tg::sig(v, 3) == "nan");
  }
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(tg::num(inf) == "inf");
  CHECK(tg::fixed(-inf, 2) == "-inf");
}

TEST_CASE("format: plural counts a noun in English") {
  CHECK(tg::plural(1, "epoch") == "1 epoch");
  CHECK(tg::plural(4, "epoch") == "4 epochs");  // not "epoches": a /k/ ch
  CHECK(tg::plural(0, "epoch") == "0 epochs");
  CHECK(tg::plural(2, "batch") == "2 batches");
  CHECK(tg::plural(3, "point") == "3 points");
  CHECK(tg::plural(2, "pass") == "2 passes");
  CHECK(tg::plural(2, "box") == "2 boxes");
  CHECK(tg::plural(2, "mesh") == "2 meshes");
}

TEST_CASE("bytes: exact below 1 KiB, one decimal in the largest unit above") {
  CHECK(tg::bytes(0) == "0 B");
  CHECK(tg::bytes(1) == "1 B");
  CHECK(tg::bytes(1023) == "1023 B");
  CHECK(tg::bytes(1024) == "1.0 KiB");
  CHECK(tg::bytes(1536) == "1.5 KiB");
  CHECK(tg::bytes(3565158) == "3.4 MiB");  // 3.40 MiB
  CHECK(tg::bytes(int64_t{13207024435}) == "12.3 GiB");
  CHECK(tg::bytes(int64_t{5} << 40) == "5.0 TiB");
  CHECK(tg::bytes(int64_t{3} << 50) == "3.0 PiB");
}

TEST_CASE("bytes: a figure that rounds to 1024 moves up a unit") {
  CHECK(tg::bytes(1048575) == "1.0 MiB");  // 1023.999 KiB
  CHECK(tg::bytes(1048575 - 60 * 1024) == "964.0 KiB");
}

TEST_CASE("bytes: the ends of int64 and negative counts") {
  CHECK(tg::bytes(INT64_MAX) == "8.0 EiB");
  CHECK(tg::bytes(INT64_MIN) == "-8.0 EiB");
  CHECK(tg::bytes(-2048) == "-2.0 KiB");
  CHECK(tg::bytes(-5) == "-5 B");
}

TEST_CASE("fixed, sig and num as bytes uses them") {
  CHECK(tg::fixed(12.34, 1) == "12.3");
  CHECK(tg::sig(0.000123, 3) == "0.000123");
  CHECK(tg::num(0.1) == "0.1");
}
