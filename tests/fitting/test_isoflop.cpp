#include <gtest/gtest.h>

#include <algorithm>

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

// The factor by which a least-squares parabola misplaces the optimum of a Chinchilla isoFLOP curve
// sampled at log N = log N* + t_k. Along the curve (D = C/6N) L − E ∝ β·e^(−αt) + α·e^(βt), whatever
// C: at the optimum the two terms stand β : α. On t symmetric about 0 the parabola's linear
// coefficient is Σt·y/Σt², its quadratic one the slope of y on t² − mean(t²).
double parabola_bias(double alpha, double beta, const std::vector<double>& t) {
  double tt = 0, ty = 0, t2 = 0;
  for (double x : t) t2 += x * x / static_cast<double>(t.size());
  double s22 = 0, s2y = 0;
  for (double x : t) {
    const double y = beta * std::exp(-alpha * x) + alpha * std::exp(beta * x);
    tt += x * x, ty += x * y;
    s22 += (x * x - t2) * (x * x - t2), s2y += (x * x - t2) * y;
  }
  return std::exp(-(ty / tt) / (2 * s2y / s22));
}

TEST(Isoflop, ChinchillaIsoflopsGiveItsComputeOptimalExponent) {
  // Approach 2 on Approach 3's law. A parabola in log N only approximates an isoFLOP curve, so each
  // budget's optimum is off by ~1%; but a power law's isoFLOP curves all have one shape, so the
  // error is the same factor at every budget and the exponent beta/(alpha+beta) comes out exact.
  std::vector<Observation> runs;
  std::vector<double> t;  // one decade around the true optimum, in log N
  for (int k = 0; k < 9; ++k) t.push_back(std::log(10.0) * (-0.5 + k / 8.0));
  for (double C : {1e18, 1e19, 1e20, 1e21, 1e22}) {
    const double n_opt = chinchilla_compute_optimal(test::kChinchilla, C).N;
    for (int k = 0; k < 9; ++k) {
      const double N = n_opt * std::pow(10.0, -0.5 + k / 8.0);
      runs.push_back({.N = N, .D = C / (6 * N), .loss = 0, .C = C});
    }
  }
  const auto obs = test::with_losses(runs, chinchilla_model(test::kChinchilla));
  const Isoflop f = fit_isoflop(obs, {});
  EXPECT_NEAR(f.exponent, 0.28 / 0.62, 1e-9);
  const double bias = parabola_bias(test::kChinchilla.alpha, test::kChinchilla.beta, t);
  EXPECT_GT(bias, 1.005);  // ~1%: the curve is steeper on the small-N side
  EXPECT_LT(bias, 1.02);
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

TEST(Isoflop, ThinCappedOrUnbracketedBudgetsAreLeftOutWithTheReason) {
  auto obs = parabola_runs({1e17, 1e18, 1e19, 1e20, 1e21, 1e22});
  obs.erase(obs.begin() + 2, obs.begin() + 6);  // 1e17: 2 runs left
  for (auto& o : obs)
    if (o.C == 1e18) o.loss = 8 - o.loss;  // a cap: no minimum
  std::erase_if(obs, [](const Observation& o) {  // 1e19: only the small half, optimum above them
    return o.C == 1e19 && o.N > 0.9 * 0.1 * std::pow(1e19, 0.45);
  });
  for (auto& o : obs)
    if (o.C == 1e22) o.N = o.N < 0.1 * std::pow(1e22, 0.45) ? 1e9 : 2e9;  // two sizes only
  const Isoflop f = fit_isoflop(obs, {});
  ASSERT_EQ(f.budgets.size(), 2u);
  EXPECT_EQ(f.budgets[0].C, 1e20);
  EXPECT_NEAR(f.exponent, 0.45, 1e-10);  // the kept budgets are exact
  ASSERT_EQ(f.skipped.size(), 4u);
  EXPECT_EQ(f.skipped[0].C, 1e17);
  EXPECT_EQ(f.skipped[0].n_runs, 2u);
  EXPECT_EQ(f.skipped[0].reason, "a parabola needs at least 3 runs");
  EXPECT_EQ(f.skipped[1].reason, "loss against log N has no minimum (parabola curvature -0.2)");
  EXPECT_EQ(f.skipped[2].reason, "minimum at N = 3.55e+07, outside the runs' range [7.92e+06, 2.38e+07]");
  EXPECT_EQ(f.skipped[2].n_runs, 3u);
  EXPECT_EQ(f.skipped[3].reason, "fewer than 3 distinct values of N");
  // Kept with bracketed = false: its vertex is then an extrapolation.
  IsoflopOptions loose;
  loose.bracketed = false;
  EXPECT_EQ(fit_isoflop(obs, loose).budgets.size(), 3u);
  // The thin budget's runs get no residual; r2 is over the kept runs.
  EXPECT_EQ(f.residuals[0], 0.0);
  EXPECT_NEAR(f.r2, 1, 1e-12);
}

TEST(Isoflop, FewerThanTwoUsableBudgetsIsAnErrorNamingTheSkippedOnes) {
  auto obs = parabola_runs({1e18, 1e19});
  const std::vector<Observation> two_runs(obs.begin() + 4, obs.end());
  EXPECT_EQ(error_of([&] { fit_isoflop(two_runs, {}); }),
            "isoflop: 1 usable compute budget(s) of 2; the power law needs at least 2 (skipped "
            "C=1e+18 (2 runs): a parabola needs at least 3 runs)");
  EXPECT_EQ(error_of([&] { fit_isoflop(parabola_runs({1e18}), {}); }),
            "isoflop: 1 usable compute budget(s) of 1; the power law needs at least 2");
}

TEST(Isoflop, PlannedBudgetLabelsHoldRunsWhoseRealisedComputeDrifts) {
  // Each run spends up to 9% more or less than planned (realised R, batch rounding). Grouped by C
  // the budgets shatter into thin groups; grouped by label they fit as planned.
  auto obs = parabola_runs({1e18, 1e19, 1e20});
  const std::vector<double> drift{0.91, 1.06, 0.97, 1.09, 0.94, 1.02};
  for (std::size_t i = 0; i < obs.size(); ++i) {
    obs[i].budget = obs[i].C;
    obs[i].C *= drift[i % 6];
  }
  const Isoflop f = fit_isoflop(obs, {});
  ASSERT_EQ(f.budgets.size(), 3u);
  EXPECT_TRUE(f.skipped.empty());
  EXPECT_EQ(f.budgets[1].n_runs, 6u);
  EXPECT_NEAR(f.exponent, 0.45, 0.01);
  for (auto& o : obs) o.budget = 0;
  EXPECT_EQ(group_by_budget(obs).size(), 12u);
  EXPECT_EQ(error_of([&] { fit_isoflop(obs, {}); }).substr(0, 42), "isoflop: 0 usable compute budget(s) of 12;");
}

TEST(Isoflop, DerivedTokensUseTheComputeMap) {
  const Isoflop f = fit_isoflop(parabola_runs({1e18, 1e19, 1e20, 1e21}), {});
  const ComputeMap map{.log_k = std::log(1.2), .e = 1.05};
  const auto d = isoflop_derived(f, 1e21, map);
  const double N = d[2].second, D = d[3].second;
  EXPECT_LT(rel_error(N, 0.1 * std::pow(1e21, 0.45)), 1e-8);  // N_opt is the power law's, map or not
  EXPECT_LT(rel_error(6 * map.n_eff(N) * D, 1e21), 1e-12);      // D_opt spends C as runs are budgeted
  EXPECT_NEAR(d[1].second, 1 - 1.05 * 0.45, 1e-9);               // b = 1 - e·a
  EXPECT_DOUBLE_EQ(d[4].second, D / N);
  // Sweeping D instead: N_opt solves 6·k·N^e·D_opt = C.
  IsoflopOptions by_d;
  by_d.x = Axis::D;
  const auto e = isoflop_derived(fit_isoflop(parabola_runs({1e18, 1e19, 1e20, 1e21}), by_d), 1e21, map);
  EXPECT_LT(rel_error(6 * map.n_eff(e[2].second) * e[3].second, 1e21), 1e-12);
  // The identity map keeps C = 6ND exactly.
  const auto plain = isoflop_derived(f, 1e21);
  EXPECT_EQ(plain[3].second, 1e21 / (6 * plain[2].second));
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
  // One decade of N per budget around the true optimum (about sqrt(C/6)/10^0.8 here).
  const auto obs = test::with_losses(test::isoflop_design({1e18, 1e19, 1e20, 1e21}, 9, 1.0, 0.8),
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
  EXPECT_EQ(a.failed, 0);
}


// A family is an isoFLOP curve once some budget holds two sizes (extend then adds the third); a
// parabola needs three, which is what the report asks before it warns that a family has no fit.
TEST(Isoflop, AFamilyIsACurveFromTwoSizesAtABudgetAndAParabolaFromThree) {
  auto run = [](double N, double budget) {
    Observation o;
    o.N = N;
    o.D = budget / (6 * N);
    o.loss = 2;
    o.budget = budget;
    return o;
  };
  const std::vector<Observation> probe{run(1e4, 1e12), run(1e4, 3e12)};  // one size per budget
  const std::vector<Observation> two{run(1e4, 1e12), run(2e4, 1e12), run(1e4, 3e12)};
  const std::vector<Observation> three{run(1e4, 1e12), run(2e4, 1e12), run(4e4, 1e12)};
  EXPECT_FALSE(isoflop_family(probe));
  EXPECT_TRUE(isoflop_family(two));
  EXPECT_FALSE(isoflop_family(two, 3));
  EXPECT_TRUE(isoflop_family(three, 3));
}

}  // namespace
}  // namespace dlcm::fitting
