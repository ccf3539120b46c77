#pragma once
// `dlcm report`: one self-contained HTML file about a sweep (docs/recommend.md "The report"). Every string
// that comes from the database goes through html_escape(); figures are gnuplot SVG, inlined.
#include <cstdint>
#include <string>
#include <vector>

#include "core/build_info.hpp"
#include "reports/positions.hpp"
#include "storage/sqlite.hpp"

namespace dlcm::reports {

// Text as HTML character data or attribute value: & < > " ' escaped, invalid UTF-8 and control
// characters (other than newline and tab) replaced by U+FFFD.
std::string html_escape(const std::string& text);

// How a trained run cut one sample text into concepts (from `dlcm inspect`).
struct Segmentation {
  std::string domain;
  std::vector<int> tokens;      // bytes
  std::vector<int> boundaries;  // 1 where a concept starts
};

struct ReportOptions {
  std::vector<double> budgets;   // recommendations to compute; empty: the stored ones, else 10x
  int replicates = 20;           // bootstrap replicates for intervals (frontier, recommendations)
  std::uint64_t seed = 0;
  int threads = 0;
  bool zero_offsets = false;     // fit the dlcm law with t_tok = t_con = t_data = 0 (much faster)
  std::string segmentation_run;  // label of the run the examples come from
  std::vector<Segmentation> segmentations;
  std::string segmentation_note; // why there are none
  PositionAnalysis positions;    // loss by position inside a concept (reports/positions.hpp)
  BuildInfo build;               // the binary writing the report (its footer)
};

// Throws naming the database when the sweep does not exist.
std::string render_report(storage::Database& db, const std::string& sweep, const ReportOptions& opt);

// The sample texts the report segments, one per corpus domain (DESIGN §7).
const std::vector<std::pair<std::string, std::string>>& segmentation_samples();

}  // namespace dlcm::reports
