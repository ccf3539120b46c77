#pragma once
// μP learning-rate transfer (DESIGN §5): a grid of learning rates × widths, scaling the token side,
// the concept side or both, under each parametrisation, and the loss curves its runs leave; the
// optimal rate per width is fitted by fitting/lr_transfer.hpp. The runs go through the sweep
// machinery (run identity = config hash, so a re-run trains nothing twice). The spec is TOML:
//
//   name = "mup-transfer"
//   lrs = [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2]   # the grid (a constant ratio reads best)
//   token_widths = [64, 128, 256, 512]       # axis "token": d_token varies, d_concept = base
//   concept_widths = [128, 256, 512, 1024]   # axis "concept": d_concept varies, d_token = base
//   axes = ["token", "concept", "both"]      # "both": the two lists paired entry by entry
//   parametrisations = ["mup", "standard"]
//   rate = "all"                             # which base rate the grid sets: all (train.lr, every
//                                            # group; overrides in base cleared), token (lr_token),
//                                            # concept (lr_concept) or other (lr_other); the others
//                                            # stay as base sets them
//   steps = 100   seeds = [1]   warmup_fraction = 0.1   runs_dir = "runs/<name>"   max_attempts = 3
//   [base.model] / [base.boundary] / [base.train] / [base.data]   # as in a run config; the base
//                               # widths are base.model.d_token_base and d_concept_base
//
// Plain C++.
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "fitting/lr_transfer.hpp"
#include "storage/central.hpp"
#include "sweeps/spec.hpp"

namespace dlcm::sweeps {

struct LrTransferSpec {
  std::string name, path, text, runs_dir;
  std::vector<double> lrs;
  std::string rate = "all";  // all, token, concept, other
  std::vector<int> token_widths, concept_widths;
  std::vector<std::string> axes;
  std::vector<Parametrisation> parametrisations;
  int64_t steps = 100;
  std::vector<int64_t> seeds = {1};
  double warmup_fraction = 0.1;
  int max_attempts = 3;
  RunConfig base;
};

// Throws std::runtime_error naming the file and the key for bad input.
LrTransferSpec parse_lr_transfer_spec(const std::string& text, const std::string& path);
LrTransferSpec load_lr_transfer_spec(const std::string& path);

// One grid point of the study and the run (hash) that trains it; points of different axes that
// describe the same model (the base widths) share one run.
struct TransferPoint {
  Parametrisation parametrisation;
  std::string axis;
  int width_token = 0, width_concept = 0;
  double lr = 0;
  int64_t seed = 1;
  std::string hash;
};

struct TransferPlan {
  SweepSpec sweep;  // name, text, runs_dir and max_attempts for the launcher (no budgets)
  Plan plan;        // one run per distinct config
  std::vector<TransferPoint> points;
};

TransferPlan plan_lr_transfer(const LrTransferSpec& spec);

// Each grid width's curve from the study's stored runs (completed and diverged): at each rate the
// final validation loss averaged over seeds, or none with a note when a seed diverged or has not
// finished.
fitting::TransferCurves lr_transfer_curves(const LrTransferSpec& spec, const TransferPlan& plan,
                                           const std::vector<storage::RunRow>& rows);
// A sweep spec's `lr_from`: reads the newest stored lr-transfer study of that name (fitting::to_json),
// checks it measured every group's rate (rate "all") at the sweep's μP base widths, and sets every
// grid's lr (and lr_measured) to its μP optimum, rounded to 3 significant digits so labels stay
// readable.
// No-op without lr_from; throws naming the spec's key and the database when it cannot.
void resolve_lr_from(SweepSpec& spec, storage::Database& db);

}  // namespace dlcm::sweeps
