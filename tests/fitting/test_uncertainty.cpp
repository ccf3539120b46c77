#include <gtest/gtest.h>

#include "fitting/identification.hpp"
#include "fitting/uncertainty.hpp"
#include "helpers.hpp"

namespace dlcm::fitting {
namespace {

using test::error_of;
using test::kChinchilla;
using test::rel_error;

using test::kBudgets;
using test::small_grid;

std::vector<Observation> noisy_runs(std::uint64_t seed) {
  return test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(kChinchilla), 0.01, seed);
}

TEST(Bootstrap, SameSeedSameIntervalsWhateverTheThreadCount) {
  const auto obs = noisy_runs(11);
  FitOptions one = small_grid(), two = small_grid();
  one.threads = 1;
  two.threads = 2;
  const Fit fit = fit_law(Law::chinchilla, obs, two);
  const BootstrapOptions boot{.replicates = 40, .seed = 42};
  const auto a = bootstrap_fit(fit, obs, one, boot, 1e21);
  const auto b = bootstrap_fit(fit, obs, two, boot, 1e21);
  ASSERT_EQ(a.intervals.size(), 10u);  // 5 parameters, then a, b, N_opt, D_opt, tokens_per_param
  for (std::size_t k = 0; k < a.intervals.size(); ++k) {
    EXPECT_EQ(a.intervals[k].low, b.intervals[k].low) << a.intervals[k].name;
    EXPECT_EQ(a.intervals[k].high, b.intervals[k].high) << a.intervals[k].name;
    EXPECT_EQ(a.intervals[k].se, b.intervals[k].se) << a.intervals[k].name;
  }
  const auto c = bootstrap_fit(fit, obs, two, {.replicates = 40, .seed = 43}, 1e21);
  EXPECT_NE(a.intervals[3].low, c.intervals[3].low);
}

TEST(Bootstrap, IntervalsBracketTheFitAndTheTruthOnNoisyData) {
  const auto obs = noisy_runs(12);
  const Fit fit = fit_law(Law::chinchilla, obs, small_grid());
  const auto boot = bootstrap_fit(fit, obs, small_grid(), {.replicates = 200, .seed = 7}, 1e21);
  EXPECT_EQ(boot.failed, 0);
  const auto truth = natural_params(chinchilla_model(kChinchilla));
  const auto opt = chinchilla_compute_optimal(kChinchilla, 1e21);
  const std::vector<double> want{truth[0], truth[1], truth[2], truth[3], truth[4],
                                 opt.a,    opt.b,    opt.N,    opt.D,    opt.D / opt.N};
  for (std::size_t k = 0; k < want.size(); ++k) {
    const auto& iv = boot.intervals[k];
    EXPECT_LT(iv.low, iv.estimate) << iv.name;
    EXPECT_GT(iv.high, iv.estimate) << iv.name;
    EXPECT_LT(iv.low, want[k]) << iv.name;
    EXPECT_GT(iv.high, want[k]) << iv.name;
    EXPECT_GT(iv.se, 0) << iv.name;
  }
  // a + b = 1 holds replicate by replicate, so their spreads match.
  EXPECT_NEAR(boot.intervals[5].se, boot.intervals[6].se, 1e-12);
}

// Every run at one D: E + B/D^beta is a single constant, so E, B and beta lie on a ridge the data
// cannot resolve, while A and alpha are pinned by the spread of N.
std::vector<Observation> runs_at_one_token_count() {
  std::vector<Observation> runs;
  for (int k = 0; k < 12; ++k) runs.push_back({.N = 1e7 * std::pow(10.0, 3.0 * k / 11), .D = 2e10, .loss = 0});
  return test::with_losses(runs, chinchilla_model(kChinchilla), 0.01, 3);
}

double width(const Interval& iv) { return iv.high - iv.low; }

TEST(Bootstrap, UnidentifiedLawShowsWideIntervalsWhereRefiningTheBestFitShowsPoints) {
  const auto obs = runs_at_one_token_count();
  const FitOptions opt;  // Hoffmann's grid, as dlcm fit runs
  const Fit fit = fit_law(Law::chinchilla, obs, opt);
  BootstrapOptions one{.replicates = 100, .seed = 1};
  one.starts = 0;  // the old bootstrap: each replicate refines the best fit only
  BootstrapOptions multi = one;
  multi.starts = 12;
  const auto local = bootstrap_fit(fit, obs, opt, one, 1e21);
  const auto global = bootstrap_fit(fit, obs, opt, multi, 1e21);
  EXPECT_EQ(global.failed, 0);
  // E, B, beta: a point from one start (refining never leaves the ridge point it starts on)...
  for (int k : {2, 4}) EXPECT_LT(width(local.intervals[k]), 1e-6 * local.intervals[k].estimate) << local.intervals[k].name;
  // ...and wide once replicates restart: beta spans most of its range, B many decades, and only
  // the wide interval of E holds the true E = 1.69.
  EXPECT_GT(width(global.intervals[4]), 1.5);
  EXPECT_GT(global.intervals[2].high / global.intervals[2].low, 1e6);
  EXPECT_GT(local.intervals[0].low, kChinchilla.E);
  EXPECT_LT(global.intervals[0].low, kChinchilla.E);
  EXPECT_GT(global.intervals[0].high, kChinchilla.E);
  // The derived allocation inherits it: tokens per parameter over more than ten decades.
  EXPECT_GT(global.intervals[9].high / global.intervals[9].low, 1e10);
  // A and alpha are identified: the same interval either way, to the solver's tolerance.
  for (int k : {1, 3}) {
    EXPECT_LT(rel_error(global.intervals[k].low, local.intervals[k].low), 1e-4) << global.intervals[k].name;
    EXPECT_LT(rel_error(global.intervals[k].high, local.intervals[k].high), 1e-4) << global.intervals[k].name;
  }
}

TEST(Bootstrap, IdentifiedLawKeepsTightIntervalsWithRestarts) {
  const auto obs = noisy_runs(12);
  const Fit fit = fit_law(Law::chinchilla, obs, small_grid());
  BootstrapOptions one{.replicates = 100, .seed = 7};
  one.starts = 0;
  const auto local = bootstrap_fit(fit, obs, small_grid(), one, 1e21);
  const auto global = bootstrap_fit(fit, obs, small_grid(), {.replicates = 100, .seed = 7}, 1e21);
  const auto truth = natural_params(chinchilla_model(kChinchilla));
  for (std::size_t k = 0; k < 5; ++k) {
    const auto& iv = global.intervals[k];
    EXPECT_LT(iv.low, truth[k]) << iv.name;
    EXPECT_GT(iv.high, truth[k]) << iv.name;
    // Restarts find the optimum refining already found: no wider.
    EXPECT_LT(rel_error(width(iv), width(local.intervals[k])), 1e-6) << iv.name;
  }
  EXPECT_LT(width(global.intervals[3]), 0.1);  // alpha = 0.34
  EXPECT_LT(width(global.intervals[4]), 0.1);  // beta = 0.28
}

// Identification is measured: on a ridge (every run at one D) E, B and beta are flagged with why,
// while A and alpha, pinned by the spread of N, pass; on well-spread data every parameter passes.
TEST(Identification, FlagsTheRidgeAndPassesWhatTheRunsPin) {
  const auto ridge = runs_at_one_token_count();
  const Fit fit = fit_law(Law::chinchilla, ridge, FitOptions{});
  const auto b = bootstrap_fit(fit, ridge, FitOptions{}, {.replicates = 60, .seed = 1}, 1e21);
  const auto report = identify(fit, b);
  ASSERT_EQ(report.size(), 5u);
  EXPECT_EQ(unidentified(report), (std::vector<std::string>{"E", "B", "beta"}));
  EXPECT_NE(report[2].why.find("spans"), std::string::npos) << report[2].why;  // B over decades
  EXPECT_TRUE(report[1].identified) << report[1].why;
  EXPECT_TRUE(report[3].identified) << report[3].why;
  // One D makes B and beta collinear: a flat direction of the fit itself, bootstrap or not.
  const auto flat = flat_parameters(fit.model, ridge);
  EXPECT_NE(std::find(flat.begin(), flat.end(), "B"), flat.end());
  EXPECT_NE(std::find(flat.begin(), flat.end(), "beta"), flat.end());

  const auto spread = noisy_runs(12);
  const Fit good = fit_law(Law::chinchilla, spread, small_grid());
  const auto gb = bootstrap_fit(good, spread, small_grid(), {.replicates = 60, .seed = 7}, 1e21);
  const auto good_report = identify(good, gb, spread);
  EXPECT_TRUE(unidentified(good_report).empty());
  // Each interval against its rule's limit: below 1 when identified, as the rule measures it.
  for (const auto& p : good_report) EXPECT_LT(p.spread, 1.0) << p.name;
  EXPECT_DOUBLE_EQ(good_report[3].spread, (gb.intervals[3].high - gb.intervals[3].low) / kMaxExponentWidth);
  EXPECT_DOUBLE_EQ(good_report[0].spread,
                   std::log(gb.intervals[0].high / gb.intervals[0].low) / std::log(kMaxIrreducibleSpan));
  EXPECT_GT(report[2].spread, 1.0);  // the ridge's B spans decades: past its limit
  EXPECT_TRUE(flat_parameters(good.model, spread).empty());
  // Not measured is not identified.
  EXPECT_EQ(unidentified(identify(good, Bootstrap{})).size(), 5u);
  // A parameter on its bound is a limit, whatever its interval.
  Fit bounded = good;
  bounded.active_bounds = {"alpha"};
  EXPECT_EQ(unidentified(identify(bounded, gb)), std::vector<std::string>{"alpha"});
}

TEST(Bootstrap, DerivedIntervalsUseTheComputeMap) {
  const auto obs = noisy_runs(12);
  const Fit fit = fit_law(Law::chinchilla, obs, small_grid());
  const ComputeMap map{.log_k = std::log(1.2), .e = 1.0};
  const auto b = bootstrap_fit(fit, obs, small_grid(), {.replicates = 20, .seed = 7}, 1e21, map);
  const auto want = derived_quantities(fit.model, 1e21, map);
  for (std::size_t k = 0; k < want.size(); ++k) EXPECT_EQ(b.intervals[5 + k].estimate, want[k].second);
  // N_eff = 1.2·N: the allocation of C/1.2 under C = 6ND.
  const auto plain = derived_quantities(fit.model, 1e21 / 1.2);
  EXPECT_LT(rel_error(plain[2].second, want[2].second), 1e-12);
  EXPECT_LT(rel_error(plain[3].second, want[3].second), 1e-12);
}

TEST(Bootstrap, SpreadStartsAreDistinctFarApartAndDeterministic) {
  const auto grid = chinchilla_start_grid();
  const std::vector<double> from{0.5, 6, 7.7, 0.35, 0.37};
  const auto picks = spread_starts(grid, from, 12);
  ASSERT_EQ(picks.size(), 12u);
  EXPECT_EQ(picks, spread_starts(grid, from, 12));
  // The first pick is the corner farthest from `from`.
  EXPECT_EQ(picks[0], (std::vector<double>{-1, 25, 25, 2, 2}));
  for (std::size_t i = 0; i < picks.size(); ++i)
    for (std::size_t j = 0; j < i; ++j) EXPECT_NE(picks[i], picks[j]);
  EXPECT_TRUE(spread_starts(grid, from, 0).empty());
}

TEST(Bootstrap, SummaryUsesSampleSdAndLinearPercentiles) {
  std::vector<std::vector<double>> samples{{5}, {1}, {4}, {2}, {3}};
  const auto iv = summarize({"x"}, {3.5}, samples, 0.5);
  EXPECT_EQ(iv[0].estimate, 3.5);
  EXPECT_DOUBLE_EQ(iv[0].se, std::sqrt(2.5));
  EXPECT_DOUBLE_EQ(iv[0].low, 2);   // 25th percentile
  EXPECT_DOUBLE_EQ(iv[0].high, 4);  // 75th
  const auto one = summarize({"x"}, {3.5}, {{1}}, 0.95);
  EXPECT_TRUE(std::isnan(one[0].se));
}

TEST(Bootstrap, ResamplesAreSeededPerReplicateAndStayInTheirBudget) {
  EXPECT_EQ(resample_indices(50, 9, 3), resample_indices(50, 9, 3));
  EXPECT_NE(resample_indices(50, 9, 3), resample_indices(50, 9, 4));
  const std::vector<std::vector<std::size_t>> groups{{0, 1, 2}, {3, 4, 5, 6}};
  const auto rows = resample_within(groups, 1, 0);
  ASSERT_EQ(rows.size(), 7u);
  for (int i = 0; i < 3; ++i) EXPECT_LT(rows[i], 3u);
  for (int i = 3; i < 7; ++i) EXPECT_GE(rows[i], 3u);
}

TEST(Holdout, CleanDataPredictsTheLargestBudget) {
  const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(kChinchilla));
  const Holdout h = holdout_largest_budget(Law::chinchilla, obs, small_grid());
  EXPECT_EQ(h.budget, 1e21);
  EXPECT_EQ(h.n_train, 36u);
  ASSERT_EQ(h.runs.size(), 9u);
  EXPECT_LT(h.max_rel_error, 1e-9);
}

