// The SVG chart writer: a well-formed standalone document, one path per series with distinct
// colours and legend entries, escaped text, skipped NaN/inf points, nice linear ticks, powers
// of ten on log axes, and panels side by side.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "learner/io/plot.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;

namespace {

size_t count(const std::string& s, const std::string& part) {
  size_t n = 0;
  for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + part.size())) ++n;
  return n;
}

// Well-formed enough: tags nest and close, attribute values are quoted, and text has no raw
// '<', and every '&' starts one of the five XML entities.
std::string xml_problem(const std::string& doc) {
  std::vector<std::string> open;
  size_t i = 0;
  while (i < doc.size()) {
    if (doc[i] == '&') {
      static const std::regex entity("^&(amp|lt|gt|quot|apos);");
      if (!std::regex_search(doc.substr(i, 8), entity)) return "bare & at " + std::to_string(i);
      ++i;
      continue;
    }
    if (doc[i] != '<') {
      ++i;
      continue;
    }
    size_t end = i + 1;
    char quote = 0;
    for (; end < doc.size(); ++end) {  // the tag's end, '>' inside quotes does not count
      if (quote) {
        if (doc[end] == quote) quote = 0;
        if (doc[end] == '<') return "'<' inside an attribute at " + std::to_string(end);
      } else if (doc[end] == '"' || doc[end] == '\'') {
        quote = doc[end];
      } else if (doc[end] == '>') {
        break;
      } else if (doc[end] == '<') {
        return "'<' inside a tag at " + std::to_string(end);
      }
    }
    if (end == doc.size()) return "unclosed tag at " + std::to_string(i);
    std::string tag = doc.substr(i + 1, end - i - 1);
    if (tag[0] == '?') {  // an XML declaration
    } else if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) return "mismatched </" + tag.substr(1);
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
    }
    i = end + 1;
  }
  return open.empty() ? "" : "unclosed <" + open.back();
}

