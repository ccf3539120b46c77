// Learning-rate transfer: the parabola helper on exact numbers, the spec's errors, the analysis on
// synthetic runs (diverged runs excluded and noted), and a tiny study end to end through the real
// `dlcm` binary and sweep machinery: stored in the database, a re-run trains nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/corpus.hpp"
#include "core/mup.hpp"
#include "storage/central.hpp"
#include "sweeps/lr_transfer.hpp"
#include "test_util.hpp"

using namespace dlcm;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kSpec = R"(name = "t"
lrs = [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2]
token_widths = [32, 64]
concept_widths = [64, 128]
axes = ["token", "both"]
parametrisations = ["mup"]
steps = 8
[base.model]
seq_len = 32
n_heads_token = 2
n_heads_concept = 2
concept_layers = 1
d_token_base = 32
d_concept_base = 64
[base.data]
dir = "corpus"
)";

std::string expect_error(const std::string& text) {
  try {
    sweeps::parse_lr_transfer_spec(text, "s.toml");
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Parabola, FindsTheExactVertexOfAKnownParabola) {
  std::vector<double> x = {-1, 0, 1, 2, 3}, y;
  for (double v : x) y.push_back(2 * (v - 1.25) * (v - 1.25) + 3);
  const auto p = sweeps::fit_parabola(x, y);
  EXPECT_NEAR(p.a, 2, 1e-12);
  EXPECT_NEAR(p.b, -5, 1e-12);
  EXPECT_NEAR(p.c, 2 * 1.5625 + 3, 1e-12);
  EXPECT_NEAR(p.vertex, 1.25, 1e-12);
  EXPECT_NEAR(p.vertex_se, 0, 1e-6);  // an exact fit leaves no residual
}

TEST(Parabola, VertexUncertaintyGrowsWithNoiseAndNeedsMoreThanThreePoints) {
  const std::vector<double> x = {0, 1, 2, 3, 4};
  const std::vector<double> y = {4.1, 0.9, 0.1, 1.05, 3.9};  // (x − 2)² with ±0.1 noise
  const auto p = sweeps::fit_parabola(x, y);
  EXPECT_NEAR(p.vertex, 2, 0.05);
  EXPECT_GT(p.vertex_se, 0.001);
  EXPECT_LT(p.vertex_se, 0.1);
  const auto three = sweeps::fit_parabola({0, 1, 2}, {1, 0, 1});
  EXPECT_NEAR(three.vertex, 1, 1e-12);
  EXPECT_TRUE(std::isnan(three.vertex_se));
}

TEST(LrTransferSpec, BadInputNamesTheFileAndKey) {
  EXPECT_NE(expect_error("name = \"x\"\nlrs = [1e-3, 2e-3]\ntoken_widths = [32]\nconcept_widths = [64]\n")
                .find("s.toml: lrs: at least three"),
            std::string::npos);
  EXPECT_NE(expect_error("name = \"x\"\nlrs = [1, 2, 3]\ntoken_widths = [32, 64]\nconcept_widths = [64]\n")
                .find("s.toml: concept_widths: axis \"both\""),
            std::string::npos);
  EXPECT_NE(expect_error("name = \"x\"\nlrs = [1, 2, 3]\naxes = [\"width\"]\n").find("s.toml: axes: unknown axis"),
            std::string::npos);
  EXPECT_NE(expect_error("name = \"x\"\nlrs = [1, 2, 3]\nbogus = 1\n").find("s.toml: bogus: unknown key"),
            std::string::npos);
  EXPECT_NE(expect_error(kSpec + "[base.train]\nwarp = 1\n").find("base.train.warp: unknown key"),
            std::string::npos);
}

TEST(LrTransferPlan, SharesTheBaseWidthRunBetweenAxes) {
  const auto spec = sweeps::parse_lr_transfer_spec(kSpec, "s.toml");
  const auto plan = sweeps::plan_lr_transfer(spec);
  EXPECT_EQ(plan.points.size(), 2u * 2 * 5);  // 2 axes × 2 widths × 5 rates
  EXPECT_EQ(plan.plan.runs.size(), 3u * 5);   // token d32 = both d32/c64: one run per rate
  for (const auto& r : plan.plan.runs) {
    EXPECT_EQ(r.cfg.model.parametrisation, Parametrisation::mup);
    EXPECT_EQ(r.cfg.train.steps, 8);
    EXPECT_EQ(r.hash, sweeps::config_hash(r.cfg));
  }
}

// `rate` picks the base rate the grid sets (DESIGN §5's η_tok, η_con, η_other, or all three);
// the others stay as the base config has them, and each choice is a different run (a grid rate
// equal to the base's would be the same training, hence the same run: 3e-3 is off the grid).
TEST(LrTransferPlan, TheRateKeyChoosesWhichBaseRateTheGridSets) {
  const std::string with_base_rates = kSpec + "[base.train]\nlr = 3e-3\nlr_other = 5e-3\n";
  std::map<std::string, std::set<std::string>> hashes;
  for (const char* rate : {"all", "token", "concept", "other"}) {
    const auto spec = sweeps::parse_lr_transfer_spec(std::string("rate = \"") + rate + "\"\n" + with_base_rates, "s.toml");
    EXPECT_EQ(spec.rate, rate);
    const auto plan = sweeps::plan_lr_transfer(spec);
    ASSERT_EQ(plan.plan.runs.size(), 3u * 5);
    std::map<std::string, double> grid_of;  // run → the grid's rate
    for (const auto& pt : plan.points) grid_of[pt.hash] = pt.lr;
    for (const auto& r : plan.plan.runs) {
      SCOPED_TRACE(std::string(rate) + " " + r.label);
      const auto& t = r.cfg.train;
      const double grid = grid_of.at(r.hash);
      const std::string which = rate;
      EXPECT_DOUBLE_EQ(base_lr(t, Group::token, FanIn::d_token), which == "all" || which == "token" ? grid : 3e-3);
      EXPECT_DOUBLE_EQ(base_lr(t, Group::backbone, FanIn::d_concept), which == "all" || which == "concept" ? grid : 3e-3);
      // "all" sets every group, clearing the base's lr_other.
      EXPECT_DOUBLE_EQ(base_lr(t, Group::head, FanIn::none), which == "all" || which == "other" ? grid : 5e-3);
      hashes[rate].insert(r.hash);
    }
  }
  for (const char* a : {"all", "token", "concept", "other"})
    for (const char* b : {"all", "token", "concept", "other"})
      if (std::string(a) < b)
        for (const auto& h : hashes[a]) EXPECT_FALSE(hashes[b].count(h)) << a << " and " << b << " share a run";
  EXPECT_NE(expect_error("rate = \"backbone\"\n" + kSpec).find("s.toml: rate: unknown rate \"backbone\" (expected all, token, concept, other)"),
            std::string::npos);
}

TEST(LrTransferAnalysis, FindsEachWidthsOptimumExcludesDivergedRunsAndMeasuresTheShift) {
  const auto spec = sweeps::parse_lr_transfer_spec(kSpec, "s.toml");
  const auto plan = sweeps::plan_lr_transfer(spec);
  // Synthetic losses: a parabola in log2(lr) with its vertex at 2^-8 for d_token 32 and 2^-7.5 at
  // 64; the largest rate diverges at d_token 64.
  std::vector<storage::RunRow> rows;
  for (const auto& r : plan.plan.runs) {
    storage::RunRow row;
    row.hash = r.hash;
    const double vertex = r.cfg.model.d_token == 32 ? -8.0 : -7.5, x = std::log2(r.cfg.train.lr);
    const bool diverges = r.cfg.model.d_token == 64 && r.cfg.train.lr > 0.01;
    row.status = diverges ? "diverged" : "completed";
    if (!diverges) row.final_val_loss = 2.0 + 0.3 * (x - vertex) * (x - vertex);
    rows.push_back(row);
  }
  const auto a = sweeps::analyse_lr_transfer(spec, plan, rows);
  ASSERT_EQ(a.results.size(), 4u);
  for (const auto& r : a.results) {
    SCOPED_TRACE(r.axis + " d" + std::to_string(r.width_token));
    ASSERT_TRUE(r.best_lr);
    EXPECT_NEAR(std::log2(*r.best_lr), r.width_token == 32 ? -8.0 : -7.5, 1e-9);
    EXPECT_EQ(r.method, "parabola");  // 4–5 points: the fit's covariance gives the interval
    EXPECT_LE(*r.best_lr_lo, *r.best_lr);
    EXPECT_GE(*r.best_lr_hi, *r.best_lr);
    if (r.width_token == 64) {
      EXPECT_FALSE(r.losses.back());
      ASSERT_EQ(r.notes.size(), 1u);
      EXPECT_NE(r.notes[0].find("diverged"), std::string::npos);
      EXPECT_EQ(r.points_fitted, 4);
    }
  }
  ASSERT_EQ(a.shifts.size(), 2u);
  for (const auto& s : a.shifts) {
    EXPECT_NEAR(s.log2_shift, 0.5, 1e-9);
    EXPECT_NEAR(s.grid_steps, 0.5, 1e-9);  // the grid doubles the rate each step
  }
  ASSERT_TRUE(a.best_base_lr_mup);
  EXPECT_NEAR(std::log2(*a.best_base_lr_mup), -8.0, 1e-9);
  EXPECT_FALSE(a.best_base_lr_standard);
  const auto j = json::parse(sweeps::to_json(a));
  for (const char* k : {"name", "rate", "results", "shifts", "best_base_lr"}) EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["rate"], "all");
  for (const char* k : {"parametrisation", "axis", "width_token", "width_concept", "lrs", "losses", "best_lr",
                        "best_lr_lo", "best_lr_hi"})
    EXPECT_TRUE(j["results"][0].contains(k)) << k;
  EXPECT_TRUE(j["results"][3]["losses"][4].is_null());
}