TEST(Holdout, NoisyDataErrorIsMeasuredOnTheHeldOutRunsOnly) {
  const auto obs = noisy_runs(13);
  const Holdout h = holdout_largest_budget(Law::chinchilla, obs, small_grid());
  ASSERT_EQ(h.runs.size(), 9u);
  double mean = 0, worst = 0;
  for (const auto& r : h.runs) {
    EXPECT_DOUBLE_EQ(r.rel_error, std::abs(r.predicted - r.loss) / r.loss);
    mean += r.rel_error / 9;
    worst = std::max(worst, r.rel_error);
  }
  EXPECT_DOUBLE_EQ(h.mean_rel_error, mean);
  EXPECT_EQ(h.max_rel_error, worst);
  EXPECT_GT(h.mean_rel_error, 1e-4);  // 1% noise: not exact
  EXPECT_LT(h.mean_rel_error, 0.03);
}

TEST(Holdout, NeedsTwoBudgets) {
  const auto obs = test::with_losses(test::isoflop_design({1e19}, 5), chinchilla_model(kChinchilla));
  EXPECT_EQ(error_of([&] { holdout_largest_budget(Law::chinchilla, obs, small_grid()); }),
            "holdout: needs runs at two or more compute budgets");
}

TEST(Goodness, RSquaredGoldenValue) {
  const std::vector<double> y{1, 2, 3, 4}, p{1.1, 1.9, 3.2, 3.8};
  EXPECT_DOUBLE_EQ(r_squared(y, p), 1 - 0.1 / 5);
}

TEST(Goodness, ResidualsAreLogPredictedMinusLogObserved) {
  const Model m = chinchilla_model(kChinchilla);
  std::vector<Observation> obs{{.N = 1e9, .D = 2e10, .loss = 2.5}};
  EXPECT_DOUBLE_EQ(log_residuals(m, obs)[0], std::log(2.5800478722379934 / 2.5));
  obs[0].loss = 2.5800478722379934;
  EXPECT_NEAR(log_residuals(m, obs)[0], 0, 1e-15);
}

}  // namespace
}  // namespace dlcm::fitting