// The texts of <text class="cls" ...>...</text> elements, in order.
std::vector<std::string> texts(const std::string& doc, const std::string& cls) {
  std::vector<std::string> out;
  const std::regex re("<text class=\"" + cls + "\"[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), re); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1]);
  return out;
}

std::vector<std::string> attr_values(const std::string& doc, const std::string& element,
                                     const std::string& attr) {
  std::vector<std::string> out;
  const std::regex re("<" + element + " [^>]*" + attr + "=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), re); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1]);
  return out;
}

Series line(const std::string& name, int n, double slope) {
  Series s{name, {}, {}};
  for (int i = 0; i < n; ++i) {
    s.x.push_back(i);
    s.y.push_back(1 + slope * i);
  }
  return s;
}

}  // namespace

TEST_CASE("plot: a chart is a well-formed standalone SVG 1.1 document") {
  std::string svg = svg_chart("loss", "batch", "loss", {line("train", 50, -0.01)});
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(has(svg, "xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK(has(svg, "version=\"1.1\""));
  CHECK(has(svg, "viewBox=\"0 0 "));
  CHECK(svg.size() >= 6);
  CHECK(svg.substr(svg.size() - 6) == "</svg>");
  CHECK(xml_problem(svg) == "");
  CHECK(texts(svg, "title") == std::vector<std::string>{"loss"});
  CHECK(texts(svg, "xlabel") == std::vector<std::string>{"batch"});
  CHECK(texts(svg, "ylabel") == std::vector<std::string>{"loss"});
}

TEST_CASE("plot: one path per series, each its own colour and legend entry") {
  std::vector<Series> many;
  auto name = [](int k) {  // not "s" + to_string(k): GCC 12's -Wrestrict misfires on it
    std::string n = "s";
    return n.append(std::to_string(k));
  };
  for (int k = 0; k < 13; ++k) many.push_back(line(name(k), 20, 0.1 * k));
  std::string svg = svg_chart("many", "x", "y", many);
  CHECK(count(svg, "<path") == 13);
  CHECK(count(svg, "<polyline") == 0);
  auto strokes = attr_values(svg, "path", "stroke");
  REQUIRE(strokes.size() == 13);
  CHECK(std::set<std::string>(strokes.begin(), strokes.end()).size() == 13);
  for (const auto& c : strokes) CHECK(std::regex_match(c, std::regex("#[0-9a-f]{6}")));
  auto legend = texts(svg, "legend");
  REQUIRE(legend.size() == 13);
  for (int k = 0; k < 13; ++k) CHECK(legend[k] == name(k));
  CHECK(xml_problem(svg) == "");
}

TEST_CASE("plot: titles, labels and series names are escaped") {
  std::string svg = svg_chart("a<b & c>d", "x \"quoted\"", "it's", {line("<loss & acc>", 3, 1)});
  CHECK(xml_problem(svg) == "");
  CHECK(has(svg, "a&lt;b &amp; c&gt;d"));
  CHECK(has(svg, "x &quot;quoted&quot;"));
  CHECK(has(svg, "it&apos;s"));
  CHECK(has(svg, "&lt;loss &amp; acc&gt;"));
  CHECK_FALSE(has(svg, "a<b"));
  CHECK_FALSE(has(svg, "<loss"));
}

TEST_CASE("plot: NaN and infinite points are skipped and break the line") {
  Series s{"gappy", {0, 1, 2, 3, 4, 5}, {1, NAN, 3, INFINITY, 5, 6}};
  std::string svg = svg_chart("gaps", "x", "y", {s, Series{"empty", {0, 1}, {NAN, NAN}}});
  CHECK(xml_problem(svg) == "");
  auto d = attr_values(svg, "path", "d");
  REQUIRE(d.size() == 1);        // the series with no finite point draws no path
  CHECK(count(d[0], "M") == 3);  // 0 | 2 | 4-5
  CHECK(count(d[0], "L") == 1);
  CHECK(count(svg, "<circle") == 4);  // a marker per drawn point of a short series
  CHECK_FALSE(has(svg, "nan"));
  CHECK_FALSE(has(svg, "inf"));
  CHECK(texts(svg, "legend") == std::vector<std::string>{"gappy", "empty"});
  // No usable point at all: still a valid document, saying so.
  std::string none = svg_chart("nothing", "x", "y", {Series{"e", {}, {}}});
  CHECK(xml_problem(none) == "");
  CHECK(has(none, "no data"));
  CHECK(count(none, "<path") == 0);
}

TEST_CASE("plot: linear ticks are evenly spaced nice numbers covering the data") {
  Series s{"acc", {1, 2, 3, 4, 5}, {0.13, 0.5, 0.71, 0.8, 0.87}};
  std::string svg = svg_chart("accuracy", "epoch", "accuracy", {s});
  for (const char* axis : {"xtick", "ytick"}) {
    auto labels = texts(svg, axis);
    REQUIRE(labels.size() >= 3);
    CHECK(labels.size() <= 12);
    std::vector<double> v;
    for (const auto& l : labels) v.push_back(std::strtod(l.c_str(), nullptr));
    const double step = v[1] - v[0];
    for (size_t i = 1; i < v.size(); ++i) CHECK(v[i] - v[i - 1] == doctest::Approx(step));
    const double mant = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    CHECK((std::abs(mant - 1) < 1e-9 || std::abs(mant - 2) < 1e-9 || std::abs(mant - 5) < 1e-9));
    const double lo = std::string(axis) == "xtick" ? 1 : 0.13;
    const double hi = std::string(axis) == "xtick" ? 5 : 0.87;
    CHECK(v.front() <= lo);
    CHECK(v.back() >= hi);
  }
  // A flat series still gets a range, and its labels have no "-0".
  std::string flat = svg_chart("flat", "x", "y", {Series{"c", {0, 1}, {0, 0}}});
  for (const auto& l : texts(flat, "ytick"))
    CHECK_FALSE(std::regex_match(l, std::regex("-0(\\.0*)?")));
  CHECK(texts(flat, "ytick").size() >= 3);
  // Fine and huge scales switch to %g with enough digits to keep the labels distinct.
  for (auto [lo, hi] :
       {std::pair{1.0000001, 1.0000009}, std::pair{2e9, 7e9}, std::pair{1e-9, 5e-9}}) {
    auto labels = texts(svg_chart("s", "x", "y", {Series{"v", {0, 1}, {lo, hi}}}), "ytick");
    CHECK(std::set<std::string>(labels.begin(), labels.end()).size() == labels.size());
    CHECK(labels.size() >= 3);
  }
}

TEST_CASE("plot: an integer x axis has whole-number ticks only") {
  for (int epochs : {1, 2, 3, 7, 40}) {
    Series s{"valid_loss", {}, {}};
    for (int e = 1; e <= epochs; ++e) s.x.push_back(e), s.y.push_back(1.0 / e);
    Chart c{"loss per epoch", "epoch", "loss", {s}};
    c.integer_x = true;
    const auto labels = texts(svg_panels({c}), "xtick");
    REQUIRE(labels.size() >= 2);
    for (const auto& l : labels)
      CHECK_MESSAGE(std::regex_match(l, std::regex("-?[0-9]+")), epochs, " epochs: tick ", l);
    CHECK(std::strtod(labels.front().c_str(), nullptr) <= 1);
    CHECK(std::strtod(labels.back().c_str(), nullptr) >= epochs);
  }
  // Without it, three epochs get halves (the default axis is for any real x).
  Series s{"v", {1, 2, 3}, {3, 2, 1}};
  const auto labels = texts(svg_chart("loss", "epoch", "loss", {s}), "xtick");
  CHECK(std::find(labels.begin(), labels.end(), "1.5") != labels.end());
}

namespace {

struct Rect {
  double x, y, w, h;
};

// The legend's frame: the first <rect> after the frame of the plot box (fill="none").
Rect legend_rect(const std::string& svg) {
  const std::regex re(
      "<rect x=\"([0-9.]+)\" y=\"([0-9.]+)\" width=\"([0-9.]+)\" height=\"([0-9.]+)\" "
      "fill=\"white\"");
  std::smatch m;
  REQUIRE(std::regex_search(svg, m, re));
  return {std::stod(m[1]), std::stod(m[2]), std::stod(m[3]), std::stod(m[4])};
}

// Whether any drawn segment of any path passes through r (sampled finely).
bool covers(const std::string& svg, const Rect& r) {
  for (const std::string& d : attr_values(svg, "path", "d")) {
    const std::regex pt("([ML])([0-9.]+) ([0-9.]+)");
    double px = 0, py = 0;
    for (auto it = std::sregex_iterator(d.begin(), d.end(), pt); it != std::sregex_iterator();
         ++it) {
      const double x = std::stod((*it)[2]), y = std::stod((*it)[3]);
      const bool draw = (*it)[1] == "L";
      for (int k = 0; k <= 400; ++k) {
        const double t = draw ? k / 400.0 : 1.0;
        const double sx = px + t * (x - px), sy = py + t * (y - py);
        if (sx > r.x && sx < r.x + r.w && sy > r.y && sy < r.y + r.h) return true;
      }
      px = x, py = y;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("plot: the legend never covers a curve") {
  // Rising to the top right: the legend leaves that corner.
  Series up{"accuracy", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}};
  std::string svg = svg_chart("up", "x", "y", {up});
  CHECK_FALSE(covers(svg, legend_rect(svg)));
  CHECK(legend_rect(svg).x < 200);  // the top left
  // Falling from the top left: the top right is free, the usual place.
  Series down{"loss", up.x, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}};
  svg = svg_chart("down", "x", "y", {down});
  CHECK_FALSE(covers(svg, legend_rect(svg)));
  CHECK(legend_rect(svg).x > 300);
  // Both diagonals: every corner is taken, so the y axis grows headroom for the legend.
  Series a{"a", {0, 10}, {0, 1}}, b{"b", {0, 10}, {1, 0}};
  svg = svg_chart("cross", "x", "y", {a, b});
  CHECK_FALSE(covers(svg, legend_rect(svg)));
  CHECK(std::strtod(texts(svg, "ytick").back().c_str(), nullptr) > 1);
  // A long noisy series that fills the box, the trainer's loss per batch.
  Series noisy{"train_loss", {}, {}};
  for (int i = 0; i < 900; ++i) noisy.x.push_back(i), noisy.y.push_back(1 + std::sin(i * 0.7));
  svg = svg_chart("noisy", "batch", "loss", {noisy});
  CHECK_FALSE(covers(svg, legend_rect(svg)));
  CHECK(xml_problem(svg) == "");
}

TEST_CASE("plot: a chart's note is printed under its title, escaped") {
  Chart c{"LR finder", "lr", "loss", {Series{"loss", {1, 2}, {1, 2}}}};
  c.note = "3 points not drawn (loss > 1.5 x start) & more";
  const std::string svg = svg_panels({c});
  REQUIRE(texts(svg, "note").size() == 1);
  CHECK(texts(svg, "note")[0] == "3 points not drawn (loss &gt; 1.5 x start) &amp; more");
  CHECK(xml_problem(svg) == "");
  CHECK(texts(svg_chart("t", "x", "y", {}), "note").empty());
}

TEST_CASE("plot: log axis ticks are powers of ten and skip non-positive values") {
  Series s{"loss", {}, {}};
  for (int i = 0; i <= 40; ++i) {
    s.x.push_back(1e-7 * std::pow(10.0, i * 8.0 / 40));  // 1e-7 .. 10
    s.y.push_back(2.3 - 0.01 * i);
  }
  s.x.push_back(0);  // not drawable on a log axis
  s.y.push_back(1);
  std::string svg = svg_chart("LR finder", "learning rate", "loss", {s}, true);
  CHECK(xml_problem(svg) == "");
  auto labels = texts(svg, "xtick");
  REQUIRE(labels.size() >= 2);
  std::vector<double> e;
  for (const auto& l : labels) {
    const double v = std::strtod(l.c_str(), nullptr);
    REQUIRE(v > 0);
    e.push_back(std::log10(v));
    CHECK(std::abs(e.back() - std::round(e.back())) < 1e-9);
  }
  CHECK(e.front() <= -7 + 1e-9);
  CHECK(e.back() >= 1 - 1e-9);
  CHECK(std::find(labels.begin(), labels.end(), "0.01") != labels.end());
  CHECK(std::find(labels.begin(), labels.end(), "1e-7") != labels.end());
  auto d = attr_values(svg, "path", "d");
  REQUIRE(d.size() == 1);
  CHECK(count(d[0], "M") == 1);
  CHECK(count(d[0], "L") == 40);  // 41 positive points; the x = 0 one is skipped
  // Both axes logarithmic.
  std::string both =
      svg_chart("both", "x", "y", {Series{"p", {1, 100}, {0.001, 1000}}}, true, true);
  for (const auto& l : texts(both, "ytick")) {
    const double v = std::log10(std::strtod(l.c_str(), nullptr));
    CHECK(std::abs(v - std::round(v)) < 1e-9);
  }
}

TEST_CASE("plot: svg_panels puts charts side by side in one document") {
  Chart loss{"loss", "epoch", "loss", {line("train_loss", 5, -0.1), line("valid_loss", 5, -0.08)}};
  Chart acc{"accuracy", "epoch", "accuracy", {line("valid_accuracy", 5, 0.05)}};
  std::string one = svg_panels({loss});
  std::string two = svg_panels({loss, acc});
  CHECK(xml_problem(two) == "");
  CHECK(count(two, "<svg") == 1);
  CHECK(count(two, "<path") == 3);
  CHECK(texts(two, "title") == std::vector<std::string>{"loss", "accuracy"});
  auto width = [](const std::string& svg) {
    std::smatch m;
    std::regex_search(svg, m, std::regex("<svg [^>]*width=\"([0-9.]+)\""));
    return std::strtod(m[1].str().c_str(), nullptr);
  };
  CHECK(width(two) == doctest::Approx(2 * width(one)));
  CHECK(has(two, "translate(" + std::to_string(static_cast<int>(width(one))) + ".00,0)"));
  CHECK(svg_chart("loss", "epoch", "loss", loss.series) == one);
}

TEST_CASE("plot: bad input is refused by name") {
  CHECK(has(error_of([] {
              svg_chart("t", "x", "y", {Series{"bad", {1, 2, 3}, {1, 2}}});
            }),
            "series 'bad' has 3 x values but 2 y values"));
  CHECK(has(error_of([] { svg_panels({}); }), "no charts"));
}

TEST_CASE("heat map: one cell per value above the smallest, placed by column and row") {
  // 3 columns (x in [0.5, 3.5], one per batch 1..3) of 2 rows (y in [0, 10]): the smallest
  // value, 0, is the background; the four others are cells. Plot box: x 72..544 (472 px, 157.33
  // per column), y 36..348 (312 px, 156 per row), row 0 at the bottom.
  HeatMap m{"layer 1", "batch", "|x|", {{0, 1}, {2, 0}, {0, 4}}, 0.5, 3.5, 0, 10, true};
  const std::string svg = svg_heatmaps({m});
  CHECK(xml_problem(svg) == "");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.substr(svg.size() - 6) == "</svg>");
  CHECK(count(svg, "<rect class=\"cell\"") == 3);
  CHECK(texts(svg, "title") == std::vector<std::string>{"layer 1"});
  CHECK(texts(svg, "note") == std::vector<std::string>{"colour 0 (dark) to 4 (bright)"});
  const std::regex cell(
      "<rect class=\"cell\" x=\"([0-9.]+)\" y=\"([0-9.]+)\" width=\"([0-9.]+)\" "
      "height=\"([0-9.]+)\" fill=\"(#[0-9a-f]{6})\"/>");
  std::vector<std::vector<std::string>> cells;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cell); it != std::sregex_iterator();
       ++it)
    cells.push_back({(*it)[1], (*it)[2], (*it)[3], (*it)[4], (*it)[5]});
  REQUIRE(cells.size() == 3);
  // Column-major order: (0, 1) = 1, (1, 0) = 2, (2, 1) = 4.
  CHECK(cells[0] == std::vector<std::string>{"72.00", "36.00", "157.33", "156.00", viridis(0.25)});
  CHECK(cells[1] == std::vector<std::string>{"229.33", "192.00", "157.33", "156.00", viridis(0.5)});
  CHECK(cells[2] == std::vector<std::string>{"386.67", "36.00", "157.33", "156.00", viridis(1)});
  CHECK(has(svg,
            "class=\"background\" x=\"72.00\" y=\"36.00\" width=\"472.00\" "
            "height=\"312.00\" fill=\"" +
                viridis(0) + "\""));
  // Integer x ticks inside [0.5, 3.5]: 1, 2, 3.
  CHECK(texts(svg, "xtick") == std::vector<std::string>{"1", "2", "3"});
}

