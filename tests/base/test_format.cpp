// base/format.h: tg::bytes (the one byte-count formatter), and the number formatters it uses.
#include <doctest/doctest.h>

#include <cstdint>

#include "base/format.h"

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
