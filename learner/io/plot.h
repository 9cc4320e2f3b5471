// Line charts as standalone SVG 1.1 text, drawn by tapegrad itself (no plotting library): the
// trainer's --plot (loss per batch and per epoch, accuracy per epoch) and the LR finder's
// loss-against-lr curve (log x).
//
//   tg::Series train{"train_loss", {0, 1, 2}, {2.3, 1.1, 0.7}};
//   std::string svg = tg::svg_chart("loss", "epoch", "loss", {train});
//   tg::write_file_atomic("loss.svg", svg);
//
// Axes get "nice" ticks (1, 2, 5 times a power of ten; on a log axis, powers of ten; whole
// numbers only on an integer axis such as epochs), every series its own colour and a legend
// entry. The legend goes in the first corner of the plot box (top right, top left, bottom right,
// bottom left) that no curve passes through; when every corner is taken, the y axis grows
// headroom above the data for it, so it never covers a curve. Points that are NaN or infinite
// (or not positive on a log axis) are skipped: the line breaks there. A chart's note (why
// points are missing, say) is printed under its title. Text is escaped, so any title is safe.
//
// Heat maps (svg_heatmaps): a grid of cells coloured by value, the course's "colorful dimension"
// plot of activation histograms (x = batch, y = histogram bin, colour = log(1 + count)).
#pragma once

#include <string>
#include <vector>

namespace tg {

struct Series {
  std::string name;
  std::vector<double> x, y;  // of equal length
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_x = false, log_y = false;
  bool integer_x = false;  // ticks on whole numbers only (epochs, batches): 1, 2, 3, not 1.5
  std::string note = {};   // a line of small text under the title; "" for none
};

// A grid of values: columns[i][j] is the cell of column i (along x, left to right) and row j
// (along y, bottom to top, as imshow's origin="lower"). The columns split [x_lo, x_hi] into
// equal widths and the rows [y_lo, y_hi] into equal heights, so column i of n covers
// [x_lo + i (x_hi - x_lo) / n, x_lo + (i + 1) (x_hi - x_lo) / n]. Colours run through viridis
// from the smallest finite value (dark purple) to the largest (yellow); the note under the title
// says which values those are. Cells holding the smallest value are not drawn one by one: the
// plot box is filled with its colour (so a mostly empty histogram stays a small file); every
// other cell is one <rect class="cell">, a NaN or infinite one grey (class "cell missing").
struct HeatMap {
  std::string title, x_label, y_label;
  std::vector<std::vector<double>> columns;  // all of one length
  double x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  bool integer_x = false;  // whole-number ticks on x (batches)
  std::string note = {};   // put before the colour scale's note
};

// Several heat maps side by side (left to right) in one SVG document.
std::string svg_heatmaps(const std::vector<HeatMap>& maps);
// s with &, <, >, " and ' escaped: text safe inside SVG (or any XML) text and attributes.
std::string svg_escape(const std::string& s);
// The viridis colour of t in [0, 1] (clamped) as "#rrggbb": the heat maps' scale.
std::string viridis(double t);

// One chart as a whole SVG document.
std::string svg_chart(const std::string& title, const std::string& x_label,
                      const std::string& y_label, const std::vector<Series>& series,
                      bool log_x = false, bool log_y = false);
// Several charts side by side (left to right) in one SVG document.
std::string svg_panels(const std::vector<Chart>& charts);

}  // namespace tg
