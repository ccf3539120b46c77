// dlcm verify end to end: a study at tiny budgets (its runs ingested through the real path with
// losses from a known law, configs that train on a real corpus), fit, recommend, then the
// recommendation trained for real by the sweep machinery and set against its registered prediction.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/files.hpp"
#include "corpus_fixture.hpp"
#include "reports/recommend.hpp"
#include "reports/verify.hpp"
#include "study_fixture.hpp"
#include "test_util.hpp"
#include "tiny_config.hpp"

using namespace dlcm;
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

// A DLCM (1+1 token layers, 1 backbone layer) or 2-layer baseline that trains in seconds on the
// test corpus; heads of 16.
RunConfig proxy_config(const fs::path& corpus, bool dlcm, int d_token, int d_concept, double R) {
  RunConfig c;
  c.model.arch = dlcm ? Arch::dlcm : Arch::baseline;
  c.model.seq_len = 64;
  c.model.d_token = d_token;
  c.model.n_heads_token = d_token / 16;
  c.model.n_layers = 2;
  if (dlcm) {
    c.model.d_concept = d_concept;
    c.model.n_heads_concept = d_concept / 16;
    c.model.concept_layers = 1;
    c.boundary.ratio = R;
  }
  c.train.batch_size = 4;
  c.train.eval_windows = 2;
  c.data.dir = corpus.string();
  return c;
}

// The fixture's law with the data term scaled down, so that at ~1e9 FLOPs the optimum is an
// interior one (R 2, P ~0.57, N ~3e4) the proxy family can express: d_token 16, d_concept 48.
test::SyntheticStudy tiny_study(const fs::path& root) {
  test::SyntheticStudy s;
  s.dlcm.A_data = 27;
  s.budgets = {3e8, 1e9, 3e9};
  s.d_token = {16, 32, 48};
  s.d_concept = {32, 64, 96};
  s.baseline_d_token = {16, 32, 64};
  const auto corpus = root / "corpus";
  s.config = [corpus](bool dlcm, int d, int dc, double R) { return proxy_config(corpus, dlcm, d, dc, R); };
  s.spec = fmt::format(R"(name = "tiny"
budgets = [3e8, 1e9, 3e9]
runs_dir = "{}"
min_steps = 5
evals = 1
[grid]
d_token = [16, 32, 48]
baseline_layers = [2]
d_concept = [32, 64, 96]
concept_layers = [1]
ratio = [1, 2, 4]
{})",
                       (root / "runs").string(), test::tiny_sweep_base(corpus));
  return s;
}

std::string cli(const std::string& args) { return std::string(DLCM_BIN) + " " + args; }

}  // namespace

