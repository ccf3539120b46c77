#include <gtest/gtest.h>

#include "fitting/fit.hpp"
#include "helpers.hpp"

namespace dlcm::fitting {
namespace {

using test::error_of;
using test::kChinchilla;
using test::kDlcm;
using test::rel_error;

using test::kBudgets;
using test::small_grid;

void expect_params_near(const Model& got, const Model& want, double tol) {
  const auto g = natural_params(got), w = natural_params(want);
  const auto names = param_names(want.law);
  for (std::size_t i = 0; i < w.size(); ++i)
    if (w[i] == 0) EXPECT_EQ(g[i], 0.0) << names[i];
    else EXPECT_LT(rel_error(g[i], w[i]), tol) << names[i] << " = " << g[i] << ", want " << w[i];
}

TEST(Fit, CleanChinchillaDataGivesTrueParameters) {
  const Model truth = chinchilla_model(kChinchilla);
  const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), truth);
  const Fit fit = fit_law(Law::chinchilla, obs, small_grid());
  expect_params_near(fit.model, truth, 1e-6);
  EXPECT_LT(fit.objective, 1e-20);
  EXPECT_EQ(fit.outcomes.size(), 32u);
}

TEST(Fit, CleanDlcmDataGivesTrueParametersWithTheDefaultGrid) {
  const Model truth = dlcm_model(kDlcm);
  const auto obs = test::with_losses(test::dlcm_design(), truth);
  FitOptions opt;
  const Fit fit = fit_law(Law::dlcm, obs, opt);
  EXPECT_EQ(fit.outcomes.size(), 1296u);
  expect_params_near(fit.model, truth, 1e-6);
}

TEST(Fit, DlcmWithOffsetsFixedAtZeroKeepsThemZero) {
  DlcmParams p = kDlcm;
  p.t_tok = p.t_con = p.t_data = 0;
  const Model truth = dlcm_model(p, /*offsets=*/false);
  const auto obs = test::with_losses(test::dlcm_design(), truth);
  FitOptions opt;
  opt.offsets = false;
  // Every 6th start of the default grid.
  const auto grid = dlcm_start_grid(obs);
  for (std::size_t i = 0; i < grid.size(); i += 6) opt.starts.push_back(grid[i]);
  const Fit fit = fit_law(Law::dlcm, obs, opt);
  EXPECT_FALSE(fit.model.offsets);
  expect_params_near(fit.model, truth, 1e-6);
}

TEST(Fit, NoisyDataObjectiveIsNoHigherThanAtTheTrueParameters) {
  const Model truth = chinchilla_model(kChinchilla);
  for (std::uint64_t seed : {1, 2, 3}) {
    const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), truth, 0.02, seed);
    const Fit fit = fit_law(Law::chinchilla, obs, small_grid());
    EXPECT_LE(fit.objective, huber_objective(truth, obs, 1e-3)) << "seed " << seed;
    EXPECT_EQ(fit.objective, huber_objective(fit.model, obs, 1e-3));
  }
}

TEST(Fit, OutliersDragLeastSquaresButNotHuber) {
  const Model truth = chinchilla_model(kChinchilla);
  auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), truth, 0.003, 7);
  for (std::size_t i : {3u, 14u, 25u, 40u}) obs[i].loss *= 1.25;  // diverged or mislogged runs
  FitOptions huber = small_grid();
  FitOptions least_squares = small_grid();
  least_squares.huber_delta = 10;  // every |residual| < 10: pure squared loss
  const auto h = natural_params(fit_law(Law::chinchilla, obs, huber).model);
  const auto ls = natural_params(fit_law(Law::chinchilla, obs, least_squares).model);
  // The outliers sit at large D: least squares bends the data term (B, beta) and E to reach them.
  for (int k : {0, 2, 4}) {
    const double want = natural_params(truth)[k];
    EXPECT_LT(rel_error(h[k], want), 0.01) << param_names(Law::chinchilla)[k];
    EXPECT_GT(rel_error(ls[k], want), 5 * rel_error(h[k], want)) << param_names(Law::chinchilla)[k];
  }
}

TEST(Fit, ObjectiveIsASumSoDuplicatedRunsDoubleIt) {
  const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(kChinchilla),
                                     0.02, 4);
  auto twice = obs;
  twice.insert(twice.end(), obs.begin(), obs.end());
  const Fit once = fit_law(Law::chinchilla, obs, small_grid());
  const Fit doubled = fit_law(Law::chinchilla, twice, small_grid());
  EXPECT_LT(rel_error(doubled.objective, 2 * once.objective), 1e-9);
  expect_params_near(doubled.model, once.model, 1e-5);
}

