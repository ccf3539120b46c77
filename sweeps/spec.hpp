#pragma once
// A sweep: one study described once (DESIGN §6). The spec is TOML:
//
//   name = "demo"
//   budgets = [3e11, 1e12, 3e12]        # training FLOPs per run
//   [grid]                               # every combination is a candidate run per budget
//   d_token = [64]        baseline_layers = [4]       # R = 1 runs: the plain stack
//   d_concept = [96, 192] concept_layers = [2]  encoder_layers = [1]  decoder_layers = [1]
//   ratio = [1, 2, 4]     seed = [1]  lr = [3e-3]
//   boundary_mode = ["global", "sequence"]  # optional: the DLCM boundary predictors ([base.boundary] mode)
//   pair = ["d_token", "d_concept"]      # optional: these lists are zipped (equal lengths), not crossed
//   concept_width_mult = [1, 2]          # optional, instead of d_concept: d_concept = mult·d_token
//   tokens_per_param = [20, 200]         # optional: keep runs whose planned D/N is in [lo, hi]
//   [grid.per_budget."1e12"]             # optional: lists (or the band) replaced at that budget
//   [base.model] / [base.boundary] / [base.train] / [base.data]   # fixed settings, as in a run config
//   lr_from = "demo-lr"                  # optional, instead of grid lr: the μP base rate measured by
//                                        # the stored lr-transfer study of that name (resolve_lr_from)
//   baselines_in_law = true              # optional: the dlcm law's fits take the baselines as P = 0
//
// Plain C++: planning needs no LibTorch.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"

namespace dlcm::sweeps {

struct Grid {
  std::vector<int> d_token, baseline_layers, d_concept, concept_layers, encoder_layers, decoder_layers;
  std::vector<double> ratio, lr;
  std::vector<int64_t> seed;
  std::vector<std::string> boundary_mode;  // DLCM boundary predictors: global, sequence, fixed
  // When not empty, the concept width axis is given as multiples of d_token (replacing d_concept):
  // d_concept = mult·d_token, which must be a whole number.
  std::vector<double> concept_width_mult;
  // Groups of axes (by their grid key) zipped element by element; every other axis is crossed.
  std::vector<std::vector<std::string>> pairs;
  // Size window: keep only runs whose planned tokens per non-embedding parameter D/N is in [lo, hi].
  std::optional<std::pair<double, double>> tokens_per_param;
  std::string where = "grid.";                            // this grid's table in the spec (for messages)
  std::string tokens_per_param_key = "grid.tokens_per_param";  // the key that set the band (for messages)
};

struct SweepSpec {
  std::string name;
  std::string path;      // where it was read from (for messages)
  std::string text;      // the spec as written (stored with the sweep)
  std::string runs_dir;  // default: runs/<name>
  std::vector<double> budgets;
  Grid grid;
  std::map<double, Grid> per_budget;  // budget -> the grid there ([grid.per_budget."C"] merged over [grid])
  RunConfig base;
  double warmup_fraction = 0.1;  // warmup steps as a share of each run's steps
  int64_t min_steps = 20;        // runs with fewer steps are dropped (too short to mean anything)
  int64_t max_steps = 1000000;
  int evals = 1;                 // validation passes per run (the last at the final step)
  int max_attempts = 3;          // failed runs are retried up to this many attempts in all
  // The lr-transfer study whose measured μP base rate every run trains at; plan() refuses the spec
  // until resolve_lr_from (sweeps/lr_transfer.hpp) has read it from the database into every grid.
  std::string lr_from;
  std::optional<double> lr_measured;
  // Fit the compression-aware law to the DLCM runs with the baselines as its P = 0 case (no concept
  // term): the baselines then share, and pin, its token and data terms (docs/fitting.md).
  bool baselines_in_law = false;
};

// Throws std::runtime_error naming the file and the key for every kind of bad input. With
// `--set KEY=VALUE` overrides (core/overrides.hpp), the spec's text is the overridden table
// re-serialised, so the sweep stores the study it runs.
SweepSpec load_spec(const std::string& path, const std::vector<std::string>& overrides = {});
SweepSpec parse_spec(const std::string& text, const std::string& path);
// A stored spec's `baselines_in_law` alone (readers of a sweep that need nothing else of its spec).
bool spec_baselines_in_law(const std::string& text, const std::string& path);

struct PlannedRun {
  std::string hash;  // identity: hash of the canonical config
  std::string label; // e.g. "dlcm d64 c96x2 R4 s1 lr0.003"
  double budget = 0; // the budget asked for
  RunConfig cfg;     // the full run config, steps set from the budget
  double N = 0, P = 0, R = 1;  // non-embedding N, backbone share, target ratio (core/flops account)
  double n_eff = 0, flops_per_token = 0;  // N_eff and 6·N_eff at the target ratio
  double D = 0;      // training tokens: steps × batch × seq_len
  double C = 0;      // 6·N_eff·D, the compute actually planned (within one step of the budget)
  int64_t steps = 0;
};

struct DroppedRun {
  std::string label;
  double budget;
  std::string reason;
};

struct Plan {
  std::vector<PlannedRun> runs;
  std::vector<DroppedRun> dropped;
};

// The grid used at a budget: its [grid.per_budget] entry, else [grid].
const Grid& grid_at(const SweepSpec& spec, double budget);
Plan plan(const SweepSpec& spec);
// Sets cfg's train.steps from a budget as plan() does (steps = budget / (6·N_eff·tokens per step)),
// with the spec's warmup fraction, evaluation and checkpoint intervals. Returns why the run does not
// fit (steps outside [min_steps, max_steps]; cfg untouched), empty when it does.
std::string set_budget_steps(const SweepSpec& spec, RunConfig& cfg, double budget);
// A run's accounting from its config (train.steps set): N, P, R at the target ratio, N_eff, FLOPs
// per token, D and C; identity from config_hash.
PlannedRun planned_run(const RunConfig& cfg, std::string label, double budget);
// The planner's label of a run: "dlcm d64 c96x2 e1 d1 R4 s1 lr0.003" or "baseline d64 L2 s1 lr0.003".
std::string run_label(const RunConfig& cfg);
// Stable 64-bit FNV-1a of the canonical config text, as 16 hex digits.
std::string config_hash(const RunConfig& cfg);

}  // namespace dlcm::sweeps