TEST(Verify, TrainsTheRecommendationOnceAndChecksItsRegisteredPrediction) {
  const auto root = test::root_with_corpus("verify");
  const auto db_path = (root / "dlcm.db").string();
  const std::string db = test::shell_quote(db_path);
  {
    auto d = storage::open_central(db_path);
    test::fill_study(d, root / "runs", "tiny", tiny_study(root));
  }
  // Fit, recommend (stored: the pre-registered prediction), then verify it.
  const auto fit = test::run_command(cli("fit --sweep tiny --law dlcm --zero-offsets --threads 2 --json --db " + db));
  ASSERT_EQ(fit.code, 0) << fit.out;
  const int64_t fit_id = json::parse(fit.out)["fit_id"];
  const auto rec = test::run_command(
      cli(fmt::format("recommend --fit {} --budget 1.2e9 --bootstrap 4 --threads 2 --json --db {} 2>/dev/null", fit_id, db)));
  ASSERT_EQ(rec.code, 0) << rec.out;
  const auto r = json::parse(rec.out);
  ASSERT_EQ(r["status"], "interior") << r["warnings"].dump();
  ASSERT_TRUE(r["interval"]["architecture_loss"].is_array()) << r["interval"].dump();

  const auto err = root / "verify.err";
  const auto out = test::run_command(
      cli("verify --sweep tiny --budget 1.2e9 --threads 2 --json --db " + db + " 2>" + test::shell_quote(err.string())));
  ASSERT_EQ(out.code, 0) << out.out << read_file(err.string());
  const auto v = json::parse(out.out);
  // The prediction is the recommendation's, as registered: never refitted after the run.
  EXPECT_EQ(v["recommendation_id"], r["recommendation_id"]);
  EXPECT_EQ(v["predicted_loss"], r["architecture"]["predicted_loss"]);
  EXPECT_EQ(v["interval"], r["interval"]["architecture_loss"]);
  const double realised = v["realised_loss"].get<double>(), predicted = v["predicted_loss"].get<double>();
  ASSERT_TRUE(std::isfinite(realised));
  EXPECT_GT(realised, 0);
  EXPECT_DOUBLE_EQ(v["relative_error"].get<double>(), (realised - predicted) / predicted);
  EXPECT_EQ(v["inside_interval"].get<bool>(), realised >= v["interval"][0].get<double>() &&
                                                  realised <= v["interval"][1].get<double>());
  EXPECT_TRUE(std::isfinite(v["law_at_realised"].get<double>()));
  EXPECT_GT(v["steps"].get<int64_t>(), 5);
  EXPECT_GT(v["wall_seconds"].get<double>(), 0);
  // Steps from the budget as the sweep plans its runs: planned compute within half a step of it;
  // what it trained is priced by core/flops at the ratio it realised.
  EXPECT_NEAR(v["planned_C"].get<double>() / 1.2e9, 1, 0.05);
  EXPECT_GT(v["realised_C"].get<double>(), 0);
  EXPECT_NE(v["hyperparameters"].get<std::string>().find("not μP-transferred"), std::string::npos);

  // The row, and the run as its own sweep: recorded, trained once, under <runs_dir>/verify.
  auto d = storage::open_central(db_path);
  const auto rows = storage::verifications(d, "tiny");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].hash, v["hash"]);
  EXPECT_EQ(rows[0].budget, 1.2e9);
  EXPECT_EQ(json::parse(rows[0].result)["realised_loss"], v["realised_loss"]);
  const auto runs = storage::sweep_runs(d, "tiny-verify");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "completed");
  EXPECT_EQ(runs[0].attempts, 1);
  EXPECT_EQ(fs::path(runs[0].run_dir).parent_path(), root / "runs" / "verify");
  EXPECT_EQ(runs[0].final_val_loss, realised);
  const auto cfg = parse_run_config(runs[0].config, "verify run");
  EXPECT_EQ(cfg.model.d_token, r["architecture"]["d_token"]);
  EXPECT_EQ(cfg.model.d_concept, r["architecture"]["d_concept"]);
  EXPECT_EQ(cfg.train.eval_every, cfg.train.steps);  // the study's evals = 1

  // Again: nothing trains, nothing new is stored; the stored verification is reported.
  const auto mtime = fs::last_write_time(fs::path(runs[0].run_dir) / "result.json");
  const auto again = test::run_command(cli("verify --sweep tiny --budget 1.2e9 --db " + db + " 2>/dev/null"));
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("relative error"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find(fmt::format("stored as verification {}", rows[0].id)), std::string::npos) << again.out;
  EXPECT_EQ(storage::sweep_runs(d, "tiny-verify")[0].attempts, 1);
  EXPECT_EQ(storage::verifications(d, "tiny").size(), 1u);
  EXPECT_EQ(fs::last_write_time(fs::path(runs[0].run_dir) / "result.json"), mtime);
  fs::remove_all(root);
}

// A recommendation that diverges when trained is a failed verification: stored as such (no realised
// loss, outside its interval), read back as diverged, not dropped and not redone.
TEST(Verify, ADivergedRunIsStoredAsAFailedVerification) {
  const auto root = test::root_with_corpus("verify-diverged");
  const auto db_path = (root / "dlcm.db").string();
  const std::string db = test::shell_quote(db_path);
  {
    auto d = storage::open_central(db_path);
    test::fill_study(d, root / "runs", "tiny", tiny_study(root));
  }
  const auto rec = test::run_command(
      cli("recommend --sweep tiny --budget 1.2e9 --bootstrap 4 --zero-offsets --threads 2 --json --db " + db +
          " 2>/dev/null"));
  ASSERT_EQ(rec.code, 0) << rec.out;
  ASSERT_EQ(json::parse(rec.out)["status"], "interior");

  auto d = storage::open_central(db_path);
  const auto plan = reports::plan_verification(d, {.sweep = "tiny", .budget = 1.2e9, .bootstrap = 4});
  storage::RunRow run;
  run.hash = plan.plan.runs.front().hash;
  run.label = plan.plan.runs.front().label;
  run.status = "diverged";
  run.config = to_toml(plan.plan.runs.front().cfg);
  run.steps_done = 3;
  const auto v = reports::record_verification(d, plan, run);
  EXPECT_TRUE(v.diverged);
  EXPECT_TRUE(std::isnan(v.realised_loss));
  EXPECT_FALSE(v.inside_interval);
  EXPECT_GT(v.id, 0);
  const auto j = reports::to_json(v);
  EXPECT_EQ(j["outcome"], "diverged");
  EXPECT_TRUE(j["realised_loss"].is_null());
  const auto stored = reports::stored_verifications(d, "tiny");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_TRUE(stored[0].diverged);
  EXPECT_EQ(stored[0].steps, 3);
  EXPECT_EQ(reports::record_verification(d, plan, run).id, v.id);  // recorded once
  // Unfinished is still no evidence.
  run.status = "running";
  EXPECT_THROW(reports::record_verification(d, plan, run), std::runtime_error);
  fs::remove_all(root);
}

