// The paper's ablations (reports/analyses.hpp): spike counting, realised R over spans of training,
// intervals over seeds, each comparison's grouping and arithmetic on a database filled through the
// real ingest path, the report's sections present only when the sweep holds their runs, and a real
// tiny sweep over boundary predictors read back from the boundaries its steps used.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/files.hpp"
#include "corpus_fixture.hpp"
#include "tiny_config.hpp"
#include "reports/analyses.hpp"
#include "reports/report.hpp"
#include "storage/run_metrics.hpp"
#include "study_fixture.hpp"
#include "test_util.hpp"

using namespace dlcm;
using namespace dlcm::reports;
namespace fs = std::filesystem;

namespace {

std::vector<storage::MetricPoint> series(const std::vector<double>& v, int64_t first_step = 1) {
  std::vector<storage::MetricPoint> out;
  for (std::size_t i = 0; i < v.size(); ++i) out.push_back({first_step + static_cast<int64_t>(i), v[i]});
  return out;
}

// A run of a hand-made sweep: its config, budget, what result.json and metrics.sqlite say.
struct FakeRun {
  RunConfig cfg;
  double budget = 1e12;
  std::string status = "completed";
  double val_loss = 2, val_R = 4, train_R = 4;
  std::vector<double> losses, ratios;                     // per step
  std::map<std::string, std::array<double, 3>> domains;   // domain -> loss, bpb, ratio
};

FakeRun fake(const RunConfig& cfg) {
  FakeRun r;
  r.cfg = cfg;
  return r;
}

RunConfig config(bool dlcm, int d_token, double R = 4, BoundaryMode mode = BoundaryMode::global, uint64_t seed = 1) {
  RunConfig c = test::fixture_config(dlcm, d_token, 64, R);
  c.boundary.mode = mode;
  c.train.seed = seed;
  return c;
}

void fill(storage::Database& db, const fs::path& dir, const std::string& sweep, const std::vector<FakeRun>& runs) {
  std::vector<storage::RunPlanRow> plan;
  for (std::size_t k = 0; k < runs.size(); ++k) {
    const auto& r = runs[k];
    const bool dlcm = r.cfg.model.arch == Arch::dlcm;
    const auto a = account(r.cfg.model, r.cfg.boundary, r.cfg.boundary.ratio, 1e6);
    plan.push_back({fmt::format("h{:03d}", k), fmt::format("run {}", k), to_toml(r.cfg), (dir / fmt::format("h{:03d}", k)).string(),
                    dlcm ? "dlcm" : "baseline", r.budget, a.N, a.P, dlcm ? r.cfg.boundary.ratio : 1, 1e6, r.budget,
                    6 * a.n_eff, 100});
  }
  storage::register_sweep(db, sweep, "# hand-made\n", plan);
  for (std::size_t k = 0; k < runs.size(); ++k) {
    const auto& r = runs[k];
    const fs::path run = plan[k].run_dir;
    fs::create_directories(run);
    {
      auto m = storage::open_run_metrics((run / "metrics.sqlite").string());
      std::vector<storage::MetricRow> rows;
      for (std::size_t i = 0; i < r.losses.size(); ++i) rows.push_back({int64_t(i + 1), "train", "all", "loss", r.losses[i]});
      for (std::size_t i = 0; i < r.ratios.size(); ++i) rows.push_back({int64_t(i + 1), "train", "all", "ratio", r.ratios[i]});
      for (const auto& [d, v] : r.domains) {
        rows.push_back({100, "val", d, "loss", v[0]});
        rows.push_back({100, "val", d, "bpb", v[1]});
        rows.push_back({100, "val", d, "ratio", v[2]});
      }
      storage::write_metrics(m, rows);
    }
    const bool dlcm = r.cfg.model.arch == Arch::dlcm;
    nlohmann::json res = {{"status", r.status}, {"steps", 100}, {"final_val_loss", r.val_loss},
                          {"run_mean_ratio", dlcm ? r.train_R : 1.0}, {"realised_ratio", dlcm ? r.val_R : 1.0},
                          {"tokens", 1e6}};
    std::ofstream(run / "result.json") << res.dump();
    storage::ingest_run_dir(db, plan[k].hash, run.string());
  }
}

}  // namespace

