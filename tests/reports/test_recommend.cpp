// Allocation under fixed FLOPs: the optimiser against brute force, snapping to real architectures,
// the baseline's compute multiplier, and `dlcm recommend` end to end on an ingested sweep.
#include <gtest/gtest.h>

#include <cmath>

#include "core/flops.hpp"
#include "reports/allocation.hpp"
#include "fitting/uncertainty.hpp"
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
  auto law = test::kTrueDlcm;
  law.gamma = 0.15;  // one clear best ratio (8); the fixture's law has two within the grid's resolution
  law.delta2 = 0.3;
  const auto a = optimise(law, C, s);
  const auto b = brute_force(law, C, s.ratios);
  EXPECT_LE(a.loss, b.loss + 1e-12);
  EXPECT_NEAR(a.loss, b.loss, 1e-4);  // the grid's resolution
  // A local minimum to 1e-12: no nearby (N, P) at the same budget and ratio does better.
  for (double dn : {-1e-4, 1e-4})
    for (double dp : {-1e-4, 0.0, 1e-4}) {
      const double N = a.N * (1 + dn), P = a.P + dp;
      EXPECT_GE(fitting::dlcm_loss(law, N, P, a.R, C / (6 * approx_n_eff(N, P, a.R))), a.loss - 1e-12);
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
  EXPECT_EQ(s.model.d_token % 16, 0);
  EXPECT_EQ(s.model.d_concept % 64, 0);
  EXPECT_EQ(s.model.d_token / s.model.n_heads_token, 16);
  EXPECT_EQ(s.model.d_concept / s.model.n_heads_concept, 64);
  const auto p = count_params(s.model, s.boundary);
  EXPECT_EQ(s.N, static_cast<double>(p.non_embedding()));  // the laws' N: no embedding, no LM head
  EXPECT_DOUBLE_EQ(s.P, static_cast<double>(p.backbone) / p.non_embedding());
  EXPECT_DOUBLE_EQ(s.flops_per_token, flops_per_token(s.model, s.boundary, a.R).train_flops());
  EXPECT_NEAR(s.flops_per_token * s.D / C, 1.0, 1e-12);
  EXPECT_LT(std::abs(std::log(s.N / a.N)), std::log(2.0));  // near the continuous optimum
  EXPECT_NEAR(s.loss, fitting::dlcm_loss(test::kTrueDlcm, s.N, s.P, s.R, s.D), 1e-12);
}

// approx_n_eff leaves out the LM head and attention; allocate() corrects it with core/flops at the
// snapped architecture until the two agree there, so the optimum trades N against D at the true
// price. A proxy with a long context and a large vocabulary makes the approximation 2x off.
TEST(Allocation, OptimisesWithTheExactAccountingAtItsAnswer) {
  const double C = 1e15;
  ModelConfig proxy;
  proxy.d_token = 64;
  proxy.n_heads_token = 4;
  proxy.d_concept = 128;
  proxy.n_heads_concept = 4;
  proxy.seq_len = 2048;
  proxy.vocab_size = 4096;
  SearchSpace s;
  s.ratios = {2, 4};
  const auto out = allocate(test::kTrueDlcm, C, s, proxy, BoundaryConfig{});
  const auto& arch = out.architecture;
  EXPECT_GT(out.n_eff_correction.at(arch.R), 1.2);  // what the approximation missed
  // At the answer the corrected search prices compute exactly as core/flops does.
  EXPECT_NEAR(out.n_eff_error, 0, 1e-12);
  EXPECT_NEAR(out.n_eff_correction.at(arch.R) * approx_n_eff(arch.N, arch.P, arch.R) / arch.n_eff, 1.0, 1e-12);
  EXPECT_NEAR(arch.n_eff, account(arch.model, arch.boundary, arch.R, 1).n_eff, 1e-9 * arch.n_eff);
  const auto naive = optimise(test::kTrueDlcm, C, s);
  // The uncorrected search picks another model (here R = 2 where the priced one picks R = 4).
  EXPECT_TRUE(naive.R != out.best.R || std::abs(std::log(naive.N / out.best.N)) > 0.1) << naive.R << " " << naive.N;
  EXPECT_LT(out.rounds, 6);  // settled, not stopped
}