TEST(LrTransferCli, RunsThroughTheSweepMachineryStoresTheStudyAndAReRunTrainsNothing) {
  const auto root = test::temp_dir("lr-transfer");
  data::PrepareOptions prep;
  prep.out_dir = (root / "corpus").string();
  prep.max_bytes_per_domain = 30000;
  data::prepare_corpus(prep);
  const auto spec = root / "spec.toml";
  std::ofstream(spec) << "name = \"tiny-transfer\"\nruns_dir = \"" << (root / "runs").string()
                      << "\"\nlrs = [1e-3, 1e-2, 1e-1]\ntoken_widths = [16, 32]\naxes = [\"token\"]\n"
                         "parametrisations = [\"mup\"]\nsteps = 6\n[base.model]\nseq_len = 32\nd_token_base = 16\n"
                         "n_heads_token = 2\nd_concept = 32\nd_concept_base = 32\nn_heads_concept = 2\nconcept_layers = 1\n"
                         "[base.train]\nbatch_size = 4\neval_windows = 2\n[base.data]\ndir = \""
                      << (root / "corpus").string() << "\"\n";
  const std::string db = (root / "d.db").string();
  const std::string cmd = std::string(DLCM_BIN) + " mup lr-transfer --json --quiet --workers 2 --threads 1 --db " +
                          test::shell_quote(db) + " " + test::shell_quote(spec.string());
  const auto first = test::run_command(cmd);
  ASSERT_EQ(first.code, 0) << first.out;
  const auto j = json::parse(first.out);
  EXPECT_EQ(j["name"], "tiny-transfer");
  ASSERT_EQ(j["results"].size(), 2u);
  for (const auto& r : j["results"]) {
    EXPECT_EQ(r["parametrisation"], "mup");
    EXPECT_EQ(r["losses"].size(), 3u);
    for (const auto& l : r["losses"]) EXPECT_TRUE(l.is_null() || l.get<double>() > 0) << r.dump();
  }
  fs::path result;
  {
    auto d = storage::open_central(db);
    const auto stored = storage::latest_mup_study(d, "lr-transfer", "tiny-transfer");
    ASSERT_TRUE(stored);
    EXPECT_EQ(json::parse(stored->result), j);
    const auto runs = storage::sweep_runs(d, "tiny-transfer");
    ASSERT_EQ(runs.size(), 6u);
    result = fs::path(runs[0].run_dir) / "result.json";
    for (const auto& r : runs) {
      EXPECT_TRUE(r.status == "completed" || r.status == "diverged") << r.label << " " << r.status;
      EXPECT_EQ(r.attempts, 1);
    }
  }
  const auto mtime = fs::last_write_time(result);
  const auto again = test::run_command(cmd);
  ASSERT_EQ(again.code, 0);
  EXPECT_EQ(json::parse(again.out), j);  // same runs, same analysis
  auto d = storage::open_central(db);
  for (const auto& r : storage::sweep_runs(d, "tiny-transfer")) EXPECT_EQ(r.attempts, 1) << r.label;
  EXPECT_EQ(fs::last_write_time(result), mtime);
  fs::remove_all(root);
}

