#pragma once
// Figures for the report: gnuplot (Debian's gnuplot-nox, `svg` terminal) run as a subprocess on
// data and a script in a private temp directory; the SVG comes back ready to inline in HTML.
// Text from the database never reaches gnuplot raw: titles go through plot_label().
#include <string>
#include <utility>
#include <vector>

namespace dlcm::reports {

struct Series {
  std::string title;
  std::vector<double> x, y;
  std::vector<double> y_low, y_high;  // with style "yerrorbars"
  std::string style = "linespoints";  // points, lines, linespoints, yerrorbars
};

struct Plot {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  std::vector<std::pair<double, std::string>> x_tics;  // named tics at these x (default: numbered)
  std::vector<Series> series;
  int width = 640, height = 380;
};

inline Series series(std::string title, std::string style = "linespoints") {
  Series s;
  s.title = std::move(title);
  s.style = std::move(style);
  return s;
}
inline Plot plot(std::string title, std::string x_label, std::string y_label, bool log_x = false, bool log_y = false) {
  Plot p;
  p.title = std::move(title);
  p.x_label = std::move(x_label);
  p.y_label = std::move(y_label);
  p.log_x = log_x;
  p.log_y = log_y;
  return p;
}

// Keeps letters, digits, spaces and . , : = _ + - ( ) / of a label; anything else becomes '_'.
std::string plot_label(const std::string& text);

// Renders the plot; returns the <svg> element (no XML prolog, no namespace URLs). Series with no
// points are skipped; a plot with none left is an error. Throws with gnuplot's message on failure.
std::string plot_svg(const Plot& plot);

}  // namespace dlcm::reports
