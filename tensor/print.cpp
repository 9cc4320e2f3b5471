// Printing, in PyTorch's layout: nested brackets, one row per line for 2-d and up (blank lines
// between 2-d blocks of a 3-d tensor), every element padded to one width, 4 decimals for
// floats (scientific when the magnitudes call for it), and "..." in place of the middle of
// any dim longer than 6 once the tensor has more than 1000 elements. Then shape, dtype and
// device, which PyTorch leaves out but a C++ reader cannot ask a REPL for.
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>

#include "tensor/tensor.h"

namespace tg {

namespace {

constexpr int64_t kThreshold = 1000;  // more elements than this: summarise
constexpr int64_t kEdge = 3;          // elements kept at each end of a summarised dim
constexpr int kLineWidth = 80;

struct Printer {
  std::vector<double> v;  // all elements, row-major
  Shape shape, strides;
  bool floating = true, sci = false, summarize = false;
  size_t width = 1;

  // Positions printed along a dim of size n: all, or the edges with -1 marking the "...".
  std::vector<int64_t> picks(int64_t n) const {
    std::vector<int64_t> p;
    const bool cut = summarize && n > 2 * kEdge;
    for (int64_t i = 0; i < n; ++i) {
      if (cut && i == kEdge) p.push_back(-1), i = n - kEdge;
      p.push_back(i);
    }
    return p;
  }

  std::string raw(double x) const {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    char buf[64];
    if (!floating)
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(x));
    else
      std::snprintf(buf, sizeof buf, sci ? "%.4e" : "%.4f", x);
    return buf;
  }
  std::string fmt(double x) const {
    std::string s = raw(x);
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
  }

  // Visits the printed elements (for the format decision and the width).
  template <typename F>
  void each(size_t d, int64_t base, F f) const {
    if (d == shape.size()) return f(v[base]);
    for (int64_t i : picks(shape[d]))
      if (i >= 0) each(d + 1, base + i * strides[d], f);
  }

  void decide() {
    double lo = INFINITY, hi = 0;
    each(0, 0, [&](double x) {
      if (std::isfinite(x) && x != 0)
        lo = std::min(lo, std::abs(x)), hi = std::max(hi, x < 0 ? -x : x);
    });
    sci = floating && hi > 0 && (hi / lo > 1000.0 || hi > 1e8 || lo < 1e-4);
    each(0, 0, [&](double x) { width = std::max(width, raw(x).size()); });
  }

  std::string block(size_t d, int64_t base, int indent) const {
    std::vector<std::string> parts;
    for (int64_t i : picks(shape[d])) {
      if (d + 1 == shape.size())
        parts.push_back(i < 0 ? " ..." : fmt(v[base + i]));
      else
        parts.push_back(i < 0 ? "..." : block(d + 1, base + i * strides[d], indent + 1));
    }
    std::string out = "[";
    if (d + 1 == shape.size()) {  // a row: as many elements per line as fit
      const size_t per_line = std::max<size_t>(1, (kLineWidth - indent) / (width + 2));
      const std::string wrap = std::string(",\n").append(indent + 1, ' ');
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i) out += i % per_line ? ", " : wrap;
        out += parts[i];
      }
    } else {
      const std::string sep =
          std::string(",").append(shape.size() - d - 1, '\n').append(indent + 1, ' ');
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i) out += sep;
        out += parts[i];
      }
    }
    return out + "]";
  }
};

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  Printer p;
  p.v = to_vector<double>();
  p.shape = shape();
  p.strides = contiguous_strides(p.shape);
  p.floating = is_floating(dtype());
  p.summarize = numel() > kThreshold;
  std::string body;
  if (numel() == 0) {
    body = "[]";
  } else if (dim() == 0) {
    p.decide();
    body = p.raw(p.v[0]);
  } else {
    p.decide();
    body = p.block(0, 0, static_cast<int>(std::string("tensor(").size()));
  }
  std::ostringstream os;
  os << "tensor(" << body << ", shape=" << shape_str() << ", dtype=" << dtype_name(dtype())
     << ", device=" << device().str();
  if (requires_grad()) os << ", requires_grad=true";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.str();
}

}  // namespace tg