TEST(Analyses, ASpikeIsARiseAboveTheTrailingMedianCountedOncePerEpisode) {
  std::vector<double> loss(60, 2.0);
  loss[30] = loss[31] = 3.2;  // 60% above the median of the 20 steps before: one spike of two steps
  loss[40] = 2.9;             // 45%: a hard batch, not a spike
  loss[50] = NAN;             // a non-finite loss always is one
  EXPECT_EQ(count_spikes(series(loss)), 2);
  // The first kSpikeWindow steps have no history to rise above; a falling loss has no spike.
  std::vector<double> early(60, 2.0);
  early[5] = 9;
  EXPECT_EQ(count_spikes(series(early)), 0);
  std::vector<double> falling;
  for (int i = 0; i < 200; ++i) falling.push_back(5.5 * std::exp(-i / 50.0) + 1.5);
  EXPECT_EQ(count_spikes(series(falling)), 0);
  // The median, not the mean: one earlier outlier in the window does not hide the next rise.
  std::vector<double> two(60, 2.0);
  two[25] = 10, two[30] = 3.1;
  EXPECT_EQ(count_spikes(series(two)), 2);
}

TEST(Analyses, RealisedRatioOverASpanIsTokensOverConceptsOfItsSteps) {
  // Every step trains the same tokens: 2 and 4 tokens per concept over two steps is 2T/(T/2 + T/4).
  const auto r = series({2, 2, 4, 4, 3, 3, 6, 6});
  EXPECT_DOUBLE_EQ(*span_ratio(r, 1, 4), 8.0 / 3);
  EXPECT_DOUBLE_EQ(*span_ratio(r, 1, 8), 8 / (1 + 0.5 + 2.0 / 3 + 1.0 / 3));
  EXPECT_FALSE(span_ratio(r, 20, 30));
  // Drift: the last quarter of the steps (7, 8: R 6) against the first (1, 2: R 2).
  EXPECT_DOUBLE_EQ(*ratio_drift(r), 4);
  EXPECT_DOUBLE_EQ(*ratio_drift(series({4, 4, 4, 4, 4, 4, 4, 4}, 11)), 0);
  EXPECT_FALSE(ratio_drift(series({4, 4})));
}

TEST(Analyses, EstimateIsAMeanWithAStudentTInterval) {
  const auto e = estimate({1, 2, 3});
  EXPECT_EQ(e.n, 3);
  EXPECT_DOUBLE_EQ(e.mean, 2);
  EXPECT_NEAR(e.high - e.mean, 4.303 / std::sqrt(3.0), 1e-12);  // t(0.975, 2) · s/√n, s = 1
  EXPECT_NEAR(e.mean - e.low, 4.303 / std::sqrt(3.0), 1e-12);
  const auto one = estimate({5});
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.low, 5);
  EXPECT_EQ(one.high, 5);
  EXPECT_EQ(estimate({}).n, 0);
}

