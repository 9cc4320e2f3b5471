// base/format.h: the one number formatter (messages, CSV, metadata, plots, flags).
#include <doctest/doctest.h>

#include <cmath>
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
