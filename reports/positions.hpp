#pragma once
// The report's "Loss by position inside a concept" section (issue 18, analysis 1). The CLI runs
// the analysis (train/positions.hpp, LibTorch) on the runs chosen here and passes the result
// (core/concept_positions.hpp) in: the report library itself never links LibTorch, and nothing is
// stored in the database.
#include <optional>
#include <string>

#include "core/concept_positions.hpp"
#include "reports/recommend.hpp"
#include "storage/central.hpp"

namespace dlcm::reports {

// What the section shows: the study's best completed DLCM run, against its matched-compute baseline.
struct PositionAnalysis {
  std::string run_label, baseline_label;   // baseline_label empty: no baseline
  std::optional<PositionLoss> result;
  std::string note = "none was given";     // why there is no result (or no baseline)
};

// The study's DLCM run for the analysis (the best completed one, Study::proxy), when it has one.
std::optional<storage::RunRow> position_run(const Study& study);
// Matched compute: the completed baseline run of `dlcm`'s planned budget (the same training FLOPs)
// with the lowest final validation loss, i.e. the baseline's best use of that compute.
std::optional<storage::RunRow> matched_baseline(const Study& study, const storage::RunRow& dlcm);

std::string position_section(const PositionAnalysis& a);

}  // namespace dlcm::reports
