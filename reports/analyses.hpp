#pragma once
// The DLCM paper's ablations, read off any sweep's runs (docs/results.md "Ablations"): boundary
// predictors compared at one target R and budget, the compression ratio at matched compute (loss,
// realised R, stability), tokens per concept by domain, and DLCM against the baseline at matched
// inference FLOPs per token. Typed results over plain run facts; the report renders each one only
// when the sweep holds the runs it needs, and `dlcm report --json` prints them.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/recommend.hpp"
#include "storage/central.hpp"

namespace dlcm::reports {

// One validation domain at a run's last evaluation ("all" pools them).
struct DomainValues {
  std::optional<double> loss, bpb, ratio;
};

// What the analyses read of one finished run (completed or diverged; a diverged run is counted,
// never dropped).
struct RunFacts {
  std::string hash, label, status;
  RunConfig cfg;
  bool dlcm = false;
  std::string mode;      // boundary predictor: global, sequence, fixed ("" for the baseline)
  double target_R = 1, budget = 0;
  int64_t seed = 0;
  // The configuration without its seed (and the budget it was planned for): seeds of one
  // configuration share it, and are what an interval is taken over.
  std::string config_key;
  std::string name;      // that configuration in words, e.g. "dlcm d32 c32 R4 global"
  double N = 0;          // non-embedding parameters (core/flops)
  std::optional<double> train_R;  // tokens / concepts over every training step (result.json run_mean_ratio)
  std::optional<double> val_R;    // tokens / concepts of the thresholded boundaries at the last evaluation
  std::optional<double> val_loss;
  double inference_flops = 0;     // forward FLOPs per token at val_R (inference_flops_per_token)
  std::vector<storage::MetricPoint> train_loss, train_ratio;  // per training step
  std::map<std::string, DomainValues> domains;                // last evaluation, by domain
};
// Every completed or diverged run of the study, with its metrics from the database.
std::vector<RunFacts> load_run_facts(storage::Database& db, const Study& study);

// A mean over seeds with its 95% Student-t interval (low = high = mean for one value).
struct Estimate {
  int n = 0;
  double mean = 0, low = 0, high = 0;
};
Estimate estimate(const std::vector<double>& values);

// ---- stability ----
// A loss spike: a training step whose loss is more than kSpikeRise above the median of the
// kSpikeWindow steps before it (a non-finite loss always is); consecutive such steps are one spike.
// Batch-to-batch noise on the mixed-domain corpus is ~8% of the loss (sd, T 128, batch 16), and a
// seed's hardest batches reach +29%: a 20% threshold counted those, the same steps in every model
// trained on that seed. 50% is about six of those deviations: an instability, not a hard batch.
inline constexpr int kSpikeWindow = 20;
inline constexpr double kSpikeRise = 0.5;
int count_spikes(const std::vector<storage::MetricPoint>& loss);

// ---- realised R over training ----
// Tokens per concept over a stretch of steps, from the per-step ratios (each step the same tokens):
// the harmonic mean. nullopt when the stretch is empty.
std::optional<double> span_ratio(const std::vector<storage::MetricPoint>& ratio, double from, double to);
// R over the last quarter of the steps minus R over the first quarter: how far the predictor
// wandered while it trained.
std::optional<double> ratio_drift(const std::vector<storage::MetricPoint>& ratio);

// ---- 2. boundary predictors at one target R and budget ----
struct PredictorRow {
  std::string arch;  // the configuration apart from predictor and seed
  double budget = 0, target_R = 0;
  std::string mode;
  int runs = 0, diverged = 0;
  Estimate train_R, val_R, drift, val_loss;
};
// Rows for every configuration trained with two predictors or more; empty when none was.
std::vector<PredictorRow> compare_predictors(const std::vector<RunFacts>& runs);

// ---- 3. compression ratio at matched compute ----
struct RatioRow {
  std::string arch;  // the configuration apart from R and seed
  double budget = 0, target_R = 0;
  int runs = 0, diverged = 0, spikes = 0;  // spikes summed over the runs
  Estimate val_loss, val_R, train_R;
};
// Rows for every configuration trained at two target ratios or more at one budget; empty when none was.
std::vector<RatioRow> compare_ratios(const std::vector<RunFacts>& runs);

// ---- 4. tokens per concept by domain ----
struct ConceptColumn {
  std::string mode;
  double target_R = 0;
  bool operator<(const ConceptColumn& o) const { return mode != o.mode ? mode < o.mode : target_R < o.target_R; }
};
struct TokensPerConcept {
  std::vector<ConceptColumn> columns;  // global first, then the others; each by R
  // domain -> column index -> (mean over completed runs, runs)
  std::map<std::string, std::map<std::size_t, std::pair<double, int>>> cells;
};
TokensPerConcept tokens_per_concept(const std::vector<RunFacts>& runs);

// ---- 5. DLCM against the baseline at matched inference FLOPs per token ----
// A DLCM configuration and the baseline configuration at the same budget whose mean inference
// FLOPs per token is nearest to its own, when within kMatchTolerance (relative).
inline constexpr double kMatchTolerance = 0.15;
struct DomainPair {
  std::string domain;
  Estimate dlcm_loss, baseline_loss, dlcm_bpb, baseline_bpb;
  Estimate bpb_gain;  // baseline − DLCM bits per byte, with Welch's interval
};
struct MatchedPair {
  std::string dlcm, baseline;
  double budget = 0;
  double dlcm_flops = 0, baseline_flops = 0;  // mean inference FLOPs per token
  double dlcm_N = 0, baseline_N = 0;
  std::vector<DomainPair> domains;  // "all" first
};
std::vector<MatchedPair> match_inference(const std::vector<RunFacts>& runs);

struct Analyses {
  std::vector<PredictorRow> predictors;
  std::vector<RatioRow> ratios;
  TokensPerConcept concepts;
  std::vector<MatchedPair> matched;
};
Analyses analyse(const std::vector<RunFacts>& runs);
json to_json(const Analyses& a);

}  // namespace dlcm::reports
