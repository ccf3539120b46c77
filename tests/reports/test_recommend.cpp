// Allocation under fixed FLOPs: the optimiser against brute force, snapping to real architectures,
// the baseline's compute multiplier, and `dlcm recommend` end to end on an ingested sweep.
#include <gtest/gtest.h>

#include <cmath>

#include "core/flops.hpp"
#include "reports/allocation.hpp"
#include "reports/recommend.hpp"
#include "study_fixture.hpp"
#include "test_util.hpp"

using namespace dlcm;
using namespace dlcm::reports;

namespace {

// The law's minimum over a fine (log N, P) grid per ratio: what optimise() must match or beat.
Allocation brute_force(const fitting::DlcmParams& law, double C, const std::vector<double>& ratios) {
  const SearchSpace s;
  Allocation best{.loss = 1e300};
  const double u0 = std::log(s.n_min), u1 = std::log(C / (6 * s.min_tokens));
  for (double R : ratios)
    for (int i = 0; i <= 600; ++i)
      for (int j = 0; j <= 300; ++j) {
        const double N = std::exp(u0 + (u1 - u0) * i / 600), P = s.p_min + (s.p_max - s.p_min) * j / 300;
        const double D = C / (6 * approx_n_eff(N, P, R));
        const double L = fitting::dlcm_loss(law, N, P, R, D);
        if (L < best.loss) best = {N, P, R, D, approx_n_eff(N, P, R), L};
      }
  return best;
}

}  // namespace

TEST(Allocation, OptimumMatchesBruteForceAndMeetsTheBudget) {
  const double C = 1e18;
  SearchSpace s;
  s.ratios = {2, 4, 8};
  const auto a = optimise(test::kTrueDlcm, C, s);
  const auto b = brute_force(test::kTrueDlcm, C, s.ratios);
  EXPECT_LE(a.loss, b.loss + 1e-12);
  EXPECT_NEAR(a.loss, b.loss, 1e-4);  // the grid's resolution
  // A local minimum to 1e-12: no nearby (N, P) at the same budget and ratio does better.
  for (double dn : {-1e-4, 1e-4})
    for (double dp : {-1e-4, 0.0, 1e-4}) {
      const double N = a.N * (1 + dn), P = a.P + dp;
      EXPECT_GE(fitting::dlcm_loss(test::kTrueDlcm, N, P, a.R, C / (6 * approx_n_eff(N, P, a.R))), a.loss - 1e-12);
    }
  EXPECT_NEAR(std::log(a.N), std::log(b.N), 0.03);
  EXPECT_NEAR(a.P, b.P, 0.01);
  EXPECT_EQ(a.R, b.R);
  EXPECT_NEAR(6 * approx_n_eff(a.N, a.P, a.R) * a.D / C, 1.0, 1e-6);
  EXPECT_GT(a.P, s.p_min + 0.05);  // an interior optimum, not the edge of the box
  EXPECT_LT(a.P, s.p_max - 0.05);
}

TEST(Allocation, ContinuousRatioRangeBeatsEveryChoiceInIt) {
  const double C = 1e18;
  SearchSpace range;
  range.ratio_range = std::pair{1.0, 16.0};
  const auto r = optimise(test::kTrueDlcm, C, range);
  SearchSpace grid;
  grid.ratios.clear();
  for (int k = 0; k <= 40; ++k) grid.ratios.push_back(std::pow(16.0, k / 40.0));
  const auto g = optimise(test::kTrueDlcm, C, grid);
  EXPECT_LE(r.loss, g.loss + 1e-9);
  EXPECT_GE(r.R, 1.0);
  EXPECT_LE(r.R, 16.0);
}