// One target ratio cannot separate A_con from R^gamma: the recommendation is no answer, and verify
// says so on one line, with what to run, training nothing.
TEST(VerifyCli, RefusesARecommendationThatIsNoAnswer) {
  const auto dir = test::temp_dir("verify-refuse");
  const auto path = (dir / "dlcm.db").string();
  {
    auto d = storage::open_central(path);
    test::SyntheticStudy s;
    s.ratios = {4};
    test::fill_study(d, dir, "s", s);
  }
  const auto rec = test::run_command(cli(fmt::format(
      "recommend --sweep s --budget 2e15 --bootstrap 8 --zero-offsets --threads 2 --json --db {} 2>/dev/null",
      test::shell_quote(path))));
  ASSERT_EQ(rec.code, 0) << rec.out;
  ASSERT_EQ(json::parse(rec.out)["status"], "unidentified");
  const auto out = test::run_command(
      cli(fmt::format("verify --sweep s --budget 2e15 --db {} 2>&1 >/dev/null", test::shell_quote(path))));
  EXPECT_NE(out.code, 0);
  EXPECT_EQ(std::count(out.out.begin(), out.out.end(), '\n'), 1) << out.out;
  EXPECT_NE(out.out.find("dlcm: error: sweep \"s\" at C = 2e+15: recommendation 1 is no prediction to verify: the "
                         "runs do not identify the law ("),
            std::string::npos)
      << out.out;
  EXPECT_NE(out.out.find("more compression ratios"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("then `dlcm recommend --sweep s --budget 2e+15`"), std::string::npos) << out.out;
  auto d = storage::open_central(path);
  EXPECT_FALSE(storage::sweep_exists(d, "s-verify"));
  EXPECT_TRUE(storage::verifications(d, "s").empty());
}

TEST(Verify, SaysWhyARecommendationCannotBeVerified) {
  reports::Recommendation r;
  r.recommendation_id = 7;
  r.status = reports::Answer::on_bound;
  r.bounds_hit = {"P"};
  r.interval.architecture_loss = std::pair{2.0, 2.2};
  auto why = reports::unverifiable(r, "s", 1e12);
  EXPECT_NE(why.find("recommendation 7 is no prediction to verify: the law's optimum lies on the search bound [\"P\"]"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("`dlcm recommend --sweep s --budget 1e+12`"), std::string::npos) << why;
  r.status = reports::Answer::interior;
  EXPECT_EQ(reports::unverifiable(r, "s", 1e12), "");
  r.interval = {};  // --bootstrap 0: nothing measured
  why = reports::unverifiable(r, "s", 1e12);
  EXPECT_NE(why.find("has no bootstrap interval of its predicted loss"), std::string::npos) << why;
}

TEST(Verify, ResultRoundTripsThroughItsJson) {
  reports::Verification v;
  v.sweep = "s", v.verify_sweep = "s-verify", v.budget = 1e9, v.recommendation_id = 3;
  v.predicted_loss = 4.8, v.interval_low = 4.7, v.interval_high = 4.9, v.realised_loss = 5.1;
  v.relative_error = (5.1 - 4.8) / 4.8, v.hash = "abc", v.label = "verify", v.steps = 20, v.wall_seconds = NAN;
  const auto back = reports::verification_from_json(reports::to_json(v));
  EXPECT_EQ(back.recommendation_id, 3);
  EXPECT_EQ(back.predicted_loss, 4.8);
  EXPECT_EQ(back.interval_high, 4.9);
  EXPECT_EQ(back.relative_error, v.relative_error);
  EXPECT_TRUE(std::isnan(back.wall_seconds));
  EXPECT_FALSE(back.inside_interval);
}