TEST_CASE("heat map: viridis ends, NaN cells grey, panels side by side, bad input refused") {
  CHECK(viridis(0) == "#440154");
  CHECK(viridis(1) == "#fde725");
  CHECK(viridis(-3) == viridis(0));
  CHECK(viridis(7) == viridis(1));
  CHECK(viridis(std::nan("")) == viridis(0));
  HeatMap a{"a", "x", "y", {{1, std::nan("")}, {1, 1}}};
  HeatMap b{"b", "x", "y", {}};
  const std::string svg = svg_heatmaps({a, b});
  CHECK(xml_problem(svg) == "");
  CHECK(count(svg, "<rect class=\"cell missing\"") == 1);
  CHECK(count(svg, "<rect class=\"cell\"") == 0);  // every other value is the smallest
  CHECK(texts(svg, "title") == std::vector<std::string>{"a", "b"});
  CHECK(has(svg, "translate(560.00,0)"));
  CHECK(has(svg, "no data"));
  HeatMap ragged{"r", "x", "y", {{1, 2}, {3}}};
  CHECK(has(error_of([&] { svg_heatmaps({ragged}); }), "column 1 has 1 cells"));
  HeatMap flat{"f", "x", "y", {{1}}, 1, 1};
  CHECK(has(error_of([&] { svg_heatmaps({flat}); }), "x_lo < x_hi"));
  CHECK_THROWS_AS(svg_heatmaps({}), Error);
}
