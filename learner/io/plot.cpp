// SVG line charts: each panel maps its data onto a fixed plot box through an axis (linear or
// log10) whose range is widened to "nice" tick values, then draws grid, frame, one <path> per
// series (broken at skipped points), markers for short series, labels and a legend. A heat
// map panel uses the same axes, frame and labels around a grid of coloured rectangles.
#include "learner/io/plot.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include "base/error.h"
#include "base/format.h"

namespace tg {

namespace {

constexpr double kW = 560, kH = 400;                                // one panel
constexpr double kLeft = 72, kRight = 16, kTop = 36, kBottom = 52;  // margins of the plot box
constexpr size_t kMarkersUpTo = 30;  // series this short get a dot per point

std::string esc(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += (c < 0x20 && c != '\t') ? '?' : static_cast<char>(c);  // not XML 1.0
    }
  }
  return out;
}

std::string px(double v) {
  return fixed(v, 2);
}

// tab10, then hues a golden angle apart: distinct colours for any number of series.
std::string colour(size_t i) {
  static const char* tab10[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  if (i < 10) return tab10[i];
  const double h = std::fmod(static_cast<double>(i) * 137.508, 360.0) / 60, s = 0.65, l = 0.45;
  const double c = (1 - std::abs(2 * l - 1)) * s, x = c * (1 - std::abs(std::fmod(h, 2) - 1));
  double r = 0, g = 0, b = 0;
  switch (static_cast<int>(h)) {
    case 0:
      r = c, g = x;
      break;
    case 1:
      r = x, g = c;
      break;
    case 2:
      g = c, b = x;
      break;
    case 3:
      g = x, b = c;
      break;
    case 4:
      r = x, b = c;
      break;
    default:
      r = c, b = x;
      break;
  }
  const double m = l - c / 2;
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>((r + m) * 255 + 0.5),
                static_cast<int>((g + m) * 255 + 0.5), static_cast<int>((b + m) * 255 + 0.5));
  return buf;
}

// An axis in "transformed" units (log10 of the value on a log axis).
struct Axis {
  bool log = false;
  double lo = 0, hi = 1;
  std::vector<double> ticks;  // transformed
  std::vector<std::string> labels;
  double step = 1;                           // between ticks (transformed)
  std::function<std::string(double)> label;  // a tick's text
  double t(double v) const { return log ? std::log10(v) : v; }
  // One more tick above the top, for headroom.
  void grow() {
    hi += step;
    ticks.push_back(hi);
    labels.push_back(label(hi));
  }
  double frac(double v) const { return (t(v) - lo) / (hi - lo); }
};

double nice_step(double raw) {
  const double e = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / e;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e;
}

// integer: the step is a whole number (1, 2, 5, 10, ...), so every label is one.
Axis linear_axis(double min, double max, bool any, bool integer = false) {
  Axis a;
  if (!any) min = 0, max = 1;
  if (min == max) {
    const double pad = integer ? 1 : min == 0 ? 1 : std::abs(min) * 0.1;
    min -= pad, max += pad;
  }
  const double step =
      integer ? std::max(1.0, nice_step((max - min) / 5)) : nice_step((max - min) / 5);
  a.lo = std::floor(min / step) * step;
  a.hi = std::ceil(max / step) * step;
  const int n = static_cast<int>(std::lround((a.hi - a.lo) / step));
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  // Fixed decimals enough to tell ticks apart; %g for very large or very fine scales, with
  // as many significant digits as the step needs (1.0000001 vs 1.0000002).
  const double mag = std::max(std::abs(a.lo), std::abs(a.hi));
  const bool sci = decimals > 6 || mag >= 1e6;
  const int digits = std::max(3, static_cast<int>(std::ceil(std::log10(mag / step))) + 1);
  a.step = step;
  a.label = [sci, digits, decimals](double v) { return sci ? sig(v, digits) : fixed(v, decimals); };
  for (int k = 0; k <= n; ++k) {
    double v = a.lo + k * step;
    if (std::abs(v) < step * 1e-9) v = 0;  // no "-0.00"
    a.ticks.push_back(v);
    a.labels.push_back(a.label(v));
  }
  return a;
}

