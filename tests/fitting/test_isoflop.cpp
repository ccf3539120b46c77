#include <gtest/gtest.h>

#include "fitting/isoflop.hpp"
#include "helpers.hpp"

namespace dlcm::fitting {
namespace {

using test::error_of;
using test::rel_error;

// Runs whose loss is an exact parabola in log N around N*(C) = 0.1·C^0.45, lopsided samples.
std::vector<Observation> parabola_runs(const std::vector<double>& budgets) {
  std::vector<Observation> obs;
  for (double C : budgets) {
    const double log_opt = std::log(0.1) + 0.45 * std::log(C);
    for (double du : {-1.5, -0.9, -0.4, 0.0, 0.3, 0.7}) {
      const double N = std::exp(log_opt + du);
      obs.push_back({.N = N, .D = C / (6 * N), .loss = 4 - 0.05 * std::log10(C) + 0.2 * du * du, .C = C});
    }
  }
  return obs;
}

TEST(Isoflop, ParabolaRecoversTheKnownOptimumAndPowerLaw) {
  const std::vector<double> budgets{1e18, 1e19, 1e20, 1e21};
  const Isoflop f = fit_isoflop(parabola_runs(budgets), {});
  ASSERT_EQ(f.budgets.size(), 4u);
  for (std::size_t k = 0; k < 4; ++k) {
    const auto& b = f.budgets[k];
    EXPECT_DOUBLE_EQ(b.C, budgets[k]);
    EXPECT_EQ(b.n_runs, 6u);
    EXPECT_LT(rel_error(b.x_opt, 0.1 * std::pow(budgets[k], 0.45)), 1e-9);
    EXPECT_NEAR(b.loss_opt, 4 - 0.05 * std::log10(budgets[k]), 1e-12);
    EXPECT_NEAR(b.curvature, 0.2, 1e-12);
    EXPECT_LT(b.log_x_opt_se, 1e-6);  // exact data: no residual spread
  }
  EXPECT_NEAR(f.exponent, 0.45, 1e-10);
  EXPECT_LT(rel_error(f.coefficient, 0.1), 1e-8);
  EXPECT_NEAR(f.r2, 1, 1e-12);
}

TEST(Isoflop, SweepingTokensGivesTheComplementaryExponent) {
  IsoflopOptions opt;
  opt.x = Axis::D;
  const Isoflop f = fit_isoflop(parabola_runs({1e18, 1e19, 1e20, 1e21}), opt);
  // D* = C/(6 N*) = C^0.55 / 0.6
  EXPECT_NEAR(f.exponent, 0.55, 1e-10);
  EXPECT_LT(rel_error(f.coefficient, 1 / 0.6), 1e-8);
  const auto d = isoflop_derived(f, 1e21);
  EXPECT_EQ(d[0].first, "a");
  EXPECT_NEAR(d[0].second, 0.45, 1e-10);
  EXPECT_LT(rel_error(d[2].second, 0.1 * std::pow(1e21, 0.45)), 1e-8);  // N_opt
}

TEST(Isoflop, ChinchillaIsoflopsGiveItsComputeOptimalExponent) {
  // Approach 2 on Approach 3's law. A parabola in log N only approximates an isoFLOP curve, so each
  // budget's optimum is off by ~1%; but a power law's isoFLOP curves all have one shape, so the
  // error is the same factor at every budget and the exponent beta/(alpha+beta) comes out exact.
  std::vector<Observation> runs;
  for (double C : {1e18, 1e19, 1e20, 1e21, 1e22}) {
    const double n_opt = chinchilla_compute_optimal(test::kChinchilla, C).N;
    for (int k = 0; k < 9; ++k) {  // one decade around the true optimum
      const double N = n_opt * std::pow(10.0, -0.5 + k / 8.0);
      runs.push_back({.N = N, .D = C / (6 * N), .loss = 0, .C = C});
    }
  }
  const auto obs = test::with_losses(runs, chinchilla_model(test::kChinchilla));
  const Isoflop f = fit_isoflop(obs, {});
  EXPECT_NEAR(f.exponent, 0.28 / 0.62, 1e-9);
  const double bias = f.budgets[0].x_opt / chinchilla_compute_optimal(test::kChinchilla, 1e18).N;
  EXPECT_NEAR(bias, 1.0098, 1e-4);
  for (const auto& b : f.budgets)
    EXPECT_NEAR(b.x_opt / chinchilla_compute_optimal(test::kChinchilla, b.C).N, bias, 1e-9) << b.C;
}

TEST(Isoflop, DeltaMethodErrorNeedsMoreRunsThanParameters) {
  const auto all = parabola_runs({1e18, 1e19});
  std::vector<Observation> obs(all.begin() + 3, all.end());  // 3 runs left at 1e18
  obs[7].loss += 0.01;
  const Isoflop f = fit_isoflop(obs, {});
  EXPECT_TRUE(std::isnan(f.budgets[0].log_x_opt_se));
  EXPECT_GT(f.budgets[1].log_x_opt_se, 1e-3);
}

TEST(Isoflop, ErrorsNameTheBudget) {
  auto obs = parabola_runs({1e18, 1e19});
  const std::vector<Observation> two_runs(obs.begin() + 4, obs.end());
  EXPECT_EQ(error_of([&] { fit_isoflop(two_runs, {}); }),
            "isoflop: budget C=1e+18 has 2 run(s); a parabola needs at least 3");
  auto cap = obs;
  for (auto& o : cap) o.loss = 8 - o.loss;
  EXPECT_EQ(error_of([&] { fit_isoflop(cap, {}); }),
            "isoflop: budget C=1e+18: loss against log N has no minimum (parabola curvature -0.2)");
  auto repeated = obs;
  for (int i = 0; i < 6; ++i) repeated[i].N = i < 3 ? 1e7 : 2e7;
  EXPECT_EQ(error_of([&] { fit_isoflop(repeated, {}); }),
            "isoflop: budget C=1e+18 has fewer than 3 distinct values of N");
  EXPECT_EQ(error_of([&] { fit_isoflop(parabola_runs({1e18}), {}); }),
            "isoflop: 1 compute budget(s); the power law needs at least 2");
}

TEST(Isoflop, HoldoutPredictsTheLargestBudgetsOptimum) {
  const Isoflop f = fit_isoflop(parabola_runs({1e18, 1e19, 1e20, 1e21}), {});
  const auto h = isoflop_holdout(f);
  EXPECT_EQ(h.budget, 1e21);
  EXPECT_LT(h.rel_error, 1e-8);
  EXPECT_LT(rel_error(h.predicted, 0.1 * std::pow(1e21, 0.45)), 1e-8);
  const Isoflop two = fit_isoflop(parabola_runs({1e18, 1e19}), {});
  EXPECT_EQ(error_of([&] { isoflop_holdout(two); }),
            "isoflop holdout: needs 3 or more budgets (2 to fit, 1 to predict)");
}

TEST(Isoflop, BootstrapIsReproducibleAndBracketsTheEstimate) {
  const Model truth = chinchilla_model(test::kChinchilla);
  const auto obs = test::with_losses(test::isoflop_design({1e18, 1e19, 1e20, 1e21}, 9, 1.0, 0.0),
                                     truth, 0.005, 3);
  const Isoflop f = fit_isoflop(obs, {});
  const BootstrapOptions boot{.replicates = 300, .seed = 5};
  const auto a = bootstrap_isoflop(f, obs, {}, boot, 1e21);
  const auto b = bootstrap_isoflop(f, obs, {}, boot, 1e21);
  ASSERT_EQ(a.intervals.size(), 7u);  // exponent, coefficient, a, b, N_opt, D_opt, tokens_per_param
  EXPECT_EQ(a.intervals[0].name, "exponent");
  for (std::size_t k = 0; k < a.intervals.size(); ++k) {
    EXPECT_EQ(a.intervals[k].low, b.intervals[k].low);
    EXPECT_LT(a.intervals[k].low, a.intervals[k].estimate) << a.intervals[k].name;
    EXPECT_GT(a.intervals[k].high, a.intervals[k].estimate) << a.intervals[k].name;
  }
  EXPECT_EQ(a.intervals[0].estimate, f.exponent);
}

}  // namespace
}  // namespace dlcm::fitting
