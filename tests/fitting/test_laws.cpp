#include <gtest/gtest.h>

#include <cmath>

#include "fitting/laws.hpp"
#include "helpers.hpp"

namespace dlcm::fitting {
namespace {

using test::kChinchilla;
using test::kDlcm;

TEST(Laws, ChinchillaNaturalFormIsThePublishedFormula) {
  // Hoffmann et al.'s L = E + A/N^α + B/D^β with their fit (E, A, B, α, β) = (1.69, 406.4, 410.7,
  // 0.34, 0.28), written out here: kChinchilla holds those values and chinchilla_loss evaluates this.
  for (double N : {1e7, 1e9, 7e10})
    for (double D : {1e8, 2e10, 1.4e12})
      EXPECT_NEAR(chinchilla_loss(kChinchilla, N, D), 1.69 + 406.4 / std::pow(N, 0.34) + 410.7 / std::pow(D, 0.28),
                  1e-13)
          << N << " " << D;
}

TEST(Laws, LogSumExpFormEqualsNaturalForm) {
  const Model chin = chinchilla_model(kChinchilla);
  const Model dl = dlcm_model(kDlcm);
  DlcmParams no_offsets = kDlcm;
  no_offsets.t_tok = no_offsets.t_con = no_offsets.t_data = 0;
  const Model dl0 = dlcm_model(no_offsets, /*offsets=*/false);
  for (double N : {1e6, 3e8, 7e10})
    for (double D : {1e8, 2e10, 1e13}) {
      const Observation o{.N = N, .D = D, .loss = 1, .P = 0.4, .R = 3};
      EXPECT_NEAR(predict_loss(chin, o), chinchilla_loss(kChinchilla, N, D), 1e-13);
      EXPECT_NEAR(predict_loss(dl, o), dlcm_loss(kDlcm, N, 0.4, 3, D), 1e-13);
      EXPECT_NEAR(predict_loss(dl0, o), dlcm_loss(no_offsets, N, 0.4, 3, D), 1e-13);
    }
}

TEST(Laws, NaturalParametersRoundTripThroughFittingSpace) {
  const auto c = natural_params(chinchilla_model(kChinchilla));
  const std::vector<double> want{1.69, 406.4, 410.7, 0.34, 0.28};
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(c[i], want[i], 1e-12 * want[i]);
  const auto d = dlcm_params(dlcm_model(kDlcm));
  EXPECT_NEAR(d.t_con, kDlcm.t_con, 1e-9);
  EXPECT_NEAR(d.gamma, kDlcm.gamma, 1e-15);
  EXPECT_EQ(dlcm_params(dlcm_model(kDlcm, false)).t_tok, 0.0);  // fixed offsets read as 0
}

TEST(Laws, ParameterNamesAreTheJsonKeys) {
  const auto c = param_names(Law::chinchilla);
  EXPECT_EQ(std::vector<std::string_view>(c.begin(), c.end()),
            (std::vector<std::string_view>{"E", "A", "B", "alpha", "beta"}));
  const auto d = param_names(Law::dlcm);
  EXPECT_EQ(std::vector<std::string_view>(d.begin(), d.end()),
            (std::vector<std::string_view>{"E0", "A_tok", "t_tok", "delta1", "A_con", "gamma", "t_con",
                                           "delta2", "A_data", "t_data", "alpha"}));
}

// The fits use these gradients instead of autodiff: check every entry against central differences.
template <typename F>
void expect_gradient_matches_differences(F log_loss, std::vector<double> theta) {
  std::vector<double> grad(theta.size());
  log_loss(theta.data(), grad.data());
  for (std::size_t k = 0; k < theta.size(); ++k) {
    const double h = 1e-6;
    auto plus = theta, minus = theta;
    plus[k] += h;
    minus[k] -= h;
    const double numeric = (log_loss(plus.data(), nullptr) - log_loss(minus.data(), nullptr)) / (2 * h);
    EXPECT_NEAR(grad[k], numeric, 1e-8) << "parameter " << k;
  }
}

TEST(Laws, ChinchillaGradientMatchesFiniteDifferences) {
  const ChinchillaInputs x{std::log(3e8), std::log(5e9)};
  expect_gradient_matches_differences(
      [&](const double* th, double* g) { return chinchilla_log_loss(th, x, g); },
      chinchilla_model(kChinchilla).theta);
}

TEST(Laws, DlcmGradientMatchesFiniteDifferences) {
  const auto x = dlcm_inputs({.N = 2e7, .D = 5e8, .loss = 1, .P = 0.3, .R = 4});
  const auto theta = dlcm_model(kDlcm).theta;
  expect_gradient_matches_differences(
      [&](const double* th, double* g) { return dlcm_log_loss(th, x, true, g); }, theta);
  expect_gradient_matches_differences(
      [&](const double* th, double* g) { return dlcm_log_loss(th, x, false, g); }, theta);
  std::vector<double> g(11);
  dlcm_log_loss(theta.data(), x, false, g.data());
  EXPECT_EQ(g[2], 0.0);
  EXPECT_EQ(g[6], 0.0);
  EXPECT_EQ(g[9], 0.0);
}

TEST(Laws, BaselineIsTheDlcmLawWithoutItsConceptTerm) {
  // P = 0: all of N is token-level, no backbone, no compression: E0 + A_tok/N^δ1 + A_data/D^α.
  DlcmParams p = kDlcm;
  p.t_tok = p.t_con = p.t_data = 0;
  const double N = 3e7, D = 2e9;
  const double want = p.E0 + p.A_tok / std::pow(N, p.delta1) + p.A_data / std::pow(D, p.alpha);
  EXPECT_NEAR(dlcm_loss(p, N, 0, 1, D), want, 1e-13);
  const Observation base{.N = N, .D = D, .loss = 1, .P = 0, .R = 1};
  for (bool offsets : {false, true}) {
    const Model m = dlcm_model(offsets ? kDlcm : p, offsets);
    EXPECT_NEAR(predict_loss(m, base), dlcm_loss(offsets ? kDlcm : p, N, 0, 1, D), 1e-13);
    std::vector<double> g(11);
    dlcm_log_loss(m.theta.data(), dlcm_inputs(base), offsets, g.data());
    for (int i : {4, 5, 6, 7}) EXPECT_EQ(g[i], 0.0) << "concept parameter " << i;  // no term, no pull
    for (double v : g) EXPECT_TRUE(std::isfinite(v));
    expect_gradient_matches_differences(
        [&](const double* th, double* gr) { return dlcm_log_loss(th, dlcm_inputs(base), offsets, gr); },
        m.theta);
  }
  // A DLCM of the same token-level size pays the concept term on top.
  EXPECT_NEAR(dlcm_loss(p, N / 0.6, 0.4, 4, D) - want,
              p.A_con * std::pow(4.0, p.gamma) / std::pow(N / 0.6 * 0.4, p.delta2), 1e-12);
}

TEST(Laws, ComputeOptimalAllocationOfHoffmannFit) {
  // At Chinchilla's 5.76e23 FLOPs, Hoffmann et al.'s Approach 3 parameters put the optimum at 32B
  // parameters (not the 70B they trained): the known inconsistency of their published fit.
  const double C = 5.76e23;
  const auto opt = chinchilla_compute_optimal(kChinchilla, C);
  EXPECT_DOUBLE_EQ(opt.a, 0.28 / 0.62);
  EXPECT_DOUBLE_EQ(opt.b, 0.34 / 0.62);
  EXPECT_NEAR(opt.N, 32189859151.368168, 1e-4);
  EXPECT_NEAR(opt.D / opt.N, 92.64736675730495, 1e-10);
  EXPECT_NEAR(6 * opt.N * opt.D, C, 1e-12 * C);
  // And it is the minimum along the isoFLOP curve.
  auto loss_at = [&](double N) { return chinchilla_loss(kChinchilla, N, C / (6 * N)); };
  EXPECT_LT(loss_at(opt.N), loss_at(opt.N * 1.01));
  EXPECT_LT(loss_at(opt.N), loss_at(opt.N / 1.01));
}

TEST(Laws, ComputeMapRecoversNeffAsAPowerOfN) {
  // Runs budgeted at C = 6·N_eff·D with N_eff = 1.3·N^0.97, one of them 2% off.
  std::vector<Observation> obs;
  for (double N : {1e6, 1e7, 1e8, 1e9})
    obs.push_back({.N = N, .D = 1e10, .loss = 3, .C = 6 * 1.3 * std::pow(N, 0.97) * 1e10});
  ComputeMap map = fit_compute_map(obs);
  EXPECT_NEAR(map.log_k, std::log(1.3), 1e-10);
  EXPECT_NEAR(map.e, 0.97, 1e-12);
  EXPECT_LT(map.max_rel_error, 1e-12);
  EXPECT_NEAR(map.n_eff(1e8), 1.3 * std::pow(1e8, 0.97), 1e-3);
  obs[2].C *= 1.02;
  EXPECT_NEAR(fit_compute_map(obs).max_rel_error, 0.0137662, 1e-6);  // the fit absorbs part of it
  // One N: a constant ratio. No C: the identity, whose n_eff is N exactly.
  const std::vector<Observation> one{{.N = 5e7, .D = 1e9, .loss = 3, .C = 6 * 1.1 * 5e7 * 1e9}};
  EXPECT_EQ(fit_compute_map(one).e, 1.0);
  EXPECT_NEAR(fit_compute_map(one).n_eff(5e7), 1.1 * 5e7, 1e-6);
  const std::vector<Observation> bare{{.N = 5e7, .D = 1e9, .loss = 3}};
  EXPECT_EQ(fit_compute_map(bare).n_eff(12345.678), 12345.678);
}

TEST(Laws, ComputeOptimalUnderAComputeMapSpendsCAndMinimisesTheLoss) {
  const ComputeMap map{.log_k = std::log(1.25), .e = 1.04};
  const double C = 1e21;
  const auto opt = chinchilla_compute_optimal(kChinchilla, C, map);
  // It spends C as runs are budgeted (6ND would spend ~2.3x less: the old D_opt = C/(6 N_opt))...
  EXPECT_NEAR(6 * map.n_eff(opt.N) * opt.D, C, 1e-9 * C);
  // ...and is the minimum along that isoFLOP curve.
  auto loss_at = [&](double N) { return chinchilla_loss(kChinchilla, N, C / (6 * map.n_eff(N))); };
  EXPECT_LT(loss_at(opt.N), loss_at(opt.N * 1.001));
  EXPECT_LT(loss_at(opt.N), loss_at(opt.N / 1.001));
  // a = beta/(alpha + e·beta), b = alpha/(alpha + e·beta): the slopes of N_opt and D_opt in C.
  const double s = 0.34 + 1.04 * 0.28;
  EXPECT_DOUBLE_EQ(opt.a, 0.28 / s);
  EXPECT_DOUBLE_EQ(opt.b, 0.34 / s);
  const auto up = chinchilla_compute_optimal(kChinchilla, C * 1.01, map);
  EXPECT_NEAR(std::log(up.N / opt.N) / std::log(1.01), opt.a, 1e-9);
  EXPECT_NEAR(std::log(up.D / opt.D) / std::log(1.01), opt.b, 1e-9);
  // The identity map is C = 6ND, bit for bit.
  const auto plain = chinchilla_compute_optimal(kChinchilla, 5.76e23);
  const auto identity = chinchilla_compute_optimal(kChinchilla, 5.76e23, ComputeMap{});
  EXPECT_EQ(plain.N, 32189859151.368168);
  EXPECT_EQ(identity.N, plain.N);
  EXPECT_EQ(identity.D, plain.D);
}

// A baseline's N_eff/N falls with size (LM head and attention grow like d, N like d²); a power law
// of it extrapolated decades past its runs would price N_eff below N itself. Beyond the runs the
// ratio is held, and the optimum there is found numerically.
TEST(Laws, ComputeMapHoldsItsRatioBeyondTheFittedRuns) {
  std::vector<Observation> obs;
  for (double N : {1e5, 3e5, 1e6}) obs.push_back({.N = N, .D = 1e9, .loss = 3, .C = 6 * (N + 40 * std::sqrt(N)) * 1e9});
  const auto map = fit_compute_map(obs);
  EXPECT_LT(map.e, 1);
  const double ratio_hi = map.n_eff(1e6) / 1e6;
  EXPECT_GT(ratio_hi, 1);
  EXPECT_NEAR(map.n_eff(1e9) / 1e9, ratio_hi, 1e-12);  // held, not extrapolated below 1
  EXPECT_NEAR(map.n_eff(1e3) / 1e3, map.n_eff(1e5) / 1e5, 1e-12);
  // An optimum far beyond the runs: still the minimum along the budget, spending C.
  const double C = 1e22;
  const auto opt = chinchilla_compute_optimal(kChinchilla, C, map);
  ASSERT_GT(opt.N, 1e6);
  EXPECT_NEAR(6 * map.n_eff(opt.N) * opt.D, C, 1e-9 * C);
  auto loss_at = [&](double N) { return chinchilla_loss(kChinchilla, N, C / (6 * map.n_eff(N))); };
  EXPECT_LE(loss_at(opt.N), loss_at(opt.N * 1.001));
  EXPECT_LE(loss_at(opt.N), loss_at(opt.N / 1.001));
  // There the ratio is constant, so the slopes are Hoffmann's: a = beta/(alpha+beta).
  EXPECT_NEAR(opt.a, 0.28 / (0.34 + 0.28), 1e-6);
}

TEST(Laws, DerivedTokensPerParameterUseTheComputeMap) {
  const ComputeMap map{.log_k = std::log(1.2), .e = 1};
  const auto d = derived_quantities(chinchilla_model(kChinchilla), 5.76e23, map);
  const double N = d[2].second, D = d[3].second;
  EXPECT_NEAR(6 * 1.2 * N * D, 5.76e23, 1e-9 * 5.76e23);
  EXPECT_DOUBLE_EQ(d[4].second, D / N);
  // N_opt and D_opt are those of C/1.2 under C = 6ND: tokens per parameter scale by 1.2^-(b - a).
  EXPECT_NEAR(d[4].second, 92.64736675730495 / std::pow(1.2, (0.34 - 0.28) / 0.62), 1e-9);
}

TEST(Laws, ExponentsAreBoundedAndGammaMayTakeEitherSign) {
  for (std::size_t i : {3u, 4u}) EXPECT_EQ(param_bounds(Law::chinchilla, i).lower, 0.0);
  EXPECT_EQ(param_bounds(Law::chinchilla, 4).upper, 3.0);
  EXPECT_TRUE(std::isinf(param_bounds(Law::chinchilla, 1).upper));  // log A
  for (std::size_t i : {3u, 7u, 10u}) EXPECT_EQ(param_bounds(Law::dlcm, i).lower, 0.0);
  EXPECT_EQ(param_bounds(Law::dlcm, 5).lower, -3.0);  // gamma
  ChinchillaParams p = kChinchilla;
  p.alpha = 0;
  p.beta = 3;
  EXPECT_EQ(active_bounds(chinchilla_model(p)), (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_TRUE(active_bounds(chinchilla_model(kChinchilla)).empty());
}

TEST(Laws, DerivedQuantitiesForChinchillaOnly) {
  const auto d = derived_quantities(chinchilla_model(kChinchilla), 5.76e23);
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0].first, "a");
  EXPECT_EQ(d[4].first, "tokens_per_param");
  EXPECT_NEAR(d[4].second, 92.64736675730495, 1e-10);
  EXPECT_TRUE(derived_quantities(dlcm_model(kDlcm), 1e20).empty());
}

TEST(Laws, HuberIsHalfSquareWithinDeltaAndLinearBeyond) {
  EXPECT_DOUBLE_EQ(huber(5e-4, 1e-3), 1.25e-7);
  EXPECT_DOUBLE_EQ(huber(-5e-4, 1e-3), 1.25e-7);
  EXPECT_DOUBLE_EQ(huber(3e-3, 1e-3), 1e-3 * 2.5e-3);
  EXPECT_DOUBLE_EQ(huber(-3e-3, 1e-3), 1e-3 * 2.5e-3);
  EXPECT_DOUBLE_EQ(huber_slope(5e-4, 1e-3), 5e-4);
  EXPECT_DOUBLE_EQ(huber_slope(-3e-3, 1e-3), -1e-3);
}

TEST(Laws, ObjectiveIsTheSumOverRuns) {
  const Model m = chinchilla_model(kChinchilla);
  std::vector<Observation> obs{{.N = 1e8, .D = 1e10, .loss = 3}, {.N = 1e9, .D = 2e10, .loss = 2.6}};
  const double r0 = predict_log_loss(m, obs[0]) - std::log(3.0);
  const double r1 = predict_log_loss(m, obs[1]) - std::log(2.6);
  EXPECT_DOUBLE_EQ(huber_objective(m, obs, 1e-3), huber(r0, 1e-3) + huber(r1, 1e-3));
}

TEST(Laws, HoffmannGridHas4500StartsLastAxisFastest) {
  const auto g = chinchilla_start_grid();
  ASSERT_EQ(g.size(), 4500u);
  EXPECT_EQ(g.front(), (std::vector<double>{-1, 0, 0, 0, 0}));
  EXPECT_EQ(g[1], (std::vector<double>{-1, 0, 0, 0, 0.5}));
  EXPECT_EQ(g.back(), (std::vector<double>{1, 25, 25, 2, 2}));
}

TEST(Laws, DlcmGridStartsEachTermAtATenthOrOneNatAtTheMedianRun) {
  const auto obs = test::with_losses(test::dlcm_design(), dlcm_model(kDlcm));
  const auto g = dlcm_start_grid(obs);
  ASSERT_EQ(g.size(), 1296u);
  // The design's median run: N = 1e8, P = 0.5, R = 4, D = 1e10.
  const Observation median{.N = 1e8, .D = 1e10, .loss = 1, .P = 0.5, .R = 4};
  const auto x = dlcm_inputs(median);
  for (const auto& th : {g.front(), g[777], g.back()}) {
    const double tok = std::exp(th[1] - th[3] * x.log_ntok);
    const double con = std::exp(th[4] + th[5] * x.log_r - th[7] * x.log_ncon);
    const double data = std::exp(th[8] - th[10] * x.log_d);
    for (double v : {tok, con, data}) EXPECT_TRUE(std::abs(v - 0.1) < 1e-12 || std::abs(v - 1) < 1e-12) << v;
    EXPECT_NEAR(std::exp(th[2]), 0.1 * 1e7 * 0.3, 1e-3);  // a tenth of the smallest N(1-P)
  }
}

TEST(Laws, GroupByBudgetMergesRunsWithinTolerance) {
  std::vector<Observation> obs;
  for (double C : {3e18, 1e18, 1.04e18, 3.1e18, 1e19}) obs.push_back({.N = 1, .D = 1, .loss = 1, .C = C});
  const auto groups = group_by_budget(obs, 0.05);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0], (std::vector<std::size_t>{1, 2}));
  EXPECT_EQ(groups[1], (std::vector<std::size_t>{0, 3}));
  EXPECT_EQ(groups[2], (std::vector<std::size_t>{4}));
}

TEST(Laws, GroupByBudgetFollowsPlannedBudgetsWhenEveryRunHasOne) {
  // Realised compute within ~10% of the plan: grouped by C these would be five budgets.
  std::vector<Observation> obs;
  for (auto [C, budget] : std::vector<std::pair<double, double>>{
           {0.92e18, 1e18}, {1.09e18, 1e18}, {1.0e18, 1e18}, {2.9e18, 3e18}, {3.25e18, 3e18}})
    obs.push_back({.N = 1, .D = 1, .loss = 1, .C = C, .budget = budget});
  auto groups = group_by_budget(obs);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(groups[1], (std::vector<std::size_t>{3, 4}));
  obs[4].budget = 0;  // one unlabelled run: back to grouping by C
  EXPECT_EQ(group_by_budget(obs).size(), 5u);
}

}  // namespace
}  // namespace dlcm::fitting