std::string power_of_ten(int e) {
  std::string s;
  if (e >= 0 && e <= 4) return s.append("1").append(e, '0');
  if (e < 0 && e >= -3) return s.append("0.").append(-e - 1, '0').append("1");
  return s.append("1e").append(std::to_string(e));
}

Axis log_axis(double min, double max, bool any) {
  Axis a;
  a.log = true;
  if (!any) min = 1, max = 10;
  int lo = static_cast<int>(std::floor(std::log10(min)));
  int hi = static_cast<int>(std::ceil(std::log10(max)));
  if (hi == lo) ++hi;
  const int stride = (hi - lo + 7) / 8;  // at most ~8 labelled decades
  hi = lo + (hi - lo + stride - 1) / stride * stride;
  a.lo = lo, a.hi = hi;
  a.step = stride;
  a.label = [](double e) { return power_of_ten(static_cast<int>(std::lround(e))); };
  for (int e = lo; e <= hi; e += stride) {
    a.ticks.push_back(e);
    a.labels.push_back(power_of_ten(e));
  }
  return a;
}

bool usable(double x, double y, const Chart& c) {
  return std::isfinite(x) && std::isfinite(y) && (!c.log_x || x > 0) && (!c.log_y || y > 0);
}

// A rectangle in pixels.
struct Box {
  double x0, y0, x1, y1;
};

// Whether the segment (x0, y0)-(x1, y1) meets the box (Liang-Barsky clipping); a point is a
// segment of length 0.
bool segment_hits(const Box& b, double x0, double y0, double x1, double y1) {
  double t0 = 0, t1 = 1;
  const double dx = x1 - x0, dy = y1 - y0;
  const double p[4] = {-dx, dx, -dy, dy}, q[4] = {x0 - b.x0, b.x1 - x0, y0 - b.y0, b.y1 - y0};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    const double r = q[i] / p[i];
    if (p[i] < 0)
      t0 = std::max(t0, r);
    else
      t1 = std::min(t1, r);
    if (t0 > t1) return false;
  }
  return true;
}

// The legend's box: the first corner of the plot box (top right, top left, bottom right,
// bottom left) that no drawn segment or point comes within a few pixels of; when none is free,
// the y axis grows a tick at a time (headroom above the data) until the top corners are.
template <typename FX, typename FY>
Box place_legend(const Chart& c, const Axis& ax, Axis& ay, FX X, FY Y) {
  if (c.series.empty()) return {0, 0, 0, 0};
  size_t longest = 0;
  for (const Series& s : c.series) longest = std::max(longest, s.name.size());
  const double w = 34 + 6.5 * static_cast<double>(longest), h = 8 + 16.0 * c.series.size();
  const double bx0 = kLeft, bx1 = kW - kRight, by0 = kTop, by1 = kH - kBottom, m = 8, pad = 4;
  auto clear = [&](const Box& b) {
    const Box g{b.x0 - pad, b.y0 - pad, b.x1 + pad, b.y1 + pad};
    for (const Series& s : c.series) {
      bool have = false;
      double px0 = 0, py0 = 0;
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!usable(s.x[i], s.y[i], c)) {
          have = false;
          continue;
        }
        const double x = X(ax.t(s.x[i])), y = Y(ay.t(s.y[i]));
        if (segment_hits(g, have ? px0 : x, have ? py0 : y, x, y)) return false;
        px0 = x, py0 = y, have = true;
      }
    }
    return true;
  };
  const Box corners[4] = {{bx1 - m - w, by0 + m, bx1 - m, by0 + m + h},
                          {bx0 + m, by0 + m, bx0 + m + w, by0 + m + h},
                          {bx1 - m - w, by1 - m - h, bx1 - m, by1 - m},
                          {bx0 + m, by1 - m - h, bx0 + m + w, by1 - m}};
  for (const Box& b : corners)
    if (clear(b)) return b;
  for (int grown = 0; grown < 16; ++grown) {
    ay.grow();
    for (int k = 0; k < 2; ++k)
      if (clear(corners[k])) return corners[k];
  }
  return corners[0];
}