TEST(Allocation, SnappedArchitectureIsRealAndSpendsTheBudget) {
  const double C = 1e17;
  const auto a = optimise(test::kTrueDlcm, C, {});
  ModelConfig proxy;
  proxy.d_token = 64;
  proxy.n_heads_token = 4;  // head size 16
  proxy.d_concept = 96;
  proxy.n_heads_concept = 4;  // head size 24 does not divide 64: heads of 64
  const auto s = snap(test::kTrueDlcm, C, a, proxy, BoundaryConfig{});
  EXPECT_EQ(s.model.d_token % 64, 0);
  EXPECT_EQ(s.model.d_concept % 64, 0);
  EXPECT_EQ(s.model.d_token / s.model.n_heads_token, 16);
  EXPECT_EQ(s.model.d_concept / s.model.n_heads_concept, 64);
  const auto p = count_params(s.model, s.boundary);
  EXPECT_EQ(s.N, static_cast<double>(p.total()));
  EXPECT_DOUBLE_EQ(s.P, static_cast<double>(p.backbone) / p.total());
  EXPECT_DOUBLE_EQ(s.flops_per_token, flops_per_token(s.model, s.boundary, a.R).train_flops());
  EXPECT_NEAR(s.flops_per_token * s.D / C, 1.0, 1e-12);
  EXPECT_LT(std::abs(std::log(s.N / a.N)), std::log(2.0));  // near the continuous optimum
  EXPECT_NEAR(s.loss, fitting::dlcm_loss(test::kTrueDlcm, s.N, s.P, s.R, s.D), 1e-12);
}

TEST(Allocation, BaselineComputeForItsOwnLossIsTheBudget) {
  const double C = 3e19;
  const double L = baseline_optimal_loss(test::kTrueBaseline, C);
  const auto c = baseline_compute_for_loss(test::kTrueBaseline, L, 1e10);
  ASSERT_TRUE(c);
  EXPECT_NEAR(*c / C, 1.0, 1e-9);
  EXPECT_GT(*baseline_compute_for_loss(test::kTrueBaseline, L - 0.01, C), C);  // lower loss, more compute
  EXPECT_FALSE(baseline_compute_for_loss(test::kTrueBaseline, test::kTrueBaseline.E, C));  // never reached
}

TEST(Recommend, FromAnIngestedSweepRecoversTheLawsAndPricesTheBaseline) {
  const auto dir = test::temp_dir("recommend");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, "synthetic");
  const auto study = load_study(db, "synthetic");
  EXPECT_EQ(study.dlcm.size(), 36u);
  EXPECT_EQ(study.baseline.size(), 9u);
  ASSERT_EQ(study.excluded.size(), 1u);
  fitting::FitOptions fit;
  fit.offsets = false;
  const auto laws = fit_laws(study, fit);
  EXPECT_NEAR(fitting::dlcm_params(laws.dlcm.model).delta1, test::kTrueDlcm.delta1, 1e-4);
  ASSERT_TRUE(laws.baseline);
  EXPECT_NEAR(fitting::chinchilla_params(laws.baseline->model).alpha, test::kTrueBaseline.alpha, 1e-4);

  RecommendOptions opt;
  opt.budget = 1e16;
  opt.replicates = 8;
  const auto r = recommend(laws, study, base_learning_rate(db, study), opt);
  for (const char* key : {"budget", "N", "P", "R", "D", "predicted_loss", "interval", "architecture",
                          "hyperparameters", "baseline", "compute_multiplier", "warnings"})
    EXPECT_TRUE(r.contains(key)) << key;
  const auto truth = optimise(test::kTrueDlcm, 1e16, opt.space);
  EXPECT_NEAR(std::log(r["N"].get<double>() / truth.N), 0, 0.05);
  EXPECT_EQ(r["R"].get<double>(), truth.R);
  // Clean data: every replicate refits the same law, so the interval holds the estimate.
  EXPECT_LE(r["interval"]["predicted_loss"][0].get<double>(), r["predicted_loss"].get<double>() + 1e-6);
  EXPECT_GE(r["interval"]["predicted_loss"][1].get<double>(), r["predicted_loss"].get<double>() - 1e-6);
  // The DLCM law is better than the baseline's at this budget: the baseline needs more compute.
  EXPECT_LT(r["architecture"]["predicted_loss"].get<double>(), r["baseline"]["predicted_loss"].get<double>());
  EXPECT_GT(r["compute_multiplier"].get<double>(), 1.0);
  EXPECT_NEAR(baseline_optimal_loss(test::kTrueBaseline, r["baseline"]["compute_needed"].get<double>()),
              r["architecture"]["predicted_loss"].get<double>(), 1e-3);
  // 1e16 is 100x the largest fitted budget.
  ASSERT_FALSE(r["warnings"].empty());
  EXPECT_NE(r["warnings"][0].get<std::string>().find("extrapolation"), std::string::npos);
  // μP: the best run's lr at its own widths; the backbone group at d_concept/128 scales by 1/s_con.
  const auto& h = r["hyperparameters"];
  EXPECT_DOUBLE_EQ(h["base_lr"].get<double>(), 2e-3);
  EXPECT_NEAR(h["output_mult"].get<double>(), 64.0 / r["architecture"]["d_token"].get<double>(), 1e-12);
  for (const auto& g : h["groups"]) {
    if (g["group"] == "backbone") {
      EXPECT_NEAR(g["lr"].get<double>(), 2e-3 * 128 / r["architecture"]["d_concept"].get<double>(), 1e-12);
    }
  }
}

