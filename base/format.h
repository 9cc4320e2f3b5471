// Numbers as text, the one way tapegrad writes them (messages, CSV, metadata, plots, flags).
//
//   tg::num(0.1)          -> "0.1"     shortest text that reads back to the same double
//   tg::num(1e-7)         -> "1e-07"
//   tg::fixed(0.98375, 4) -> "0.9838"  printf's %.4f
//   tg::sig(0.000123, 3)  -> "0.000123" printf's %.3g
//   tg::plural(1, "epoch") -> "1 epoch"; tg::plural(2, "epoch") -> "2 epochs"
//   tg::bytes(3565158)    -> "3.4 MiB"  a byte count in B, KiB, MiB, GiB, TiB, PiB or EiB
//
// Not-a-number is "nan" whatever its sign bit (printf writes "-nan" for some NaNs, which reads
// as if the sign meant something); infinities are "inf" and "-inf".
#pragma once

#include <cstdint>
#include <string>

namespace tg {

std::string num(double v);
std::string fixed(double v, int digits);
std::string sig(double v, int digits);
// A count and its noun: plural(1, "epoch") -> "1 epoch", plural(3, "epoch") -> "3 epochs",
// plural(2, "batch") -> "2 batches", plural(4, "epoch") -> "4 epochs" (English's -es after s,
// x, z, sh and tch; a bare ch is often /k/).
std::string plural(long long n, const std::string& noun);
// A byte count for people, in powers of 1024: below 1024 the exact count ("512 B"), above it
// one decimal in the largest unit that keeps the figure at least 1 ("1.5 KiB", "12.3 GiB",
// "8.0 EiB" for INT64_MAX). Negative counts keep their sign.
std::string bytes(int64_t n);

}  // namespace tg