void panel(std::ostringstream& os, const Chart& c, double ox) {
  bool any = false;
  double x_min = 0, x_max = 0, y_min = 0, y_max = 0;
  for (const Series& s : c.series) {
    TG_CHECK(s.x.size() == s.y.size(), "svg_chart", "series '", s.name, "' has ", s.x.size(),
             " x values but ", s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s.x[i], s.y[i], c)) continue;
      if (!any) x_min = x_max = s.x[i], y_min = y_max = s.y[i];
      x_min = std::min(x_min, s.x[i]), x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]), y_max = std::max(y_max, s.y[i]);
      any = true;
    }
  }
  const Axis ax =
      c.log_x ? log_axis(x_min, x_max, any) : linear_axis(x_min, x_max, any, c.integer_x);
  Axis ay = c.log_y ? log_axis(y_min, y_max, any) : linear_axis(y_min, y_max, any);
  const double bx0 = kLeft, bx1 = kW - kRight, by0 = kTop, by1 = kH - kBottom;
  auto X = [&](double t) { return bx0 + (t - ax.lo) / (ax.hi - ax.lo) * (bx1 - bx0); };
  auto Y = [&](double t) { return by1 - (t - ay.lo) / (ay.hi - ay.lo) * (by1 - by0); };
  const Box legend = place_legend(c, ax, ay, X, Y);

  os << "<g transform=\"translate(" << px(ox) << ",0)\" font-family=\"sans-serif\">\n";
  os << "<text class=\"title\" x=\"" << px(kW / 2)
     << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << esc(c.title) << "</text>\n";
  if (!c.note.empty())
    os << "<text class=\"note\" x=\"" << px(kW / 2)
       << "\" y=\"33\" text-anchor=\"middle\" font-size=\"10\" fill=\"#666\">" << esc(c.note)
       << "</text>\n";
  // Grid and tick labels.
  for (size_t i = 0; i < ax.ticks.size(); ++i) {
    const std::string x = px(X(ax.ticks[i]));
    os << "<line x1=\"" << x << "\" y1=\"" << px(by0) << "\" x2=\"" << x << "\" y2=\"" << px(by1)
       << "\" stroke=\"#e0e0e0\"/>\n<text class=\"xtick\" x=\"" << x << "\" y=\"" << px(by1 + 16)
       << "\" text-anchor=\"middle\" font-size=\"11\">" << ax.labels[i] << "</text>\n";
  }
  for (size_t i = 0; i < ay.ticks.size(); ++i) {
    const std::string y = px(Y(ay.ticks[i]));
    os << "<line x1=\"" << px(bx0) << "\" y1=\"" << y << "\" x2=\"" << px(bx1) << "\" y2=\"" << y
       << "\" stroke=\"#e0e0e0\"/>\n<text class=\"ytick\" x=\"" << px(bx0 - 6) << "\" y=\""
       << px(Y(ay.ticks[i]) + 4) << "\" text-anchor=\"end\" font-size=\"11\">" << ay.labels[i]
       << "</text>\n";
  }
  os << "<rect x=\"" << px(bx0) << "\" y=\"" << px(by0) << "\" width=\"" << px(bx1 - bx0)
     << "\" height=\"" << px(by1 - by0) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  os << "<text class=\"xlabel\" x=\"" << px((bx0 + bx1) / 2) << "\" y=\"" << px(kH - 12)
     << "\" text-anchor=\"middle\" font-size=\"12\">" << esc(c.x_label) << "</text>\n";
  os << "<text class=\"ylabel\" transform=\"translate(16," << px((by0 + by1) / 2)
     << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" << esc(c.y_label) << "</text>\n";
  if (!any)
    os << "<text x=\"" << px((bx0 + bx1) / 2) << "\" y=\"" << px((by0 + by1) / 2)
       << "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#888\">no data</text>\n";

  // The series: one path each, a new "M" after every skipped point.
  for (size_t k = 0; k < c.series.size(); ++k) {
    const Series& s = c.series[k];
    std::string d, dots;
    bool pen_down = false;
    size_t n = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s.x[i], s.y[i], c)) {
        pen_down = false;
        continue;
      }
      const std::string x = px(X(ax.t(s.x[i]))), y = px(Y(ay.t(s.y[i])));
      d.append(d.empty() ? "" : " ").append(pen_down ? "L" : "M").append(x).append(" ").append(y);
      dots.append("<circle cx=\"").append(x).append("\" cy=\"").append(y).append("\" r=\"2.5\"/>");
      pen_down = true;
      ++n;
    }
    if (n == 0) continue;
    os << "<path class=\"series\" d=\"" << d << "\" fill=\"none\" stroke=\"" << colour(k)
       << "\" stroke-width=\"1.6\" stroke-linejoin=\"round\" stroke-linecap=\"round\"/>\n";
    if (n <= kMarkersUpTo) os << "<g fill=\"" << colour(k) << "\">" << dots << "</g>\n";
  }

  // Legend, in the corner place_legend chose.
  if (!c.series.empty()) {
    const double lx = legend.x0, ly = legend.y0, w = legend.x1 - lx, h = legend.y1 - ly;
    os << "<rect x=\"" << px(lx) << "\" y=\"" << px(ly) << "\" width=\"" << px(w) << "\" height=\""
       << px(h) << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n";
    for (size_t k = 0; k < c.series.size(); ++k) {
      const double y = ly + 14 + 16.0 * k;
      os << "<line x1=\"" << px(lx + 6) << "\" y1=\"" << px(y - 4) << "\" x2=\"" << px(lx + 24)
         << "\" y2=\"" << px(y - 4) << "\" stroke=\"" << colour(k) << "\" stroke-width=\"2\"/>"
         << "<text class=\"legend\" x=\"" << px(lx + 28) << "\" y=\"" << px(y)
         << "\" font-size=\"11\">" << esc(c.series[k].name) << "</text>\n";
    }
  }
  os << "</g>\n";
}