// The law keeps improving as N falls (a data-hungry law): its minimum is the smallest N searched,
// which is the search's floor, not an answer.
TEST(Allocation, AnOptimumOnASearchBoundIsNamed) {
  fitting::DlcmParams law = test::kTrueDlcm;
  law.A_data = 1e6;  // data term dominates: spend everything on tokens
  law.alpha = 0.5;
  const double C = 1e13;
  SearchSpace s;
  const auto a = optimise(law, C, s);
  const auto hit = bounds_hit(a, s, C);
  EXPECT_NE(std::find(hit.begin(), hit.end(), "N"), hit.end()) << a.N;
  SearchSpace range;  // the true law's ratio optimum at 1e18 is near 5.7
  range.ratio_range = std::pair{1.0, 64.0};
  const auto in = optimise(test::kTrueDlcm, 1e18, range);
  EXPECT_TRUE(bounds_hit(in, range, 1e18).empty()) << in.N << " " << in.P << " " << in.R;  // an interior optimum
  // The largest ratio searched is a bound; R = 1 (no compression) is not: R < 1 does not exist.
  SearchSpace upto4;
  upto4.ratios = {2, 4};
  EXPECT_EQ(bounds_hit(optimise(test::kTrueDlcm, 1e18, upto4), upto4, 1e18), std::vector<std::string>{"R"});
  EXPECT_TRUE(bounds_hit(optimise(test::kTrueDlcm, 1e16, s), s, 1e16).empty());  // R = 1 there
  // One ratio searched is no bound on R; the ends of several are.
  SearchSpace one;
  one.ratios = {4};
  EXPECT_TRUE(bounds_hit(optimise(test::kTrueDlcm, 1e18, one), one, 1e18).empty());
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

// Priced as it trained: a baseline whose N_eff is 1.2·N (LM head, attention) spends C = 6·1.2·N·D,
// so reaching a loss costs exactly 1.2x what the 6·N·D pricing says: the multiplier is 1.2x larger.
TEST(Allocation, BaselineIsPricedAtItsOwnNeff) {
  const fitting::ComputeMap map{.log_k = std::log(1.2), .e = 1};
  const double C = 1e15, L = baseline_optimal_loss(test::kTrueBaseline, C) - 0.02;
  const auto naive = baseline_compute_for_loss(test::kTrueBaseline, L, C);
  const auto priced = baseline_compute_for_loss(test::kTrueBaseline, L, C, map);
  ASSERT_TRUE(naive && priced);
  EXPECT_NEAR(*priced / *naive, 1.2, 1e-9);
}

// Baselines that follow the dlcm law's P = 0 case (Chinchilla with the law's E0, A_tok, delta1,
// A_data, alpha) join its fit only when the spec says baselines_in_law, and then it recovers the law.
TEST(Recommend, BaselinesJoinTheDlcmLawWhenTheSpecSaysSo) {
  const auto& t = test::kTrueDlcm;
  for (bool joined : {false, true}) {
    const auto dir = test::temp_dir(joined ? "law-joined" : "law-apart");
    auto db = storage::open_central((dir / "dlcm.db").string());
    test::SyntheticStudy s;
    s.baseline = {t.E0, t.A_tok, t.A_data, t.delta1, t.alpha};
    if (joined) s.spec = "baselines_in_law = true\n";
    test::fill_study(db, dir, "s", s);
    const auto study = load_study(db, "s");
    EXPECT_EQ(study.baselines_in_law, joined);
    EXPECT_EQ(law_runs(study).size(), study.dlcm.size() + (joined ? study.baseline.size() : 0));
    if (!joined) continue;
    for (std::size_t i = study.dlcm.size(); i < law_runs(study).size(); ++i) EXPECT_EQ(law_runs(study)[i].P, 0.0);
    fitting::FitOptions fit;
    fit.offsets = false;
    const auto laws = fit_laws(study, fit);
    const auto got = fitting::dlcm_params(laws.dlcm.model);
    EXPECT_NEAR(got.delta1, t.delta1, 1e-4);
    EXPECT_NEAR(got.delta2, t.delta2, 1e-4);
    EXPECT_NEAR(got.alpha, t.alpha, 1e-4);
    EXPECT_NEAR(got.E0, t.E0, 1e-4);
    EXPECT_LT(fitting::r_squared(laws.dlcm.model, law_runs(study)), 1.0 + 1e-12);
    EXPECT_GT(fitting::r_squared(laws.dlcm.model, law_runs(study)), 1.0 - 1e-9);
  }
}

TEST(Recommend, FromAnIngestedSweepRecoversTheLawsAndPricesTheBaseline) {
  const auto dir = test::temp_dir("recommend");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, "synthetic");
  const auto study = load_study(db, "synthetic");
  EXPECT_EQ(study.dlcm.size(), 54u);
  EXPECT_EQ(study.baseline.size(), 9u);
  ASSERT_EQ(study.excluded.size(), 1u);
  fitting::FitOptions fit;
  fit.offsets = false;
  const auto laws = fit_laws(study, fit);
  EXPECT_NEAR(fitting::dlcm_params(laws.dlcm.model).delta1, test::kTrueDlcm.delta1, 1e-4);
  ASSERT_TRUE(laws.baseline);
  EXPECT_NEAR(fitting::chinchilla_params(laws.baseline->model).alpha, test::kTrueBaseline.alpha, 1e-4);

  RecommendOptions opt;
  opt.budget = 2e15;  // the true law's optimum there is interior, priced exactly: R 4, P ~0.7
  opt.replicates = 8;
  const auto r = recommend(laws, study, base_learning_rate(db, study), opt);
  const auto truth = allocate(test::kTrueDlcm, 2e15, opt.space, study.proxy->model, study.proxy->boundary).best;
  EXPECT_NEAR(std::log(r.N / truth.N), 0, 0.05);
  EXPECT_NEAR(std::log(r.R / truth.R), 0, 0.05);
  EXPECT_EQ(r.status, Answer::interior) << json(r.bounds_hit).dump() << " R " << r.R << " P " << r.P << " N " << r.N
                                        << " D " << r.D;
  // Clean data: every replicate refits the same law, so the interval holds the estimate.
  ASSERT_TRUE(r.interval.predicted_loss);
  EXPECT_LE(r.interval.predicted_loss->first, r.predicted_loss + 1e-6);
  EXPECT_GE(r.interval.predicted_loss->second, r.predicted_loss - 1e-6);
  // The DLCM law is better than the baseline's at this budget: the baseline needs more compute.
  ASSERT_TRUE(r.baseline);
  EXPECT_LT(r.architecture.predicted_loss, r.baseline->predicted_loss);
  ASSERT_TRUE(r.compute_multiplier);
  EXPECT_GT(*r.compute_multiplier, 1.0);
  ASSERT_TRUE(r.baseline->compute_needed);
  EXPECT_NEAR(baseline_optimal_loss(test::kTrueBaseline, *r.baseline->compute_needed, laws.baseline_map),
              r.architecture.predicted_loss, 1e-3);
  // The baseline's compute map is its runs' own N_eff/N (LM head and attention at d 32–128: > 1).
  EXPECT_GT(r.baseline->n_eff, r.baseline->N);
  EXPECT_LT(laws.baseline_map.max_rel_error, 0.2);
  ASSERT_TRUE(r.interval.compute_multiplier && *r.interval.compute_multiplier);
  // The point and its replicates price the same model (the snapped architecture): on clean data the
  // interval holds the point.
  const auto& m = **r.interval.compute_multiplier;
  EXPECT_LE(m.first, *r.compute_multiplier * (1 + 1e-6));
  EXPECT_GE(m.second, *r.compute_multiplier * (1 - 1e-6));
  // 2e15 is 20x the largest fitted budget.
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("extrapolation"), std::string::npos);
  // The fixture's runs are standard parametrisation and there is no lr-transfer study: no μP table.
  EXPECT_FALSE(r.hyperparameters.mup);
  EXPECT_NE(r.hyperparameters.refused.find("standard parametrisation"), std::string::npos);
  // What --json prints and the table stores reads back as the same recommendation.
  EXPECT_EQ(recommendation_from_json(json::parse(to_json(r).dump())), r);
}

