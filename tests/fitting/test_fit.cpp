#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "fitting/fit.hpp"
#include "fitting/profile.hpp"
#include "helpers.hpp"

namespace dlcm::fitting {
namespace {

using test::error_of;
using test::kChinchilla;
using test::kDlcm;
using test::rel_error;

using test::kBudgets;
using test::small_grid;

std::string fmt_double(double x) { return fmt::format("{:.17g}", x); }

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
  opt.search = Search::grid;
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

TEST(Fit, DlcmLawFitsBaselinesAsItsPZeroCase) {
  DlcmParams p = kDlcm;
  p.t_tok = p.t_con = p.t_data = 0;
  const Model truth = dlcm_model(p, /*offsets=*/false);
  auto design = test::dlcm_design();
  for (double N : {1e7, 3e7, 1e8, 3e8, 1e9})
    for (double D : {1e9, 1e10, 1e11}) design.push_back({.N = N, .D = D, .P = 0, .R = 1});
  const auto obs = test::with_losses(design, truth);
  FitOptions opt;
  opt.offsets = false;
  const auto grid = dlcm_start_grid(obs);
  for (std::size_t i = 0; i < grid.size(); i += 6) opt.starts.push_back(grid[i]);
  const Fit fit = fit_law(Law::dlcm, obs, opt);
  expect_params_near(fit.model, truth, 1e-6);
  EXPECT_LT(fit.objective, 1e-20);
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

// The profile search (the default) against Hoffmann's 4500-start grid on the same table: the same
// optimum, to 1e-9 in objective, or a lower one.
struct Searches {
  Fit profile, grid;
};
Searches fit_both(const std::vector<Observation>& obs) {
  FitOptions profile, grid;
  grid.search = Search::grid;
  Searches s{fit_law(Law::chinchilla, obs, profile), fit_law(Law::chinchilla, obs, grid)};
  EXPECT_EQ(s.grid.outcomes.size(), 4500u);
  EXPECT_LE(s.profile.objective, s.grid.objective * (1 + 1e-9) + 1e-300);
  EXPECT_EQ(s.profile.active_bounds, s.grid.active_bounds);
  return s;
}

TEST(ProfileSearch, NoisyIsoflopTablesReachTheGridOptimum) {
  // Golden: the grid's optimum on seed 1 (objective and natural parameters), which both must give.
  const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(kChinchilla), 0.015, 1);
  const auto s = fit_both(obs);
  EXPECT_LE(s.profile.outcomes.size(), static_cast<std::size_t>(kProfileStarts));  // no fallback to the grid
  const std::vector<double> golden{1.6496157496910391, 712.99619948644022, 295.80657697304531, 0.37462406128648851,
                                   0.26012284507130584};
  EXPECT_LT(rel_error(s.grid.objective, 0.00052439797926353486), 1e-9) << fmt_double(s.grid.objective);
  EXPECT_LT(rel_error(s.profile.objective, 0.00052439797926353486), 1e-9) << fmt_double(s.profile.objective);
  const auto p = natural_params(s.profile.model), g = natural_params(s.grid.model);
  for (std::size_t k = 0; k < 5; ++k) {
    EXPECT_LT(rel_error(g[k], golden[k]), 1e-6) << param_names(Law::chinchilla)[k] << " " << fmt_double(g[k]);
    EXPECT_LT(rel_error(p[k], golden[k]), 1e-5) << param_names(Law::chinchilla)[k] << " " << fmt_double(p[k]);
  }
  for (std::uint64_t seed : {2, 3, 4}) {
    SCOPED_TRACE(seed);
    fit_both(test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(kChinchilla), 0.03, seed));
  }
}

TEST(ProfileSearch, CleanDataGivesTrueParametersWithoutTheGrid) {
  const Model truth = chinchilla_model(kChinchilla);
  const auto obs = test::with_losses(test::isoflop_design(kBudgets, 9), truth);
  const Fit fit = fit_law(Law::chinchilla, obs, FitOptions{});
  expect_params_near(fit.model, truth, 1e-6);
  EXPECT_LT(fit.objective, 1e-20);
  EXPECT_LE(fit.outcomes.size(), static_cast<std::size_t>(kProfileStarts));
}

TEST(ProfileSearch, ExponentOnItsUpperBoundMatchesTheGrid) {
  ChinchillaParams steep = kChinchilla;  // beta = 3.5, beyond kMaxExponent
  steep.beta = 3.5;
  steep.B = 0.3 * std::pow(1e9, 3.5);
  std::vector<Observation> runs;
  for (double N : {1e7, 3e7, 1e8, 3e8, 1e9})
    for (double D : {1e9, 2e9, 4e9, 8e9}) runs.push_back({.N = N, .D = D, .loss = 0});
  const auto s = fit_both(test::with_losses(runs, chinchilla_model(steep), 0.01, 5));
  EXPECT_EQ(natural_params(s.profile.model)[4], kMaxExponent);
  EXPECT_EQ(s.profile.active_bounds, (std::vector<std::string>{"beta"}));
  EXPECT_LT(rel_error(s.profile.objective, s.grid.objective), 1e-9);
}

TEST(ProfileSearch, TermThatRisesWithSizeIsDroppedAsByTheGrid) {
  ChinchillaParams worse = kChinchilla;  // alpha = -0.1: the size term goes to A -> 0
  worse.A = 0.01;
  worse.alpha = -0.1;
  const auto s = fit_both(test::with_losses(test::isoflop_design(kBudgets, 9), chinchilla_model(worse), 0.01, 6));
  const auto p = natural_params(s.profile.model);
  EXPECT_LT(p[1] / std::pow(1e6, p[3]), 1e-6);
}

TEST(ProfileSearch, RidgeOfOneTokenCountReachesTheGridObjective) {
  std::vector<Observation> runs;  // E, B, beta not identified: any point of the ridge will do
  for (int k = 0; k < 12; ++k) runs.push_back({.N = 1e7 * std::pow(10.0, 3.0 * k / 11), .D = 2e10, .loss = 0});
  fit_both(test::with_losses(runs, chinchilla_model(kChinchilla), 0.01, 3));
}

TEST(ProfileSearch, AmplitudesSolveTheirNonnegativeProblem) {
  // Exact data from E = 2, A = 0, B = 3 (features 1, x, y): the solve returns them, A at its bound 0.
  std::vector<double> z, loss;
  for (int i = 0; i < 10; ++i) {
    const double x = 1 + i, y = 1.0 / (1 + i * i);
    z.insert(z.end(), {1, x, y});
    loss.push_back(2 + 3 * y);
  }
  std::array<double, 3> c{};
  EXPECT_LT(solve_amplitudes<3>(z, loss, 1e-3, c.data()), 1e-25);
  EXPECT_NEAR(c[0], 2, 1e-12);
  EXPECT_GE(c[1], 0);
  EXPECT_LT(c[1], 1e-12);
  EXPECT_NEAR(c[2], 3, 1e-12);
  // Loss falling with x: least squares would take A < 0; the solve holds it at exactly 0.
  for (int i = 0; i < 10; ++i) loss[i] -= 0.05 * (1 + i);
  c = {};
  EXPECT_TRUE(std::isfinite(solve_amplitudes<3>(z, loss, 1e-3, c.data())));
  EXPECT_EQ(c[1], 0);
  EXPECT_GT(c[0], 0);
}

// The dlcm profile search against the 1296-start grid on a 36-run table (3 sizes x 2 shares x 2
// ratios x 3 token counts, 1 % noise): the same optimum, to 1e-9 in objective, or a lower one.
std::vector<Observation> small_dlcm_design() {
  std::vector<Observation> obs;
  for (double N : {1e7, 1e8, 1e9})
    for (double P : {0.4, 0.7})
      for (double R : {2.0, 4.0})
        for (double D : {1e9, 1e10, 1e11}) obs.push_back({.N = N, .D = D, .loss = 0, .P = P, .R = R});
  return obs;
}

struct DlcmSearches {
  Fit profile, grid;
};
DlcmSearches fit_dlcm_both(const std::vector<Observation>& obs, bool offsets) {
  FitOptions profile, grid;
  profile.offsets = grid.offsets = offsets;
  grid.search = Search::grid;
  DlcmSearches s{fit_law(Law::dlcm, obs, profile), fit_law(Law::dlcm, obs, grid)};
  EXPECT_EQ(s.grid.outcomes.size(), 1296u);
  EXPECT_LE(s.profile.objective, s.grid.objective * (1 + 1e-9)) << fmt_double(s.profile.objective) << " against "
                                                                 << fmt_double(s.grid.objective);
  return s;
}

void expect_golden(const Fit& fit, double objective, const std::vector<double>& params, double tol) {
  EXPECT_LT(rel_error(fit.objective, objective), 1e-9) << fmt_double(fit.objective);
  const auto p = natural_params(fit.model);
  for (std::size_t k = 0; k < params.size(); ++k)
    if (params[k] == 0) EXPECT_EQ(p[k], 0) << param_names(Law::dlcm)[k];
    else EXPECT_LT(rel_error(p[k], params[k]), tol) << param_names(Law::dlcm)[k] << " " << fmt_double(p[k]);
}

// kDlcm without offsets on small_dlcm_design, 1 % noise.
std::vector<Observation> zero_offset_table() {
  DlcmParams truth = kDlcm;
  truth.t_tok = truth.t_con = truth.t_data = 0;
  return test::with_losses(small_dlcm_design(), dlcm_model(truth, false), 0.01, 11);
}

TEST(DlcmProfileSearch, ZeroOffsetsReachTheGridOptimum) {
  const auto s = fit_dlcm_both(zero_offset_table(), false);
  EXPECT_FALSE(s.profile.model.offsets);
  EXPECT_EQ(s.profile.active_bounds, s.grid.active_bounds);
  EXPECT_EQ(s.profile.outcomes.size(), 1u);  // one minimum of the profile, no fallback to the grid
  // Golden: the grid's optimum (objective and natural parameters), which both give.
  const std::vector<double> golden{1.5491194620596456, 430.90171202037334, 0, 0.4624665612774415, 54.06983161906779,
                                   0.24997664721935858, 0, 0.3164007330334195, 218.28736426158343, 0,
                                   0.28435540603304116};
  for (const Fit* f : {&s.profile, &s.grid}) expect_golden(*f, 0.00020370112566542753, golden, 1e-6);
}

TEST(DlcmProfileSearch, GammaOnItsUpperBoundMatchesTheGrid) {
  DlcmParams steep = kDlcm;  // gamma = 4, beyond kMaxExponent: the fit ends on gamma = 3
  steep.t_tok = steep.t_con = steep.t_data = 0;
  steep.gamma = 4;
  steep.A_con = 0.05 * std::pow(4e6, steep.delta2) / std::pow(2.0, steep.gamma);  // 0.05 nats at R 2, N·P 4e6
  const auto obs = test::with_losses(small_dlcm_design(), dlcm_model(steep, false), 0.01, 12);
  const auto s = fit_dlcm_both(obs, false);
  EXPECT_LT(s.profile.outcomes.size(), 1296u);
  EXPECT_EQ(natural_params(s.profile.model)[5], kMaxExponent);
  EXPECT_EQ(s.profile.active_bounds, s.grid.active_bounds);
  // Golden: lower than the grid's 2.2590261e-4, whose bounded Levenberg-Marquardt starts stop short on
  // the bound gamma = 3 where the active-set polish does not.
  expect_golden(s.profile, 0.00022557095593901471, {}, 0);
}

TEST(DlcmProfileSearch, FittedOffsetsOnZeroOffsetDataAreNoWorseThanFixedOnes) {
  // Data from a law without offsets, plus noise, that large offsets fit better (the grid's optimum:
  // t_tok 3.3e7, t_con 5.9e7, t_data 2.0e8): the search falls back to the grid and keeps the lower.
  const auto s = fit_dlcm_both(zero_offset_table(), true);
  EXPECT_TRUE(s.profile.model.offsets);
  EXPECT_GT(s.profile.outcomes.size(), 1296u);  // the profile's starts, then the grid's
  EXPECT_LE(s.profile.objective, 0.00020370112566542753);  // the zero-offset optimum above
  expect_golden(s.profile, 0.00019687332014642692, {}, 0);
}

TEST(DlcmProfileSearch, DataFromALawWithOffsetsReachTheGridObjective) {
  // kDlcm's offsets, 1 % noise: the objective is flat along t_data (with A_data, alpha and E0), the
  // grid ending at t_data 1.1e8 and the profile's polish at ~0 with an objective lower by 5e-11.
  // Whether the polish ends with offsets ~0 (no grid) or not (grid too) turns on rounding; the
  // objective does not (JointTableWithOffsetsTheDataNeedFallsBackToTheGrid pins the fallback).
  const auto obs = test::with_losses(small_dlcm_design(), dlcm_model(kDlcm), 0.01, 13);
  const auto s = fit_dlcm_both(obs, true);
  EXPECT_TRUE(s.profile.model.offsets);
  expect_golden(s.profile, 0.00028121021227490837, {}, 0);  // the grid's: 2.8121021228802266e-4
}

// small_dlcm_design's 36 DLCM runs and 9 baselines at its sizes and token counts: the joint table of
// a sweep with baselines_in_law, whose baselines (P = 0) have no concept term.
std::vector<Observation> joint_design() {
  auto obs = small_dlcm_design();
  for (double N : {1e7, 1e8, 1e9})
    for (double D : {1e9, 1e10, 1e11}) obs.push_back({.N = N, .D = D, .loss = 0, .P = 0, .R = 1});
  return obs;
}

void expect_finite(const std::vector<std::vector<double>>& starts) {
  for (const auto& s : starts)
    for (double v : s) EXPECT_TRUE(std::isfinite(v)) << fmt::format("{}", fmt::join(s, ", "));
}

TEST(DlcmProfileSearch, JointTableWithBaselinesReachesTheGridOptimum) {
  DlcmParams truth = kDlcm;
  truth.t_tok = truth.t_con = truth.t_data = 0;
  const auto obs = test::with_losses(joint_design(), dlcm_model(truth, false), 0.01, 14);
  // A baseline's concept feature is 0, not exp(delta2 · inf): every start is finite.
  const auto starts = dlcm_profile_starts(obs, {});
  EXPECT_FALSE(starts.empty());
  expect_finite(starts);
  expect_finite(dlcm_offset_starts(obs, {}, starts));
  const auto s = fit_dlcm_both(obs, false);
  EXPECT_LT(s.profile.outcomes.size(), 1296u);  // no fallback to the grid
  EXPECT_EQ(s.profile.active_bounds, s.grid.active_bounds);
  // Golden: the grid's optimum (objective and natural parameters), which both give.
  const std::vector<double> golden{1.5601691602110965, 92.481993144583868, 0, 0.34847002030490654,
                                   79.529748400681385, 0.14758519763414191, 0, 0.34276028936520747,
                                   710.81442196140404, 0, 0.34261988570719809};
  for (const Fit* f : {&s.profile, &s.grid}) expect_golden(*f, 0.0003742491253548863, golden, 1e-6);
}

TEST(DlcmProfileSearch, JointTableWithOffsetsTheDataNeedFallsBackToTheGrid) {
  // kDlcm's offsets, 1 % noise: the optimum has t_tok 2.0e7, t_con 2.6e6, t_data 6.3e7, not ~0, so
  // the profile's answer is not one its safety rule vouches for: the grid runs too, its optimum kept.
  const auto obs = test::with_losses(joint_design(), dlcm_model(kDlcm), 0.01, 15);
  const auto s = fit_dlcm_both(obs, true);
  EXPECT_TRUE(s.profile.model.offsets);
  EXPECT_GT(s.profile.outcomes.size(), 1296u);  // the profile's starts, then the grid's
  EXPECT_EQ(s.profile.model.theta, s.grid.model.theta);
  expect_golden(s.profile, 0.00025393766006168167, {}, 0);
}

TEST(DlcmProfileSearch, ConceptTermLeftOffIsSwitchedOnWhereThatLowersTheObjective) {
  // As on the main job's runs: DLCMs pay a constant on top of the baselines, A_con·R^gamma with
  // delta2 = 0 (0.02 nats at R 2), which a polish from an end with the concept term off cannot find.
  DlcmParams truth = kDlcm;
  truth.t_tok = truth.t_con = truth.t_data = 0;
  truth.delta2 = 0;
  truth.gamma = -0.4;
  truth.A_con = 0.02 * std::pow(2.0, 0.4);
  const auto obs = test::with_losses(joint_design(), dlcm_model(truth, false), 0.002, 16);
  Model off = dlcm_model(truth, false);
  off.theta[4] = std::log(1e-9);  // a_con: the term switched off
  const auto more = dlcm_switch_on_starts(obs, {}, {off.theta});
  ASSERT_EQ(more.size(), 1u);
  const Model on{Law::dlcm, more[0], false};
  EXPECT_EQ(natural_params(on)[7], 0.0);  // delta2 on its bound, as the truth
  EXPECT_GT(natural_params(on)[4], 0.01);
  EXPECT_LT(huber_objective(on, obs, 1e-3), 0.5 * huber_objective(off, obs, 1e-3));
  // Every term on: nothing to switch on.
  EXPECT_TRUE(dlcm_switch_on_starts(obs, {}, {dlcm_model(truth, false).theta}).empty());
  // The whole search reaches the grid's optimum (fit_dlcm_both), with the concept term on.
  const auto s = fit_dlcm_both(obs, false);
  EXPECT_GT(natural_params(s.profile.model)[4], 0.01);
  EXPECT_LT(s.profile.outcomes.size(), 1296u);
}

TEST(DlcmProfileSearch, OnlyBaselinesAreRefusedWithTheReason) {
  const auto joint = joint_design();
  std::vector<Observation> obs(joint.begin() + 36, joint.end());
  DlcmParams truth = kDlcm;
  truth.t_tok = truth.t_con = truth.t_data = 0;
  obs = test::with_losses(obs, dlcm_model(truth, false));
  EXPECT_EQ(error_of([&] { fit_law(Law::dlcm, obs, {}); }), "dlcm law: no DLCM run (P > 0) to fit its concept term to");
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
