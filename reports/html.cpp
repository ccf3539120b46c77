#include "reports/html.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "reports/report.hpp"

namespace dlcm::reports {

std::string num(double v, int digits) {
  return std::isfinite(v) ? fmt::format("{:.{}g}", v, digits) : std::string("–");
}

std::string figure(const Plot& p) {
  try {
    return "<figure>" + plot_svg(p) + "</figure>\n";
  } catch (const std::exception& e) {
    return fmt::format("<p class=note>Figure “{}” not drawn: {}</p>\n", html_escape(p.title), html_escape(e.what()));
  }
}

std::string table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows,
                  const std::vector<std::string>& row_classes) {
  std::string h = "<table><thead><tr>";
  for (const auto& c : head) h += "<th>" + c + "</th>";
  h += "</tr></thead><tbody>\n";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    h += r < row_classes.size() && !row_classes[r].empty() ? "<tr class=" + row_classes[r] + ">" : "<tr>";
    for (const auto& c : rows[r]) h += "<td>" + c + "</td>";
    h += "</tr>\n";
  }
  return h + "</tbody></table>\n";
}

}  // namespace dlcm::reports