TEST(Fit, ThreadCountDoesNotChangeTheResult) {
  const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(kChinchilla),
                                     0.02, 5);
  FitOptions one = small_grid(), two = small_grid();
  one.threads = 1;
  two.threads = 2;
  const Fit a = fit_law(Law::chinchilla, obs, one), b = fit_law(Law::chinchilla, obs, two);
  EXPECT_EQ(a.model.theta, b.model.theta);
  ASSERT_EQ(a.outcomes.size(), b.outcomes.size());
  for (std::size_t i = 0; i < a.outcomes.size(); ++i) {
    EXPECT_EQ(a.outcomes[i].objective, b.outcomes[i].objective);
    EXPECT_EQ(a.outcomes[i].termination, b.outcomes[i].termination);
  }
}

TEST(Fit, EveryStartReportsHowItStopped) {
  const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(kChinchilla),
                                     0.02, 6);
  FitOptions opt = small_grid();
  const Fit fit = fit_law(Law::chinchilla, obs, opt);
  EXPECT_EQ(fit.converged_starts(), 32);
  opt.tol.max_iterations = 2;  // too few for any start
  const Fit cut = fit_law(Law::chinchilla, obs, opt);
  EXPECT_EQ(cut.converged_starts(), 0);
  for (const auto& s : cut.outcomes) EXPECT_EQ(s.termination, Termination::max_iterations);
  EXPECT_GT(cut.objective, fit.objective);
}

TEST(Fit, RefineFromTheBestFitStaysThere) {
  const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(kChinchilla),
                                     0.02, 8);
  const Fit fit = fit_law(Law::chinchilla, obs, small_grid());
  Model m = fit.model;
  const auto outcome = refine(m, obs, small_grid());
  EXPECT_TRUE(converged(outcome.termination));
  EXPECT_LE(outcome.objective, fit.objective * (1 + 1e-12));
  expect_params_near(m, fit.model, 1e-6);
}

TEST(Fit, LossRisingWithSizeGetsNoNegativeExponent) {
  // alpha = -0.1: bigger is worse, as in optimisation-limited runs. Unbounded, the fit returned
  // alpha = -0.1 exactly; bounded, the best it can do is no size term at all (A -> 0).
  ChinchillaParams worse = kChinchilla;
  worse.A = 0.01;
  worse.alpha = -0.1;
  const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(worse));
  const Fit fit = fit_law(Law::chinchilla, obs, small_grid());
  const auto p = natural_params(fit.model);
  EXPECT_GE(p[3], 0.0);
  EXPECT_LT(p[1] / std::pow(1e6, p[3]), 1e-6);  // the size term, in nats, at the smallest N
  EXPECT_GT(fit.objective, 1e-5);                // the true law is out of reach
}

TEST(Fit, ExponentBeyondThreeEndsOnTheUpperBoundAndSaysSo) {
  ChinchillaParams steep = kChinchilla;
  steep.beta = 3.5;
  steep.B = 0.3 * std::pow(1e9, 3.5);  // 0.3 nats at the fewest tokens
  std::vector<Observation> runs;
  for (double N : {1e7, 3e7, 1e8, 3e8, 1e9})
    for (double D : {1e9, 2e9, 4e9, 8e9}) runs.push_back({.N = N, .D = D, .loss = 0});
  const auto obs = test::with_losses(runs, chinchilla_model(steep));
  const Fit fit = fit_law(Law::chinchilla, obs, small_grid());
  EXPECT_EQ(natural_params(fit.model)[4], kMaxExponent);
  EXPECT_EQ(fit.active_bounds, (std::vector<std::string>{"beta"}));
  EXPECT_GT(fit.objective, 1e-8);  // the true law is out of reach
}

TEST(Fit, IdentifiedFitInsideTheBoundsHasNoActiveBound) {
  const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(kChinchilla), 0.02, 6);
  const Fit fit = fit_law(Law::chinchilla, obs, small_grid());
  EXPECT_TRUE(fit.active_bounds.empty());
  EXPECT_FALSE(fit.outcomes[fit.best].bounded);
}

TEST(Fit, BadInputsAreErrors) {
  EXPECT_EQ(error_of([] { fit_law(Law::chinchilla, {}, {}); }), "chinchilla fit: no runs");
  FitOptions opt;
  opt.starts = {{1, 2, 3}};
  const std::vector<Observation> obs{{.N = 1e8, .D = 1e10, .loss = 3}};
  EXPECT_EQ(error_of([&] { fit_law(Law::dlcm, obs, opt); }),
            "dlcm fit: a start has 3 values, the law has 11");
}

}  // namespace
}  // namespace dlcm::fitting