// One target ratio cannot separate A_con from R^gamma: the law is not identified, and recommend
// gives no point answer but says what to run.
TEST(Recommend, AnUnidentifiedLawGivesNoPointAnswer) {
  const auto dir = test::temp_dir("recommend-unidentified");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, "s");
  auto study = load_study(db, "s");
  std::vector<fitting::Observation> at4;
  for (std::size_t i = 0; i < study.dlcm.size(); ++i)
    if (study.dlcm_target_R[i] == 4) at4.push_back(study.dlcm[i]);
  study.dlcm = at4;
  fitting::FitOptions fit;
  fit.offsets = false;
  const auto laws = fit_laws(study, fit);
  RecommendOptions opt;
  opt.budget = 2e15;
  opt.replicates = 12;
  const auto r = recommend(laws, study, base_learning_rate(db, study), opt);
  EXPECT_EQ(r.status, Answer::unidentified);
  const auto& missing = r.unidentified;
  EXPECT_NE(std::find(missing.begin(), missing.end(), "gamma"), missing.end()) << json(missing).dump();
  // Said as a phrase, not as JSON, wherever a person reads it.
  std::string phrase;
  for (const auto& m : missing) phrase += (phrase.empty() ? "" : ", ") + m;
  EXPECT_EQ(unidentified_names(r), phrase);
  Recommendation two;
  two.unidentified = {"A_con", "gamma"};
  EXPECT_EQ(unidentified_names(two), "A_con, gamma");
  bool said = false;
  for (const auto& w : r.warnings)
    said |= w.find("not identified") != std::string::npos && w.find("more compression ratios") != std::string::npos;
  EXPECT_TRUE(said) << json(r.warnings).dump();
}

