#pragma once
// The results dlcm stores and reads back (a `dlcm fit`, a `dlcm recommend`, a `dlcm mup
// coord-check`) as plain structs, each with the one to_json / from_json pair its writer and its
// readers share: JSON only at the edge (the --json output, the database's result column). The
// keys are those docs/fitting.md, docs/recommend.md and docs/mup.md list. Readers are lenient
// where older rows lack a key (it reads as its default); a row missing what makes it that result
// throws, naming the key. (Verifications: reports/verify.hpp; lr-transfer studies:
// fitting/lr_transfer.hpp.)
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fitting/laws.hpp"

namespace dlcm::reports {

using json = nlohmann::ordered_json;

// A [low, high] interval; none when not measured (or no replicate gave a finite value).
using Span = std::optional<std::pair<double, double>>;
// Named values in a law's order (its `params`, a fit's `derived`).
using NamedValues = std::vector<std::pair<std::string, double>>;

// The dlcm law's parameters from named values (param_names order); none when one is missing.
std::optional<fitting::DlcmParams> dlcm_params_of(const NamedValues& params);

// Whether the bootstrap pins a parameter (fitting/identification.hpp), as stored.
struct Identification {
  std::string name;
  bool identified = false;
  std::string why;
  bool operator==(const Identification&) const = default;
};

// N_eff = k·N^e over N_range (held beyond it); max_rel_error says how well one power law holds.
struct ComputeMapSummary {
  double k = 1, e = 1;
  Span N_range;  // none: the runs share one N
  double max_rel_error = 0;
  bool operator==(const ComputeMapSummary&) const = default;
};
ComputeMapSummary summary_of(const fitting::ComputeMap& m);

// ---- dlcm fit ----

struct FitBootstrap {
  int replicates = 0, failed = 0;
  std::uint64_t seed = 0;
  double level = 0.95;
  std::optional<int> starts{};  // parametric laws: per replicate, the best fit and spread grid starts
  // Per parameter (and derived quantity), in the law's order: its `level` interval and standard error.
  struct Row {
    std::string name;
    double low = 0, high = 0, se = 0;
    bool operator==(const Row&) const = default;
  };
  std::vector<Row> intervals{};
  bool operator==(const FitBootstrap&) const = default;
};

struct HeldOutRunRow {
  int line = 0;
  double loss = 0, predicted = 0, rel_error = 0;
  bool operator==(const HeldOutRunRow&) const = default;
};
// Parametric laws: refitted without the largest budget, predicting its runs.
struct LawHoldout {
  double budget = 0;
  int64_t n_train = 0;
  double mean_rel_error = 0, max_rel_error = 0;
  std::vector<HeldOutRunRow> runs;
  bool operator==(const LawHoldout&) const = default;
};
// isoFLOP: the power law without the largest budget predicting that budget's optimum.
struct IsoflopHoldoutRow {
  double budget = 0, predicted = 0, fitted = 0, rel_error = 0;
  bool operator==(const IsoflopHoldoutRow&) const = default;
};

struct IsoflopBudgetRow {
  double C = 0;
  int64_t n_runs = 0;
  double x_opt = 0, log_x_opt_se = 0, loss_opt = 0, curvature = 0;
  bool operator==(const IsoflopBudgetRow&) const = default;
};
struct SkippedBudgetRow {
  double C = 0;
  int64_t n_runs = 0;
  std::string reason;
  bool operator==(const SkippedBudgetRow&) const = default;
};

// Where a fit's runs came from when it read a sweep (and so was stored).
struct FitSource {
  std::string sweep, db, runs;
  std::vector<std::string> excluded_diverged;
  int baselines = 0;
  bool operator==(const FitSource&) const = default;
};

// `dlcm fit`'s result (docs/fitting.md): what --json prints and the fits table stores.
struct FitResult {
  std::string law;  // chinchilla, dlcm or isoflop
  std::string x;    // isoflop: the swept variable
  NamedValues params;
  std::optional<bool> offsets;  // dlcm: whether t_tok, t_con, t_data were fitted
  double objective = 0;
  std::optional<double> huber_delta;  // parametric laws
  int64_t n_points = 0;
  // Parametric laws: the multi-start fit.
  std::optional<int64_t> starts, converged_starts;
  std::map<std::string, int> terminations;
  std::vector<std::string> active_bounds;
  double r2 = 0;
  std::vector<double> residuals;
  std::vector<IsoflopBudgetRow> budgets;  // isoflop
  std::vector<SkippedBudgetRow> skipped_budgets;
  std::optional<ComputeMapSummary> compute_map;
  std::optional<double> derived_C;  // the budget the derived quantities are at
  NamedValues derived;
  std::optional<FitBootstrap> bootstrap;
  std::optional<std::vector<Identification>> identification;  // parametric laws with a bootstrap
  std::optional<LawHoldout> holdout;
  std::optional<IsoflopHoldoutRow> isoflop_holdout;
  std::optional<FitSource> source;
  std::optional<int64_t> fit_id;
  bool operator==(const FitResult&) const = default;
};
json to_json(const FitResult& f);
// Throws naming the key when `law` or `params` is missing or of the wrong type.
FitResult fit_result_from_json(const json& j);

// ---- dlcm recommend ----

enum class Answer { interior, on_bound, unidentified };
const char* name(Answer a);
Answer parse_answer(const std::string& s);  // throws on an unknown word

struct RecommendationInterval {
  double level = 0.9;
  int replicates = 0;
  bool measured = false;  // replicates ran: the spans, counts and identification below
  Span N{}, P{}, R{}, D{}, tokens_per_param{}, predicted_loss{}, architecture_loss{};
  int failed = 0, on_bound = 0;
  std::vector<Identification> identification{};
  std::optional<Span> compute_multiplier{};  // when the multiplier was priced from the baseline's replicates
  bool operator==(const RecommendationInterval&) const = default;
};

// The snapped model's actual numbers.
struct RecommendedArchitecture {
  int d_token = 0, d_concept = 0, encoder_layers = 0, decoder_layers = 0, concept_layers = 0;
  int n_heads_token = 0, n_heads_concept = 0, seq_len = 0, vocab_size = 0;
  double N = 0, P = 0, R = 1, n_eff = 0, flops_per_token = 0, D = 0, predicted_loss = 0;
  bool operator==(const RecommendedArchitecture&) const = default;
};

struct GroupHyperparameters {
  std::string group, fan_in;
  double base_lr = 0, lr = 0, init_std = 0, eps = 0, weight_decay = 0;
  bool operator==(const GroupHyperparameters&) const = default;
};
// μP per-group hyperparameters at the recommended widths.
struct MupTable {
  double base_lr = 0;
  double base_lr_token = 0, base_lr_concept = 0, base_lr_other = 0;
  std::string weight_decay_mode, source;
  int d_token_base = 0, d_concept_base = 0;
  double s_tok = 1, s_con = 1, output_mult = 1;
  std::string attention_scale = "1/d_head";
  std::vector<GroupHyperparameters> groups{};
  bool operator==(const MupTable&) const = default;
};
// The μP table, or why there is none (no μP evidence) and the proxy run's own rate.
struct RecommendedHyperparameters {
  std::optional<MupTable> mup{};
  std::string refused{};
  double lr = 0;
  bool operator==(const RecommendedHyperparameters&) const = default;
};

// The baseline at the budget: priced by its Chinchilla law, or the parameters that law leaves unpinned.
struct BaselinePricing {
  std::vector<std::string> unidentified{};  // not empty: nothing priced
  double N = 0, D = 0, n_eff = 0, predicted_loss = 0;
  ComputeMapSummary compute_map{};
  std::optional<double> compute_needed{};  // the baseline's compute for the DLCM's predicted loss
  bool operator==(const BaselinePricing&) const = default;
};

// The dlcm law a recommendation was made with.
struct RecommendedLaw {
  std::string name = "dlcm";
  bool offsets = true;
  NamedValues params{};
  bool operator==(const RecommendedLaw&) const = default;
};

// `dlcm recommend`'s result (docs/recommend.md "JSON output").
struct Recommendation {
  double budget = 0;
  std::string sweep;
  std::optional<int64_t> fit_id;
  Answer status = Answer::interior;
  std::vector<std::string> unidentified, bounds_hit;
  double N = 0, P = 0, R = 1, D = 0, n_eff = 0, tokens_per_param = 0, n_eff_correction = 1, n_eff_error = 0;
  double predicted_loss = 0;
  RecommendationInterval interval;
  RecommendedArchitecture architecture;
  RecommendedHyperparameters hyperparameters;
  std::optional<BaselinePricing> baseline;
  std::optional<double> compute_multiplier;
  double largest_fitted_budget = 0;
  std::vector<std::string> warnings;
  std::string config;                // the recommended run config (TOML); empty in rows older than it
  std::optional<RecommendedLaw> law;  // none in rows older than it
  std::optional<int64_t> recommendation_id;
  bool operator==(const Recommendation&) const = default;
};
json to_json(const Recommendation& r);
// Throws naming the key when the row is not a recommendation (no architecture, interval,
// hyperparameters or warnings: what every `dlcm recommend` row has).
Recommendation recommendation_from_json(const json& j);
// The law's parameters as fitting takes them; none for rows written before the law was kept.
std::optional<fitting::DlcmParams> recommended_law(const Recommendation& r);
// The unpinned parameters as one phrase: "A_con, gamma, delta2".
std::string unidentified_names(const Recommendation& r);

// ---- dlcm mup coord-check ----

struct CoordCurvePoint {
  std::string family;
  int width_token = 0, width_concept = 0, step = 0;
  double mean_abs = 0;  // NaN when a width diverged
  bool operator==(const CoordCurvePoint&) const = default;
};
// Keys (sorted, as nlohmann::json writes them) in docs/mup.md "Coordinate check".
struct CoordCheckResult {
  std::string parametrisation, arch, axis, segmentation;
  std::vector<int> widths_token, widths_concept;
  int d_token_base = 0, d_concept_base = 0;
  double lr = 0, lr_token = 0, lr_concept = 0, lr_other = 0;
  int steps = 0, seeds = 0;
  std::vector<double> realised_ratio;  // per width point
  double band = 0;
  std::map<std::string, std::vector<double>> slopes_by_step, slope_sd_by_step;  // per family
  std::map<std::string, bool> pass;
  std::vector<CoordCurvePoint> curves;
  // The slope after the last step (NaN when none).
  double slope(const std::string& family) const;
  bool operator==(const CoordCheckResult&) const = default;
};
nlohmann::json to_json(const CoordCheckResult& c);
CoordCheckResult coord_check_from_json(const nlohmann::json& j);

}  // namespace dlcm::reports
