#include "reports/plot.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include "core/files.hpp"
#include "core/process.hpp"

namespace fs = std::filesystem;

namespace dlcm::reports {
namespace {

// A double-quoted gnuplot string: backslashes and quotes escaped (titles are plot_label()ed first).
std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

// A private directory for one figure, removed on scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "dlcm-plot-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary directory for gnuplot");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

bool usable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

}  // namespace

std::string plot_label(const std::string& text) {
  std::string out;
  for (unsigned char c : text)
    out += std::isalnum(c) || std::string_view(" .,:=_+-()/").find(static_cast<char>(c)) != std::string_view::npos
               ? static_cast<char>(c)
               : '_';
  return out;
}

std::string plot_svg(const Plot& p) {
  TempDir dir;
  std::string script = fmt::format(
      "set terminal svg size {},{} noenhanced font 'DejaVu Sans,11' background '#ffffff'\n"
      "set output {}\nset title {}\nset xlabel {}\nset ylabel {}\nset grid\nset key outside right top\n"
      "set format x '%g'\nset format y '%g'\n",
      p.width, p.height, quoted((dir.path / "out.svg").string()), quoted(plot_label(p.title)),
      quoted(plot_label(p.x_label)), quoted(plot_label(p.y_label)));
  if (p.log_x) script += "set logscale x\nset format x '%.0e'\n";
  if (p.log_y) script += "set logscale y\n";
  if (!p.x_tics.empty()) {
    std::string tics;
    for (const auto& [x, label] : p.x_tics) tics += fmt::format("{}{} {:.17g}", tics.empty() ? "" : ", ", quoted(plot_label(label)), x);
    script += "set xtics (" + tics + ")\n";
  }
  std::vector<std::string> clauses;
  for (std::size_t i = 0; i < p.series.size(); ++i) {
    const auto& s = p.series[i];
    const bool bars = s.style == "yerrorbars";
    std::string data;
    for (std::size_t k = 0; k < s.x.size(); ++k) {
      if (!usable(s.x[k], p.log_x) || !usable(s.y[k], p.log_y)) continue;
      data += fmt::format("{:.17g} {:.17g}", s.x[k], s.y[k]);
      if (bars) data += fmt::format(" {:.17g} {:.17g}", s.y_low.at(k), s.y_high.at(k));
      data += "\n";
    }
    if (data.empty()) continue;
    const auto file = dir.path / fmt::format("series-{}.dat", i);
    write_file_atomic(file.string(), data);
    clauses.push_back(fmt::format("{} using 1:2{} with {} title {}", quoted(file.string()), bars ? ":3:4" : "",
                                  s.style, quoted(plot_label(s.title))));
  }
  if (clauses.empty()) throw std::runtime_error(fmt::format("figure \"{}\" has no data to plot", p.title));
  script += "plot ";
  for (std::size_t i = 0; i < clauses.size(); ++i) script += (i ? ", \\\n  " : "") + clauses[i];
  script += "\n";
  const auto script_file = dir.path / "plot.gp";
  write_file_atomic(script_file.string(), script);
  const auto err = dir.path / "stderr.txt";  // what gnuplot says, quoted when it fails
  const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  pid_t pid = 0;
  const int started = spawn({"gnuplot", script_file.string()}, pid, {.err_fd = err_fd});
  if (err_fd >= 0) close(err_fd);
  if (started == ENOENT) throw std::runtime_error("gnuplot not found: install gnuplot-nox (scripts/setup.sh)");
  if (started != 0 || wait_exit(pid) != 0 || !fs::exists(dir.path / "out.svg")) {
    const std::string msg = started != 0 ? std::strerror(started) : fs::exists(err) ? read_file(err.string()) : "";
    throw std::runtime_error(fmt::format("gnuplot failed on figure \"{}\": {}", p.title, msg));
  }
  std::string svg = read_file((dir.path / "out.svg").string());
  // Inline SVG in HTML needs neither the XML prolog nor the namespace declarations (HTML parsers
  // place <svg> and xlink:href themselves), and the report must hold no URL at all.
  svg = svg.substr(std::min(svg.find("<svg"), svg.size()));
  svg = std::regex_replace(svg, std::regex(R"(\s+xmlns(:\w+)?="[^"]*")"), "");
  return svg;
}

}  // namespace dlcm::reports
