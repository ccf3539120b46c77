// Stored results as typed structs: each writes one JSON and reads it back equal (the writer's and
// the readers' one pair), and rows older binaries wrote still read.
#include <gtest/gtest.h>

#include <cmath>

#include "fitting/lr_transfer.hpp"
#include "reports/recommend.hpp"
#include "reports/results.hpp"
#include "reports/verify.hpp"
#include "storage/central.hpp"
#include "test_util.hpp"

using namespace dlcm;
using namespace dlcm::reports;

namespace {

FitResult parametric_fit() {
  FitResult f;
  f.law = "dlcm";
  f.params = {{"E0", 1.5}, {"A_tok", 120.0}, {"t_tok", 0.0}, {"delta1", 0.41}, {"A_con", 3.5},
              {"gamma", -0.2}, {"t_con", 0.0}, {"delta2", 0.3}, {"A_data", 800.0}, {"t_data", 0.0},
              {"alpha", 0.33}};
  f.offsets = false;
  f.objective = 1.25e-6;
  f.huber_delta = 1e-3;
  f.n_points = 43;
  f.starts = 120, f.converged_starts = 117;
  f.terminations = {{"converged", 117}, {"no_convergence", 3}};
  f.active_bounds = {"delta2"};
  f.r2 = 0.974;
  f.residuals = {0.01, -0.02, 0.005};
  f.compute_map = ComputeMapSummary{1.08, 0.97, std::pair{1.5e4, 7.2e4}, 0.031};
  f.derived_C = 1.8e12;
  f.derived = {{"N_opt", 2.4e4}, {"D_opt", 1.1e7}};
  f.bootstrap = FitBootstrap{.replicates = 50, .failed = 1, .seed = 7, .level = 0.95, .starts = 13};
  f.bootstrap->intervals = {{"E0", 1.12, 1.54, 0.1}, {"alpha", 0.32, 0.71, 0.09}};
  f.identification = std::vector<Identification>{{"E0", true, ""}, {"A_con", false, "interval over 120 decades"}};
  f.holdout = LawHoldout{1.8e12, 28, 0.018, 0.036, {{3, 1.79, 1.81, 0.011}, {4, 1.80, 1.77, 0.017}}};
  f.source = FitSource{.sweep = "main", .db = "dlcm.db", .runs = "all", .excluded_diverged = {"dlcm d96"}, .baselines = 15};
  f.fit_id = 4;
  return f;
}

Recommendation interior_recommendation() {
  Recommendation r;
  r.budget = 5.4e12, r.sweep = "main", r.fit_id = 3, r.status = Answer::interior;
  r.N = 4.1e4, r.P = 0.62, r.R = 4, r.D = 2.2e7, r.n_eff = 3.9e4, r.tokens_per_param = 536.6;
  r.n_eff_correction = 1.04, r.n_eff_error = 0.003, r.predicted_loss = 1.71;
  r.interval.level = 0.9, r.interval.replicates = 20, r.interval.measured = true;
  r.interval.N = std::pair{3.0e4, 5.5e4}, r.interval.predicted_loss = std::pair{1.69, 1.74};
  r.interval.architecture_loss = std::pair{1.70, 1.75};
  r.interval.failed = 1, r.interval.on_bound = 2;
  r.interval.identification = {{"E0", true, ""}, {"gamma", true, ""}};
  r.interval.compute_multiplier = Span{{1.2, 2.5}};
  r.architecture = {.d_token = 32, .d_concept = 64, .encoder_layers = 1, .decoder_layers = 1, .concept_layers = 4,
                    .n_heads_token = 2, .n_heads_concept = 4, .seq_len = 256, .vocab_size = 256, .N = 4.3e4,
                    .P = 0.6, .R = 4, .n_eff = 4.0e4, .flops_per_token = 2.4e5, .D = 2.1e7, .predicted_loss = 1.72};
  MupTable m{.base_lr = 0.011, .base_lr_token = 0.011, .base_lr_concept = 0.011, .base_lr_other = 0.011,
             .weight_decay_mode = "independent", .source = "lr-transfer study 2 (pilot), mup, rate all",
             .d_token_base = 32, .d_concept_base = 64, .s_tok = 1, .s_con = 1, .output_mult = 1};
  m.groups = {{"token", "d_token", 0.011, 0.011, 0.02, 1e-8, 0.1}};
  r.hyperparameters.mup = m;
  r.baseline = BaselinePricing{.N = 4.4e4, .D = 2.0e7, .n_eff = 5.1e4, .predicted_loss = 1.76,
                               .compute_map = {1.1, 1.02, std::pair{1.5e4, 4.2e4}, 0.02}, .compute_needed = 9.7e12};
  r.compute_multiplier = 1.8;
  r.largest_fitted_budget = 1.8e12;
  r.warnings = {"budget 5.4e+12 FLOPs is 3x the largest fitted budget"};
  r.config = "[model]\nd_token = 32\n";
  r.law = RecommendedLaw{.offsets = false, .params = parametric_fit().params};
  r.recommendation_id = 9;
  return r;
}

}  // namespace