namespace {

// A sweep spec whose runs train at the rate an lr-transfer study measured.
std::string lr_from_spec(const std::string& extra = "", const std::string& parametrisation = "mup") {
  return "name = \"s\"\nbudgets = [1e11]\nlr_from = \"pilot\"\n[grid]\nd_token = [32]\nd_concept = [64]\nratio = [1, 4]\n" +
         extra + "[base.model]\nseq_len = 32\nn_heads_token = 2\nn_heads_concept = 2\nconcept_layers = 1\n" +
         "parametrisation = \"" + parametrisation + "\"\nd_token_base = 32\nd_concept_base = 64\n[base.data]\ndir = \"corpus\"\n";
}

// The stored JSON of a study whose μP optimum at (32, 64) is `best`, found by `method`.
std::string pilot_json(int d_token_base, int d_concept_base, double best, const std::string& method) {
  sweeps::TransferAnalysis a;
  a.name = "pilot";
  a.rate = "all";
  a.d_token_base = d_token_base;
  a.d_concept_base = d_concept_base;
  a.best_base_lr_mup = best;
  a.base_method_mup = method;
  return sweeps::to_json(a);
}

std::string resolve_error(sweeps::SweepSpec spec, storage::Database& db) {
  try {
    sweeps::resolve_lr_from(spec, db);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(LrFrom, EveryRunTrainsAtTheStoredMupOptimumRoundedToThreeDigits) {
  const auto dir = test::temp_dir("lr-from");
  auto db = storage::open_central((dir / "d.db").string());
  auto spec = sweeps::parse_spec(lr_from_spec(), "s.toml");
  EXPECT_THROW(sweeps::plan(spec), std::runtime_error);  // not read yet: no run may train at a default
  EXPECT_NE(resolve_error(spec, db).find("no lr-transfer study \"pilot\""), std::string::npos);
  storage::store_mup_study(db, "lr-transfer", "pilot", pilot_json(32, 64, 0.00734216, "parabola"));
  sweeps::resolve_lr_from(spec, db);
  ASSERT_TRUE(spec.lr_measured);
  EXPECT_DOUBLE_EQ(*spec.lr_measured, 0.00734);
  const auto p = sweeps::plan(spec);
  ASSERT_EQ(p.runs.size(), 2u);
  for (const auto& r : p.runs) EXPECT_DOUBLE_EQ(r.cfg.train.lr, 0.00734) << r.label;
  // The newest study of that name wins.
  storage::store_mup_study(db, "lr-transfer", "pilot", pilot_json(32, 64, 0.0121, "parabola-bracket"));
  auto again = sweeps::parse_spec(lr_from_spec(), "s.toml");
  sweeps::resolve_lr_from(again, db);
  EXPECT_DOUBLE_EQ(*again.lr_measured, 0.0121);
  fs::remove_all(dir);
}

TEST(LrFrom, RefusesARateItCannotTransferAndAGridThatAlsoSetsOne) {
  const auto dir = test::temp_dir("lr-from-bad");
  auto db = storage::open_central((dir / "d.db").string());
  storage::store_mup_study(db, "lr-transfer", "pilot", pilot_json(64, 128, 0.008, "parabola"));
  EXPECT_NE(resolve_error(sweeps::parse_spec(lr_from_spec(), "s.toml"), db).find("base widths 64/128"), std::string::npos);
  storage::store_mup_study(db, "lr-transfer", "pilot", pilot_json(32, 64, 0.032, "grid-edge"));
  EXPECT_NE(resolve_error(sweeps::parse_spec(lr_from_spec(), "s.toml"), db).find("edge of its grid"), std::string::npos);
  storage::store_mup_study(db, "lr-transfer", "pilot", pilot_json(32, 64, 0.008, "parabola"));
  const auto standard = resolve_error(sweeps::parse_spec(lr_from_spec("", "standard"), "s.toml"), db);
  EXPECT_NE(standard.find("s.toml: lr_from:"), std::string::npos) << standard;
  EXPECT_NE(standard.find("parametrisation"), std::string::npos) << standard;
  try {
    sweeps::parse_spec(lr_from_spec("lr = [1e-3]\n"), "s.toml");
    ADD_FAILURE() << "grid.lr and lr_from both accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("s.toml: grid.lr"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}