// What the fits see of a run is its evidence priced by core/flops: non-embedding N, compute at the
// ratio it trained at, R of its validation boundaries, grouped by the budget it was planned for.
TEST(Recommend, StudyReadsRealisedComputeAndRatio) {
  const auto dir = test::temp_dir("recommend-realised");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, "s");
  const auto study = load_study(db, "s");
  ASSERT_FALSE(study.dlcm.empty());
  for (std::size_t i = 0; i < study.dlcm.size(); ++i) {
    const auto& o = study.dlcm[i];
    const double R = study.dlcm_target_R[i];
    EXPECT_NEAR(o.R, test::kValRatioFactor * R, 1e-12);
    // Spent at 1.1·R: less than planned at R, by the concept side's share.
    EXPECT_LT(o.C, o.budget);
    EXPECT_GT(o.C, 0.8 * o.budget);
  }
  const auto cfg = test::fixture_config(false, 64);
  const auto p = count_params(cfg.model, cfg.boundary);
  bool found = false;
  for (std::size_t i = 0; i < study.baseline.size(); ++i)
    if (study.baseline_labels[i] == "baseline d64") {
      found = true;
      EXPECT_EQ(study.baseline[i].N, static_cast<double>(p.total() - p.embedding - p.head));
      EXPECT_NEAR(study.baseline[i].C / study.baseline[i].budget, 1.0, 1e-9);  // a baseline spends its plan
    }
  EXPECT_TRUE(found);
  // Realised compute 10% under the plan still groups by the planned budget.
  EXPECT_EQ(fitting::group_by_budget(study.dlcm).size(), 3u);
}