// The frame, grid, ticks and labels every panel has, around the plot box.
void frame(std::ostringstream& os, const std::string& title, const std::string& note,
           const std::string& x_label, const std::string& y_label, const Axis& ax, const Axis& ay,
           const std::function<double(double)>& X, const std::function<double(double)>& Y,
           bool grid) {
  const double bx0 = kLeft, bx1 = kW - kRight, by0 = kTop, by1 = kH - kBottom;
  os << "<text class=\"title\" x=\"" << px(kW / 2)
     << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << esc(title) << "</text>\n";
  if (!note.empty())
    os << "<text class=\"note\" x=\"" << px(kW / 2)
       << "\" y=\"33\" text-anchor=\"middle\" font-size=\"10\" fill=\"#666\">" << esc(note)
       << "</text>\n";
  const char* stroke = grid ? "#e0e0e0" : "#333";
  for (size_t i = 0; i < ax.ticks.size(); ++i) {
    const double xv = X(ax.ticks[i]);
    if (xv < bx0 - 0.01 || xv > bx1 + 0.01) continue;
    const std::string x = px(xv);
    os << "<line x1=\"" << x << "\" y1=\"" << px(grid ? by0 : by1) << "\" x2=\"" << x << "\" y2=\""
       << px(grid ? by1 : by1 + 4) << "\" stroke=\"" << stroke << "\"/>\n<text class=\"xtick\" x=\""
       << x << "\" y=\"" << px(by1 + 16) << "\" text-anchor=\"middle\" font-size=\"11\">"
       << ax.labels[i] << "</text>\n";
  }
  for (size_t i = 0; i < ay.ticks.size(); ++i) {
    const double yv = Y(ay.ticks[i]);
    if (yv < by0 - 0.01 || yv > by1 + 0.01) continue;
    const std::string y = px(yv);
    os << "<line x1=\"" << px(grid ? bx0 : bx0 - 4) << "\" y1=\"" << y << "\" x2=\""
       << px(grid ? bx1 : bx0) << "\" y2=\"" << y << "\" stroke=\"" << stroke
       << "\"/>\n<text class=\"ytick\" x=\"" << px(bx0 - 6) << "\" y=\"" << px(yv + 4)
       << "\" text-anchor=\"end\" font-size=\"11\">" << ay.labels[i] << "</text>\n";
  }
  os << "<text class=\"xlabel\" x=\"" << px((bx0 + bx1) / 2) << "\" y=\"" << px(kH - 12)
     << "\" text-anchor=\"middle\" font-size=\"12\">" << esc(x_label) << "</text>\n";
  os << "<text class=\"ylabel\" transform=\"translate(16," << px((by0 + by1) / 2)
     << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" << esc(y_label) << "</text>\n";
}

