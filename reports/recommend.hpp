#pragma once
// `dlcm recommend`: the compute-optimal DLCM for a budget from a sweep's fitted laws, with its
// bootstrap interval, the baseline's compute multiplier and μP-transferred hyperparameters.
// The report reuses the study loading and the fits.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/flops.hpp"
#include "fitting/fit.hpp"
#include "fitting/uncertainty.hpp"
#include "reports/allocation.hpp"
#include "reports/results.hpp"
#include "storage/central.hpp"

namespace dlcm::reports {

// A stored run priced by core/flops `account` from its config: at the ratio it trained at and the
// tokens it trained (result.json), or at its plan when it has not trained. The one rule the fits,
// the report and `export` read runs by.
RunAccounting account_run(const storage::RunRow& r, const RunConfig& cfg);
// Forward FLOPs per token of serving the run (core/flops inference_flops) at the ratio of the
// thresholded boundaries its validation measured (the target before it was evaluated).
double inference_flops_per_token(const storage::RunRow& r, const RunConfig& cfg);
// A finished run as the fits see it: account_run's N, P, D and C, R the realised ratio of its
// validation boundaries, grouped by the budget it was planned for.
fitting::Observation observe(const storage::RunRow& r, const RunConfig& cfg);

// What the fits read of one sweep.
struct Study {
  std::string sweep;
  std::vector<storage::RunRow> runs;                 // every run, as the sweep table shows them
  std::vector<fitting::Observation> dlcm, baseline;  // completed runs with a finite final loss
  std::vector<std::string> dlcm_labels, baseline_labels;  // labels of those, in the same order
  std::vector<double> dlcm_target_R;                 // the ratio each DLCM run was planned at
  std::map<std::string, fitting::Observation> by_hash;  // every fitted run (labels repeat across budgets)
  std::vector<std::string> excluded;                 // labels of diverged runs (left out of fits)
  bool baselines_in_law = false;                     // the sweep's spec: see law_runs
  std::optional<RunConfig> proxy;                    // config of the best completed DLCM run
  std::string proxy_label, proxy_run_dir;
  double proxy_loss = 0;
};
// Throws naming the database and sweep when the sweep does not exist.
Study load_study(storage::Database& db, const std::string& sweep);

// Chinchilla's five parameters need runs at several sizes: fewer than this many baseline runs or
// distinct sizes and the baseline law is not fitted (and the report says why).
inline constexpr int kMinBaselineRuns = 5, kMinBaselineSizes = 3;

struct Laws {
  fitting::Fit dlcm;
  fitting::FitOptions dlcm_options;  // how it was fitted: the bootstrap refits with the same
  std::optional<fitting::Fit> baseline;
  std::string baseline_note;  // why there is no baseline law
  fitting::ComputeMap baseline_map;  // the baseline runs' N → N_eff, so it is priced as it trained
  // Bootstrap refits of the baseline law, paired by index with the DLCM replicates (the compute
  // multiplier's interval); empty when not bootstrapped.
  std::vector<std::optional<fitting::Model>> baseline_replicates;
  std::optional<int64_t> fit_id;  // when read from the fits table
};
// The runs the compression-aware law is fitted to: the DLCM runs and, when the sweep's spec says
// `baselines_in_law = true`, then the baselines as its P = 0 case (no backbone, no concept term).
// Those share the law's token and data terms with the DLCM runs (same corpus, same token-level
// blocks), so they pin E0, A_tok, delta1, A_data and alpha, and the DLCM runs the concept term.
std::vector<fitting::Observation> law_runs(const Study& study);
// Fits the dlcm law to law_runs(study) and Chinchilla to its baseline runs (when enough).
Laws fit_laws(const Study& study, const fitting::FitOptions& opt);
// The dlcm law of a stored `dlcm fit` result (its params, offsets and Huber delta); the baseline
// law is fitted to the study as in fit_laws. Throws when the fit is not a dlcm fit.
Laws laws_from_stored_fit(const storage::StoredFit& fit, const Study& study, const fitting::FitOptions& opt);

// The base learning rate the μP transfer starts from, and where it came from.
struct BaseLr {
  double lr = 0;  // train.lr: every group's base rate unless overridden below
  std::optional<double> lr_token, lr_concept, lr_other;  // η_tok, η_con, η_other (DESIGN §5)
  std::string source;
  int d_token_base = 64, d_concept_base = 128;  // the widths that rate belongs to
  // A measured μP optimum (lr-transfer) or a μP run's base rate; false for a standard run's rate,
  // which recommend refuses to present as a μP base rate (`source` then says why).
  bool mup_evidence = false;
};
// The newest lr-transfer study's best_base_lr.mup (at the proxy config's d_token_base and
// d_concept_base) for the rate it swept (all three, or η_tok, η_con or η_other, the others then
// the best run's); else the best completed run's rates, which are μP evidence only when that run
// trained under μP.
BaseLr base_learning_rate(storage::Database& db, const Study& study);

struct RecommendOptions {
  double budget = 0;
  SearchSpace space;
  int replicates = 20;        // bootstrap refits, each re-optimised
  std::uint64_t seed = 0;
  double level = 0.9;         // percentile interval
  double warn_factor = 10;    // warn beyond this multiple of the largest fitted budget
};

// Fills laws.baseline_replicates: the baseline law refitted on resampled baseline runs.
void bootstrap_baseline(Laws& laws, const Study& study, const fitting::BootstrapOptions& boot);

// The recommendation (`dlcm recommend --json` prints its to_json), with what `dlcm verify` needs to
// test it without refitting: `config` (recommended_config as TOML) and `law` (the dlcm law's natural
// parameters that made the prediction).
// replicates: bootstrap_models of laws.dlcm on study.dlcm with opt.replicates and opt.seed, each
// re-optimised for the intervals; the first form refits them, the second takes them from a caller
// that already has them (the report, for every budget it recommends at).
Recommendation recommend(const Laws& laws, const Study& study, const BaseLr& lr, const RecommendOptions& opt);
Recommendation recommend(const Laws& laws, const Study& study, const BaseLr& lr, const RecommendOptions& opt,
                         std::span<const std::optional<fitting::Model>> replicates);

// μP per-group hyperparameters of `m` (parametrisation forced to μP) from the base values.
MupTable mup_hyperparameters(ModelConfig m, const TrainConfig& base, const BaseLr& lr);

// The run a recommendation stands for: the proxy's config with the snapped architecture (boundary at
// its R) and, given μP evidence, μP with the base rates at their base widths (the trainer applies the
// width factors); without it, the proxy's own parametrisation and rates. train.steps stay the
// proxy's: a caller training it sets them from a budget (sweeps::set_budget_steps).
RunConfig recommended_config(const RunConfig& proxy, const Architecture& arch, const BaseLr& lr);

// What runs would pin these parameters of the compression-aware law (recommend's advice).
std::string what_to_run(const std::vector<std::string>& params);

// What `dlcm recommend` is asked.
struct RecommendRequest {
  std::string sweep;              // fit the laws to this sweep's runs, or
  std::optional<int64_t> fit_id;  // take the dlcm law of this stored fit (its sweep's runs for the rest)
  RecommendOptions options;
  fitting::FitOptions fit;
};
// `dlcm recommend`: laws (fitted now or stored), base learning rate, recommendation, stored in the
// recommendations table; the result carries its `recommendation_id`. Throws naming the database for
// an unknown fit or sweep. Everything is read through `read` (a read-only handle will do) and only
// the recommendation row is written, through `store` (the same database opened for writing).
Recommendation recommend_and_store(storage::Database& read, storage::Database& store, const RecommendRequest& req);
// The sweep's stored recommendations as recommendations(), each with its recommendation_id; rows
// that do not read as one (recommendation_from_json) are left out rather than trusted.
std::vector<Recommendation> stored_recommendations(storage::Database& db, const std::string& sweep);

}  // namespace dlcm::reports
