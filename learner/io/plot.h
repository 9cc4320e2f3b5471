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

// One chart as a whole SVG document.
std::string svg_chart(const std::string& title, const std::string& x_label,
                      const std::string& y_label, const std::vector<Series>& series,
                      bool log_x = false, bool log_y = false);
// Several charts side by side (left to right) in one SVG document.
std::string svg_panels(const std::vector<Chart>& charts);

}  // namespace tg