TEST(Results, AFitRoundTripsThroughItsJson) {
  const auto f = parametric_fit();
  EXPECT_EQ(fit_result_from_json(json::parse(to_json(f).dump())), f);
  FitResult iso;
  iso.law = "isoflop", iso.x = "N", iso.params = {{"exponent", 0.47}, {"coefficient", 12.5}};
  iso.n_points = 9, iso.r2 = 0.99, iso.residuals = {0.1, -0.1};
  iso.budgets = {{1e11, 3, 1.5e4, 0.05, 2.2, 0.8}};
  iso.skipped_budgets = {{1e12, 2, "minimum not bracketed"}};
  iso.compute_map = ComputeMapSummary{1, 1, std::nullopt, 0};
  iso.derived_C = 1e12, iso.derived = {{"N_opt", 4e4}};
  iso.bootstrap = FitBootstrap{.replicates = 10, .seed = 3, .level = 0.95};
  iso.isoflop_holdout = IsoflopHoldoutRow{1e12, 4.1e4, 4.2e4, 0.024};
  const auto j = to_json(iso);
  EXPECT_EQ(fit_result_from_json(json::parse(j.dump())), iso);
  // The keys docs/fitting.md lists, in the order the command always printed them.
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"law", "x", "params", "objective", "n_points", "r2", "residuals", "budgets",
                                            "skipped_budgets", "compute_map", "derived", "bootstrap", "holdout"}));
  EXPECT_TRUE(j["compute_map"]["N_range"].is_null());  // the runs share one N
}

TEST(Results, ARecommendationRoundTripsThroughItsJson) {
  const auto r = interior_recommendation();
  const auto j = to_json(r);
  EXPECT_EQ(recommendation_from_json(json::parse(j.dump())), r);
  EXPECT_EQ(j["status"], "interior");
  EXPECT_EQ(j["interval"]["architecture_loss"], json({1.70, 1.75}));
  ASSERT_TRUE(recommended_law(r));
  EXPECT_EQ(recommended_law(r)->alpha, 0.33);
  // No μP evidence: the refusal and the proxy's rate; no baseline law: null.
  auto refused = r;
  refused.hyperparameters = {.mup = std::nullopt, .refused = "no μP table: standard run", .lr = 2e-3};
  refused.baseline = std::nullopt;
  refused.compute_multiplier = std::nullopt;
  refused.interval = {.level = 0.9, .replicates = 0};
  const auto rj = to_json(refused);
  EXPECT_TRUE(rj["baseline"].is_null());
  EXPECT_EQ(rj["hyperparameters"], json({{"refused", "no μP table: standard run"}, {"lr", 2e-3}}));
  EXPECT_EQ(recommendation_from_json(json::parse(rj.dump())), refused);
  EXPECT_THROW(recommendation_from_json(json{{"budget", 1e12}}), std::runtime_error);
}

// A row `dlcm recommend` wrote before recommendations kept their config, law, n_eff_error, the
// architecture's interval and identification: the report still shows it, verify will not train it.
TEST(Results, ARecommendationRowFromBeforeConfigAndLawStillReads) {
  const auto dir = test::temp_dir("results-old-row");
  auto db = storage::open_central((dir / "dlcm.db").string());
  const std::string old_row = R"({"budget": 1e15, "sweep": "s", "fit_id": null, "status": "interior",
    "bounds_hit": [], "N": 41000.0, "P": 0.6, "R": 4.0, "D": 2.2e7, "n_eff": 39000.0, "tokens_per_param": 536.6,
    "n_eff_correction": 1.0, "predicted_loss": 1.71,
    "interval": {"level": 0.9, "replicates": 20, "N": [30000.0, 55000.0], "P": null, "R": [4.0, 4.0],
                 "D": null, "tokens_per_param": null, "predicted_loss": [1.69, 1.74], "failed": 0},
    "architecture": {"d_token": 32, "d_concept": 64, "encoder_layers": 1, "decoder_layers": 1,
                     "concept_layers": 4, "n_heads_token": 2, "n_heads_concept": 4, "seq_len": 256,
                     "vocab_size": 256, "N": 43000.0, "P": 0.6, "R": 4.0, "n_eff": 40000.0,
                     "flops_per_token": 240000.0, "D": 2.1e7, "predicted_loss": 1.72},
    "hyperparameters": {"refused": "no μP table", "lr": 0.002},
    "baseline": null, "compute_multiplier": null, "largest_fitted_budget": 1e14,
    "warnings": ["no baseline law"]})";
  storage::store_recommendation(db, "s", std::nullopt, 1e15, old_row);
  storage::store_recommendation(db, "s", std::nullopt, 1e15, R"({"not": "a recommendation"})");
  const auto rows = stored_recommendations(db, "s");
  ASSERT_EQ(rows.size(), 1u);  // the foreign row is left out
  const auto& r = rows[0];
  EXPECT_EQ(r.recommendation_id.value_or(0), 1);
  EXPECT_EQ(r.status, Answer::interior);
  EXPECT_EQ(r.N, 41000.0);
  EXPECT_TRUE(r.interval.N == (Span{{30000.0, 55000.0}}));
  EXPECT_FALSE(r.interval.P);
  EXPECT_FALSE(r.interval.architecture_loss);
  EXPECT_EQ(r.architecture.concept_layers, 4);
  EXPECT_EQ(r.hyperparameters.refused, "no μP table");
  EXPECT_FALSE(r.baseline);
  EXPECT_EQ(r.warnings, std::vector<std::string>{"no baseline law"});
  EXPECT_TRUE(r.config.empty());
  EXPECT_FALSE(recommended_law(r));  // what verify refuses to train as registered
  // No interval of the architecture's loss: not verifiable, and said so.
  EXPECT_NE(unverifiable(r, "s", 1e15).find("has no bootstrap interval"), std::string::npos);
}