TEST(Analyses, ComparisonsGroupSeedsAndPairOnInferenceCost) {
  const auto dir = test::temp_dir("analyses");
  auto db = storage::open_central((dir / "dlcm.db").string());
  std::vector<FakeRun> runs;
  std::vector<double> flat(40, 2.0), spiky(40, 2.0);
  spiky[30] = 3.5;
  // d32 at R 4 with two predictors, two seeds each; global also at R 2 and, diverged, at R 8.
  for (uint64_t seed : {1, 2}) {
    FakeRun g = fake(config(true, 32, 4, BoundaryMode::global, seed));
    g.val_loss = seed == 1 ? 2.0 : 2.2, g.val_R = seed == 1 ? 3.9 : 4.1, g.train_R = 4;
    g.losses = seed == 1 ? spiky : flat;
    g.ratios = {3, 3, 4, 4, 4, 4, 6, 6};  // drift 6 − 3
    g.domains = {{"all", {2.0, 1.0, 4}}, {"code", {1.5, 0.8, 5}}, {"tech-zh", {2.5, 1.2, 3}}};
    if (seed == 2) g.domains = {{"all", {2.2, 1.2, 4}}, {"code", {1.7, 1.0, 7}}, {"tech-zh", {2.7, 1.4, 3}}};
    runs.push_back(g);
    FakeRun s = fake(config(true, 32, 4, BoundaryMode::sequence, seed));
    s.val_loss = 2.4, s.val_R = seed == 1 ? 3.0 : 3.2, s.train_R = 3.5;
    s.ratios = {4, 4, 4, 4, 3, 3, 3, 3};  // drift −1
    runs.push_back(s);
  }
  FakeRun r2 = fake(config(true, 32, 2));
  r2.val_loss = 1.9, r2.val_R = 2.1, r2.train_R = 2;
  runs.push_back(r2);
  FakeRun r8 = fake(config(true, 32, 8));
  r8.status = "diverged", r8.val_loss = 25, r8.losses = spiky;
  runs.push_back(r8);
  // Baselines: d48 close to the DLCM's inference cost (2.5% below), d128 far from it; two seeds of d48.
  for (uint64_t seed : {1, 2}) {
    FakeRun b = fake(config(false, 48, 1, BoundaryMode::global, seed));
    b.domains = {{"all", {2.3, 1.3, 1}}, {"code", {1.9, 1.1, 1}}, {"tech-zh", {2.8, 1.5, 1}}};
    if (seed == 2) b.domains = {{"all", {2.5, 1.5, 1}}, {"code", {2.1, 1.3, 1}}, {"tech-zh", {3.0, 1.7, 1}}};
    runs.push_back(b);
  }
  runs.push_back(fake(config(false, 128)));
  fill(db, dir / "runs", "abl", runs);

  const auto facts = load_run_facts(db, load_study(db, "abl"));
  ASSERT_EQ(facts.size(), runs.size());  // the diverged run is read, not dropped
  const auto a = analyse(facts);

  // 2. Predictors: the R 4 configuration with global and sequence, not R 2 or R 8 (one predictor each).
  ASSERT_EQ(a.predictors.size(), 2u);
  const auto& g = a.predictors[0];
  const auto& s = a.predictors[1];
  EXPECT_EQ(g.mode, "global");
  EXPECT_EQ(s.mode, "sequence");
  EXPECT_EQ(g.target_R, 4);
  EXPECT_EQ(g.runs, 2);
  EXPECT_DOUBLE_EQ(g.val_R.mean, 4.0);
  EXPECT_NEAR(g.val_R.high - g.val_R.mean, 12.706 * 0.1, 1e-9);  // two seeds: s = 0.1·√2, s/√2 = 0.1
  EXPECT_DOUBLE_EQ(g.train_R.mean, 4);
  EXPECT_DOUBLE_EQ(g.drift.mean, 3);
  EXPECT_DOUBLE_EQ(g.val_loss.mean, 2.1);
  EXPECT_DOUBLE_EQ(s.val_R.mean, 3.1);
  EXPECT_DOUBLE_EQ(s.train_R.mean, 3.5);
  EXPECT_DOUBLE_EQ(s.drift.mean, -1);

  // 3. Ratios: global d32 at R 2, 4 and 8 (sequence has one R: no row); the diverged R 8 run is
  // counted, with its spike, but gives no loss.
  ASSERT_EQ(a.ratios.size(), 3u);
  EXPECT_EQ(a.ratios[0].target_R, 2);
  EXPECT_EQ(a.ratios[1].target_R, 4);
  EXPECT_EQ(a.ratios[1].runs, 2);
  EXPECT_EQ(a.ratios[1].spikes, 1);
  EXPECT_DOUBLE_EQ(a.ratios[1].val_loss.mean, 2.1);
  EXPECT_EQ(a.ratios[2].target_R, 8);
  EXPECT_EQ(a.ratios[2].diverged, 1);
  EXPECT_EQ(a.ratios[2].spikes, 1);
  EXPECT_EQ(a.ratios[2].val_loss.n, 0);

  // 4. Tokens per concept: per domain (and pooled) and (predictor, R), means over completed runs.
  ASSERT_EQ(a.concepts.columns.size(), 1u);  // only the global R 4 runs recorded domains
  EXPECT_DOUBLE_EQ(a.concepts.cells.at("all").at(0).first, 4);
  EXPECT_DOUBLE_EQ(a.concepts.cells.at("code").at(0).first, 6);
  EXPECT_EQ(a.concepts.cells.at("code").at(0).second, 2);

  // 5. Matched inference: each DLCM configuration pairs with the nearest baseline, d48.
  const double f_dlcm = facts[0].inference_flops;
  EXPECT_DOUBLE_EQ(f_dlcm, flops_per_token(runs[0].cfg.model, runs[0].cfg.boundary, 3.9).inference_flops());
  const MatchedPair* m = nullptr;
  for (const auto& p : a.matched)
    if (p.dlcm == "dlcm d32 c64x2 e1 d1 R4 global") m = &p;
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->baseline, "baseline d48 L2");
  EXPECT_LE(std::abs(m->baseline_flops / m->dlcm_flops - 1), kMatchTolerance);
  ASSERT_EQ(m->domains.size(), 3u);
  EXPECT_EQ(m->domains[0].domain, "all");
  EXPECT_EQ(m->domains[1].domain, "code");
  EXPECT_DOUBLE_EQ(m->domains[1].dlcm_bpb.mean, 0.9);
  EXPECT_DOUBLE_EQ(m->domains[1].baseline_bpb.mean, 1.2);
  EXPECT_DOUBLE_EQ(m->domains[1].bpb_gain.mean, 0.3);
  // Welch: both sides s² = 0.02, n 2: se = √(0.01 + 0.01), df = 2 → t 4.303.
  EXPECT_NEAR(m->domains[1].bpb_gain.high - 0.3, 4.303 * std::sqrt(0.02), 1e-9);
  for (const auto& p : a.matched) EXPECT_NE(p.baseline, "baseline d128 L2");

  // The JSON carries the same numbers.
  const auto j = to_json(a);
  EXPECT_EQ(j["boundary_predictors"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["boundary_predictors"][0]["val_R"]["mean"].get<double>(), 4.0);
  EXPECT_EQ(j["compression_ratio"][2]["diverged"], 1);
  EXPECT_EQ(j["matched_inference"][0]["domains"][0]["domain"], "all");

  // The report shows each ablation the sweep holds.
  reports::ReportOptions opt;
  opt.replicates = 0;
  opt.threads = 2;
  opt.zero_offsets = true;
  const std::string html = render_report(db, "abl", opt);
  for (const char* id : {"id=predictors", "id=ratios", "id=matched", "href=#predictors", "href=#matched"})
    EXPECT_NE(html.find(id), std::string::npos) << id;
  EXPECT_NE(html.find("<td>global</td><td>2</td><td>4 [4, 4]</td><td>4 [2.73, 5.27]</td><td>3 [3, 3]</td>"), std::string::npos);
}

