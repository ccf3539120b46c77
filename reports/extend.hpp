#pragma once
// dlcm sweep extend: from a sweep's completed runs, per family (the baseline; DLCM per target
// ratio) and per budget, whether the isoFLOP minimum is bracketed (fit_isoflop's parabola of loss
// in log N: >= 3 distinct sizes, curvature > 0, vertex inside the runs' N range), and for each
// budget that is not, runs on the missing side: the family's config at the extreme size with its
// width scaled (d_token; for DLCM d_token and d_concept together) so N steps beyond the range by
// the existing sizes' mean log-spacing, steps re-derived from the budget as the planner does.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "storage/central.hpp"

namespace dlcm::reports {

// One family at one budget.
struct BudgetCheck {
  std::string family;  // "baseline" or "dlcm R4"
  double budget = 0;
  std::size_t n_runs = 0, n_sizes = 0;
  double N_min = 0, N_max = 0;
  double N_opt = 0;        // the parabola's vertex; 0 when there is none
  bool bracketed = false;
  std::string side;        // missing side: "small", "large" or "both"; empty when bracketed
  std::string reason;      // why not bracketed (empty when bracketed)
};

struct ExtendProposal {
  std::string family, side, why;
  std::string from_label;  // the run whose config was scaled
  std::string hash, label;
  double budget = 0, N = 0, P = 0, R = 1, D = 0, C = 0, flops_per_token = 0;
  int64_t steps = 0;
  RunConfig cfg;
};

struct Extension {
  std::string sweep, spec_text, runs_dir;
  std::vector<BudgetCheck> checks;
  std::vector<ExtendProposal> proposals;
  std::vector<std::string> notes;  // proposals that could not be made, and why
};

// Reads the sweep (reports::load_study) and its stored spec (for min/max steps, warmup, evals);
// per_side new sizes for each missing side. Throws naming the sweep when it does not exist or its
// stored spec does not parse.
Extension plan_extension(storage::Database& db, const std::string& sweep, int per_side = 2);
// Registers the proposals into the sweep (storage::register_sweep with the sweep's stored spec
// text, origin "extend"; run_dir under the sweep's runs directory); they show as pending, and
// `sweep run` / `sweep submit` train them besides the spec's runs (sweeps::added_runs). Returns
// how many were new.
std::size_t apply_extension(storage::Database& db, const Extension& ext);
nlohmann::json to_json(const Extension& ext);

}  // namespace dlcm::reports