TEST(Results, ACoordinateCheckRoundTripsAndAnOlderRowReads) {
  CoordCheckResult c;
  c.parametrisation = "mup", c.arch = "dlcm", c.axis = "both", c.segmentation = "fixed";
  c.widths_token = {64, 128}, c.widths_concept = {128, 256};
  c.d_token_base = 64, c.d_concept_base = 128;
  c.lr = 3e-3, c.lr_token = 3e-3, c.lr_concept = 3e-3, c.lr_other = 3e-3;
  c.steps = 4, c.seeds = 3, c.realised_ratio = {4.0, 4.0}, c.band = 0.25;
  c.slopes_by_step = {{"backbone", {0.02, -0.01}}};
  c.slope_sd_by_step = {{"backbone", {0.01, 0.02}}};
  c.pass = {{"backbone", true}};
  c.curves = {{"backbone", 64, 128, 4, 0.8}, {"backbone", 128, 256, 4, 0.79}};
  const auto j = to_json(c);
  EXPECT_EQ(coord_check_from_json(nlohmann::json::parse(j.dump())), c);
  EXPECT_EQ(j["slopes"]["backbone"], -0.01);  // the last step's
  // Before slopes_by_step was kept: the last slope alone.
  const auto old = coord_check_from_json(nlohmann::json::parse(
      R"({"parametrisation": "standard", "slopes": {"encoder": 1.48}, "pass": {"encoder": false},
          "curves": [{"family": "encoder", "width_token": 64, "width_concept": 128, "step": 4, "mean_abs": null}]})"));
  EXPECT_EQ(old.slope("encoder"), 1.48);
  EXPECT_FALSE(old.pass.at("encoder"));
  EXPECT_TRUE(std::isnan(old.curves.at(0).mean_abs));
}

TEST(Results, AnLrTransferStudyRoundTripsAndAnOlderRowReads) {
  fitting::TransferAnalysis a;
  a.name = "pilot", a.rate = "token", a.d_token_base = 32, a.d_concept_base = 64, a.base_method_mup = "parabola";
  fitting::TransferResult r;
  r.parametrisation = Parametrisation::mup, r.axis = "token";
  r.width_token = 64, r.width_concept = 64, r.lrs = {1e-3, 2e-3, 4e-3};
  r.losses = {2.1, std::nullopt, 2.3};
  r.notes = {"lr 0.002 seed 1: diverged"};
  r.best_lr = 1.2e-3, r.best_lr_lo = 1.1e-3, r.best_lr_hi = 1.3e-3, r.method = "parabola", r.points_fitted = 2;
  a.results = {r};
  a.shifts = {{Parametrisation::mup, "token", 0.14, 0.14, 3}};
  a.best_base_lr_mup = 1.2e-3;
  EXPECT_EQ(fitting::transfer_analysis_from_json(fitting::to_json(a)), a);
  // Before `rate` and `base_method_mup` were kept: every rate was swept.
  const auto old = fitting::transfer_analysis_from_json(R"({"name": "p", "results": [], "shifts": [],
                                                           "best_base_lr": {"mup": 0.0125, "standard": null}})");
  EXPECT_EQ(old.rate, "all");
  EXPECT_EQ(old.best_base_lr_mup.value_or(0), 0.0125);
  EXPECT_FALSE(old.best_base_lr_standard);
  EXPECT_THROW(fitting::transfer_analysis_from_json("[1, 2]"), std::runtime_error);
}
