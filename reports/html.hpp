#pragma once
// The report's HTML pieces, shared by its sections (report.cpp, positions.cpp).
#include <string>
#include <vector>

#include "reports/plot.hpp"

namespace dlcm::reports {

// A number with `digits` significant digits; "–" when not finite.
std::string num(double v, int digits = 4);
// The figure's inline SVG; a figure that failed (a fit that does not exist, gnuplot missing)
// becomes a visible note instead.
std::string figure(const Plot& p);
// A table of cells that are HTML already; row_classes[r] is row r's class, if any.
std::string table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows,
                  const std::vector<std::string>& row_classes = {});

}  // namespace dlcm::reports
