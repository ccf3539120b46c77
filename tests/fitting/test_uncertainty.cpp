#include <gtest/gtest.h>

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