// A linear axis over exactly [lo, hi]: nice ticks inside it, none outside, so the cells fill
// the whole plot box.
Axis exact_axis(double lo, double hi, bool integer) {
  Axis a = linear_axis(lo, hi, true, integer);
  a.lo = lo, a.hi = hi;
  return a;
}

void heat_panel(std::ostringstream& os, const HeatMap& m, double ox) {
  TG_CHECK(std::isfinite(m.x_lo) && std::isfinite(m.x_hi) && m.x_lo < m.x_hi &&
               std::isfinite(m.y_lo) && std::isfinite(m.y_hi) && m.y_lo < m.y_hi,
           "svg_heatmaps", "'", m.title, "': needs finite x_lo < x_hi and y_lo < y_hi, got x [",
           m.x_lo, ", ", m.x_hi, "], y [", m.y_lo, ", ", m.y_hi, "]");
  const size_t cols = m.columns.size(), rows = cols ? m.columns[0].size() : 0;
  bool any = false;
  double lo = 0, hi = 0;
  for (size_t i = 0; i < cols; ++i) {
    TG_CHECK(m.columns[i].size() == rows, "svg_heatmaps", "'", m.title, "': column ", i, " has ",
             m.columns[i].size(), " cells, column 0 has ", rows);
    for (double v : m.columns[i]) {
      if (!std::isfinite(v)) continue;
      if (!any) lo = hi = v;
      lo = std::min(lo, v), hi = std::max(hi, v);
      any = true;
    }
  }
  const Axis ax = exact_axis(m.x_lo, m.x_hi, m.integer_x), ay = exact_axis(m.y_lo, m.y_hi, false);
  const double bx0 = kLeft, bx1 = kW - kRight, by0 = kTop, by1 = kH - kBottom;
  std::function<double(double)> X = [&](double t) {
    return bx0 + (t - ax.lo) / (ax.hi - ax.lo) * (bx1 - bx0);
  };
  std::function<double(double)> Y = [&](double t) {
    return by1 - (t - ay.lo) / (ay.hi - ay.lo) * (by1 - by0);
  };
  auto shade = [&](double v) { return viridis(hi > lo ? (v - lo) / (hi - lo) : 0); };
  std::string note = m.note;
  if (any)
    note.append(note.empty() ? "" : "; ")
        .append("colour ")
        .append(sig(lo, 3))
        .append(" (dark) to ")
        .append(sig(hi, 3))
        .append(" (bright)");

  os << "<g transform=\"translate(" << px(ox) << ",0)\" font-family=\"sans-serif\">\n";
  os << "<rect class=\"background\" x=\"" << px(bx0) << "\" y=\"" << px(by0) << "\" width=\""
     << px(bx1 - bx0) << "\" height=\"" << px(by1 - by0) << "\" fill=\""
     << (any ? shade(lo) : "#ffffff") << "\"/>\n";
  const double cw = (bx1 - bx0) / static_cast<double>(std::max<size_t>(cols, 1));
  const double ch = (by1 - by0) / static_cast<double>(std::max<size_t>(rows, 1));
  for (size_t i = 0; i < cols; ++i)
    for (size_t j = 0; j < rows; ++j) {
      const double v = m.columns[i][j];
      if (std::isfinite(v) && v == lo) continue;  // the background's colour
      os << "<rect class=\"cell" << (std::isfinite(v) ? "" : " missing") << "\" x=\""
         << px(bx0 + cw * static_cast<double>(i)) << "\" y=\""
         << px(by1 - ch * static_cast<double>(j + 1)) << "\" width=\"" << px(cw) << "\" height=\""
         << px(ch) << "\" fill=\"" << (std::isfinite(v) ? shade(v) : "#bbbbbb") << "\"/>\n";
    }
  frame(os, m.title, note, m.x_label, m.y_label, ax, ay, X, Y, /*grid=*/false);
  os << "<rect x=\"" << px(bx0) << "\" y=\"" << px(by0) << "\" width=\"" << px(bx1 - bx0)
     << "\" height=\"" << px(by1 - by0) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  if (cols == 0 || rows == 0)
    os << "<text x=\"" << px((bx0 + bx1) / 2) << "\" y=\"" << px((by0 + by1) / 2)
       << "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#888\">no data</text>\n";
  os << "</g>\n";
}

}  // namespace