TEST(Analyses, ReportLeavesOutAblationsTheSweepCannotShow) {
  // One predictor, one R, one seed, and no baseline near the DLCM runs' inference cost.
  const auto dir = test::temp_dir("analyses-absent");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::SyntheticStudy s;
  s.ratios = {4};
  s.baseline_d_token = {256, 384, 512};
  test::fill_study(db, dir / "runs", "plain", s);
  const auto a = analyse(load_run_facts(db, load_study(db, "plain")));
  EXPECT_TRUE(a.predictors.empty());
  EXPECT_TRUE(a.ratios.empty());
  EXPECT_TRUE(a.matched.empty());
  reports::ReportOptions opt;
  opt.replicates = 0;
  opt.threads = 2;
  opt.zero_offsets = true;
  const std::string html = render_report(db, "plain", opt);
  for (const char* id : {"id=predictors", "id=ratios", "id=matched", "href=#predictors"})
    EXPECT_EQ(html.find(id), std::string::npos) << id;
  EXPECT_NE(html.find("id=ratio>"), std::string::npos);  // tokens per concept stays
}

TEST(Analyses, TinySweepOverPredictorsReadsTheBoundariesItsStepsUsed) {
  const auto root = test::root_with_corpus("analyses-tiny");
  const auto spec = root / "tiny.toml";
  std::ofstream(spec) << fmt::format(R"(name = "tiny"
budgets = [4e8]
runs_dir = "{}"
min_steps = 5
evals = 2
[grid]
d_token = [16]
baseline_layers = [2]
d_concept = [32]
concept_layers = [1]
ratio = [1, 4]
boundary_mode = ["global", "fixed"]
{})",
                                     (root / "runs").string(), test::tiny_sweep_base(root / "corpus"));
  const std::string db = (root / "dlcm.db").string();
  const auto run = test::run_command(fmt::format("{} sweep run {} --db {} --workers 2 2>&1", DLCM_BIN,
                                                 test::shell_quote(spec.string()), test::shell_quote(db)));
  ASSERT_EQ(run.code, 0) << run.out;
  const auto out = test::run_command(fmt::format("{} report tiny --json --db {}", DLCM_BIN, test::shell_quote(db)));
  ASSERT_EQ(out.code, 0) << out.out;
  const auto j = nlohmann::json::parse(out.out);
  ASSERT_EQ(j["boundary_predictors"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["boundary_predictors"][0]["mode"], "fixed");
  EXPECT_EQ(j["boundary_predictors"][1]["mode"], "global");

  auto d = storage::open_central_readonly(db);
  std::map<std::string, std::string> run_dirs;
  for (const auto& r : storage::sweep_runs(d, "tiny")) run_dirs[r.hash] = r.run_dir;
  const auto facts = load_run_facts(d, load_study(d, "tiny"));
  ASSERT_EQ(facts.size(), 3u);
  for (const auto& f : facts) {
    ASSERT_EQ(f.status, "completed") << f.label;
    if (!f.dlcm) continue;
    // Training R is tokens over concepts of the sampled boundaries every step used: the stored
    // per-step ratios, harmonically averaged, give result.json's run_mean_ratio.
    ASSERT_EQ(f.train_ratio.size(), static_cast<std::size_t>(f.cfg.train.steps)) << f.label;
    EXPECT_NEAR(*span_ratio(f.train_ratio, 0, 1e9), *f.train_R, 1e-9 * *f.train_R) << f.label;
    // Validation R is that of the thresholded boundaries at the last evaluation, pooled over domains.
    EXPECT_NEAR(*f.val_R, *f.domains.at("all").ratio, 1e-9) << f.label;
    EXPECT_DOUBLE_EQ(f.inference_flops, flops_per_token(f.cfg.model, f.cfg.boundary, *f.val_R).inference_flops());
    // result.json records the same serving cost.
    const auto result = nlohmann::json::parse(read_file((fs::path(run_dirs.at(f.hash)) / "result.json").string(), "result"));
    EXPECT_DOUBLE_EQ(result["inference_flops_per_token"].get<double>(), f.inference_flops) << f.label;
    if (f.mode == "fixed") {
      // Fixed-length concepts: every step and every window is cut every R tokens.
      for (const auto& p : f.train_ratio) EXPECT_NEAR(p.value, 4, 0.1) << f.label << " step " << p.step;
      EXPECT_NEAR(*f.val_R, 4, 0.1);
    }
  }

  // The report's checkpoint sections come from the trainer's processes (dlcm-train inspect, its
  // JSON read back by dlcm): the segmentation examples and the loss by position beside the baseline.
  const auto html = (root / "report.html").string();
  const auto rep = test::run_command(fmt::format("{} report tiny --bootstrap 0 --threads 1 --db {} -o {} 2>&1", DLCM_BIN,
                                                 test::shell_quote(db), test::shell_quote(html)));
  ASSERT_EQ(rep.code, 0) << rep.out;
  const auto text = read_file(html, "report");
  EXPECT_NE(text.find("<p>Concept spans (alternating colours) cut by run"), std::string::npos);
  EXPECT_EQ(text.find("No examples:"), std::string::npos);
  EXPECT_NE(text.find("<h2 id=positions>Loss by position inside a concept</h2>\n<p>Validation loss of run"), std::string::npos);
  EXPECT_NE(text.find(" Baseline: run "), std::string::npos);
}