TEST(Recommend, AMuPRunsRateIsAMuPBaseRateAtItsBaseWidths) {
  const auto dir = test::temp_dir("recommend-mup-run");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, "s");
  auto study = load_study(db, "s");
  ASSERT_TRUE(study.proxy);
  study.proxy->model.parametrisation = Parametrisation::mup;
  study.proxy->model.d_token_base = 32;
  study.proxy->model.d_concept_base = 64;
  const auto lr = base_learning_rate(db, study);
  EXPECT_TRUE(lr.mup_evidence);
  EXPECT_EQ(lr.d_token_base, 32);  // the base widths its rate belongs to, not the run's widths
  EXPECT_EQ(lr.d_concept_base, 64);
  const auto h = mup_hyperparameters(study.proxy->model, study.proxy->train, lr);
  for (const auto& g : h.groups)
    if (g.group == "backbone") {
      EXPECT_NEAR(g.lr, 2e-3 * 64 / study.proxy->model.d_concept, 1e-12);
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

// A baseline law its replicates do not pin prices nothing: no compute multiplier, and a warning
// naming the loose parameters (the demo's baseline fit drove A to 1e-29 and priced the baseline at
// N_opt = 0.007, a multiplier of 7e-7).
TEST(Recommend, AnUnidentifiedBaselineLawGivesNoMultiplier) {
  const auto dir = test::temp_dir("recommend-baseline-loose");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, "s");
  const auto study = load_study(db, "s");
  fitting::FitOptions fit;
  fit.offsets = false;
  auto laws = fit_laws(study, fit);
  ASSERT_TRUE(laws.baseline);
  for (double alpha : {0.05, 0.5, 1.0, 2.0, 2.9}) {  // replicates spread along alpha
    auto p = fitting::chinchilla_params(laws.baseline->model);
    p.alpha = alpha;
    laws.baseline_replicates.push_back(fitting::chinchilla_model(p));
  }
  RecommendOptions opt;
  opt.budget = 2e15;
  opt.replicates = 4;
  const auto r = recommend(laws, study, base_learning_rate(db, study), opt);
  EXPECT_FALSE(r.compute_multiplier);
  ASSERT_TRUE(r.baseline);
  const auto& loose = r.baseline->unidentified;
  EXPECT_NE(std::find(loose.begin(), loose.end(), "alpha"), loose.end()) << to_json(r)["baseline"].dump();
}

// A study that swept η_tok alone sets η_tok; η_con and η_other stay the best run's, and each group's
// rate in the μP table follows its own base rate.
TEST(Recommend, AnLrTransferOfOneRateSetsOnlyThatRate) {
  const auto dir = test::temp_dir("recommend-lr-token");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, "s");
  storage::store_mup_study(db, "lr-transfer", "tok", R"({"name": "tok", "rate": "token", "results": [],
                                                          "shifts": [], "best_base_lr": {"mup": 0.008}})");
  const auto study = load_study(db, "s");
  const auto lr = base_learning_rate(db, study);
  ASSERT_TRUE(lr.lr_token);
  EXPECT_DOUBLE_EQ(*lr.lr_token, 0.008);
  EXPECT_DOUBLE_EQ(lr.lr, 2e-3);  // the best run's, for η_con and η_other
  EXPECT_FALSE(lr.lr_concept);
  const auto h = mup_hyperparameters(study.proxy->model, study.proxy->train, lr);
  EXPECT_DOUBLE_EQ(h.base_lr_token, 0.008);
  EXPECT_DOUBLE_EQ(h.base_lr_concept, 2e-3);
  for (const auto& g : h.groups) {
    if (g.group == "token") { EXPECT_DOUBLE_EQ(g.base_lr, 0.008); }
    if (g.group == "backbone") { EXPECT_DOUBLE_EQ(g.base_lr, 2e-3); }
  }
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
  EXPECT_EQ(r.fit_id, id);
  EXPECT_NEAR(r.N / allocate(t, 1e15, opt.space, study.proxy->model, study.proxy->boundary).best.N,
              1.0, 1e-6);  // params round-trip via logs

  const auto chin = storage::store_fit(db, "s", "chinchilla", R"({"law": "chinchilla", "params": {}})");
  try {
    laws_from_stored_fit(*storage::load_fit(db, chin), study, {});
    ADD_FAILURE() << "a chinchilla fit was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), fmt::format("fit {} is a chinchilla fit: recommend needs a dlcm fit", chin));
  }
}