TEST(Recommend, LrTransferStudyOverridesTheBestRun) {
  const auto dir = test::temp_dir("recommend-lr");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, "s");
  storage::store_mup_study(db, "lr-transfer", "study", R"({"name": "study", "results": [], "shifts": [],
                                                            "best_base_lr": {"mup": 0.0125, "standard": null}})");
  const auto lr = base_learning_rate(db, load_study(db, "s"));
  EXPECT_DOUBLE_EQ(lr.lr, 0.0125);
  EXPECT_NE(lr.source.find("lr-transfer"), std::string::npos);
  EXPECT_EQ(lr.d_token_base, 64);  // the proxy config's base widths (defaults)
  EXPECT_EQ(lr.d_concept_base, 128);
}

TEST(RecommendCli, PrintsJsonAndStoresTheRecommendation) {
  const auto dir = test::temp_dir("recommend-cli");
  const auto path = (dir / "dlcm.db").string();
  {
    auto db = storage::open_central(path);
    test::fill_study(db, dir, "s");
  }
  const auto r = test::run_command(fmt::format("{} recommend --sweep s --db {} --budget 3e14 --bootstrap 4 "
                                               "--r-choices 2,4 --zero-offsets --json 2>/dev/null",
                                               DLCM_BIN, test::shell_quote(path)));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["R"] == 2.0 || j["R"] == 4.0);
  auto db = storage::open_central(path);
  const auto stored = storage::recommendations(db, "s");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].budget, 3e14);
  EXPECT_EQ(nlohmann::json::parse(stored[0].result)["N"], j["N"]);

  const auto bad = test::run_command(fmt::format("{} recommend --sweep s --db {} --budget 1e14 --r-choices 2,x 2>&1",
                                                 DLCM_BIN, test::shell_quote(path)));
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("--r-choices 2,x: \"x\" is not a ratio"), std::string::npos) << bad.out;
  const auto missing = test::run_command(fmt::format("{} recommend --sweep nope --db {} --budget 1e14 2>&1",
                                                     DLCM_BIN, test::shell_quote(path)));
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.out.find("no sweep named \"nope\""), std::string::npos) << missing.out;
}

TEST(Recommend, StoredFitGivesItsOwnLawAndId) {
  const auto dir = test::temp_dir("recommend-stored");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, "s");
  const auto& t = test::kTrueDlcm;
  const nlohmann::json fit = {{"law", "dlcm"}, {"offsets", false}, {"huber_delta", 1e-3},
                              {"params", {{"E0", t.E0}, {"A_tok", t.A_tok}, {"t_tok", 0}, {"delta1", t.delta1},
                                          {"A_con", t.A_con}, {"gamma", t.gamma}, {"t_con", 0}, {"delta2", t.delta2},
                                          {"A_data", t.A_data}, {"t_data", 0}, {"alpha", t.alpha}}}};
  const auto id = storage::store_fit(db, "s", "dlcm", fit.dump());
  const auto study = load_study(db, "s");
  const auto laws = laws_from_stored_fit(*storage::load_fit(db, id), study, {});
  EXPECT_EQ(laws.fit_id, id);
  EXPECT_FALSE(laws.dlcm_options.offsets);
  EXPECT_NEAR(fitting::dlcm_params(laws.dlcm.model).A_con, t.A_con, 1e-9);
  RecommendOptions opt;
  opt.budget = 1e15;
  opt.replicates = 0;
  const auto r = recommend(laws, study, base_learning_rate(db, study), opt);
  EXPECT_EQ(r["fit_id"], id);
  EXPECT_NEAR(r["N"].get<double>() / optimise(t, 1e15, opt.space).N, 1.0, 1e-6);  // params round-trip via logs

  const auto chin = storage::store_fit(db, "s", "chinchilla", R"({"law": "chinchilla", "params": {}})");
  try {
    laws_from_stored_fit(*storage::load_fit(db, chin), study, {});
    ADD_FAILURE() << "a chinchilla fit was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), fmt::format("fit {} is a chinchilla fit: recommend needs a dlcm fit", chin));
  }
}
