#pragma once
// dlcm sweep extend: from a sweep's completed runs, per family (the baseline; DLCM per target
// ratio) and per budget, whether the isoFLOP minimum is bracketed (fit_isoflop's parabola of loss
// in log N: >= 3 distinct sizes, curvature > 0, vertex inside the runs' N range), and for each
// budget that is not, runs on the missing side: the family's config at the extreme size with its
// width scaled (d_token; for DLCM d_token and d_concept together) so N steps beyond the range by
// the existing sizes' mean log-spacing, steps re-derived from the budget as the planner does.
// With `pin`, also runs for the compression-aware law's least-pinned parameters: the law is fitted
// to the sweep's law runs and bootstrapped, and each parameter the identification rules
// (fitting/identification.hpp) call unidentified (else the one with the widest interval against
// its rule) gets runs that move the quantity its term reads, from the best DLCM run of the largest
// budget: the backbone (d_concept ×½, ×2) for A_con/delta2/t_con, the compression ratio (R ×½, ×2)
// for gamma, the token width for A_tok/delta1/t_tok, the tokens (the same model at ⅓ and 3× the
// budget) for A_data/alpha/t_data, a 3× budget for E0. A proposal that is already a run of the
// sweep becomes its next seed: a replicate that halves what noise the fit must see through.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "fitting/fit.hpp"
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
  std::string family;
  std::string side;  // "small" / "large": brackets a budget; "pin": pins a law parameter
  std::string why;
  std::string from_label;  // the run whose config was scaled
  std::string hash, label;
  double budget = 0, N = 0, P = 0, R = 1, D = 0, C = 0, flops_per_token = 0;
  int64_t steps = 0;
  RunConfig cfg;
};

// How the law is pinned (the least-pinned parameters and the identification that named them).
struct PinTargets {
  std::vector<std::string> params;  // what the proposals pin
  bool unidentified = false;        // true: params are the unidentified ones; false: the widest interval
  std::string why;                  // the identification's reasons, or the widest interval
};

struct ExtendOptions {
  int per_side = 2;  // new sizes per missing side of an un-bracketed budget
  bool pin = false;  // also propose runs for the law's least-pinned parameters
  int bootstrap = 20;  // replicates of the law's identification (pin)
  std::uint64_t seed = 0;
  fitting::FitOptions fit;  // how the law is fitted (pin): as `dlcm fit` / `recommend` would
};

struct Extension {
  std::string sweep, spec_text, runs_dir;
  std::vector<BudgetCheck> checks;
  std::optional<PinTargets> pin;  // with ExtendOptions::pin
  std::vector<ExtendProposal> proposals;
  std::vector<std::string> notes;  // proposals that could not be made, and why
};

// Reads the sweep (reports::load_study) and its stored spec (for min/max steps, warmup, evals);
// opt.per_side new sizes for each missing side. Throws naming the sweep when it does not exist or its
// stored spec does not parse.
Extension plan_extension(storage::Database& db, const std::string& sweep, const ExtendOptions& opt = {});
// Registers the proposals into the sweep (storage::register_sweep with the sweep's stored spec
// text, origin "extend"; run_dir under the sweep's runs directory); they show as pending, and
// `sweep run` / `sweep submit` train them besides the spec's runs (sweeps::added_runs). Returns
// how many were new.
std::size_t apply_extension(storage::Database& db, const Extension& ext);
nlohmann::json to_json(const Extension& ext);

}  // namespace dlcm::reports