std::string svg_escape(const std::string& s) {
  return esc(s);
}

std::string viridis(double t) {
  // matplotlib's viridis at 0, 1/8, ..., 1; linear in between.
  static const int stops[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                  {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                  {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
  if (!(t > 0)) t = 0;  // NaN too
  if (t > 1) t = 1;
  const double f = t * 8;
  const int k = std::min(7, static_cast<int>(f));
  const double u = f - k;
  char buf[8];
  int c[3];
  for (int i = 0; i < 3; ++i)
    c[i] = static_cast<int>(std::lround(stops[k][i] + u * (stops[k + 1][i] - stops[k][i])));
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c[0], c[1], c[2]);
  return buf;
}

std::string svg_heatmaps(const std::vector<HeatMap>& maps) {
  TG_CHECK(!maps.empty(), "svg_heatmaps", "no heat maps given");
  const double width = kW * static_cast<double>(maps.size());
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" << px(width)
     << "\" height=\"" << px(kH) << "\" viewBox=\"0 0 " << px(width) << " " << px(kH) << "\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t i = 0; i < maps.size(); ++i) heat_panel(os, maps[i], kW * static_cast<double>(i));
  os << "</svg>";
  return os.str();
}

std::string svg_panels(const std::vector<Chart>& charts) {
  TG_CHECK(!charts.empty(), "svg_panels", "no charts given");
  const double width = kW * static_cast<double>(charts.size());
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" << px(width)
     << "\" height=\"" << px(kH) << "\" viewBox=\"0 0 " << px(width) << " " << px(kH) << "\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t i = 0; i < charts.size(); ++i) panel(os, charts[i], kW * static_cast<double>(i));
  os << "</svg>";  // no newline after: the document ends with its root element
  return os.str();
}

std::string svg_chart(const std::string& title, const std::string& x_label,
                      const std::string& y_label, const std::vector<Series>& series, bool log_x,
                      bool log_y) {
  return svg_panels({Chart{title, x_label, y_label, series, log_x, log_y}});
}

}  // namespace tg
