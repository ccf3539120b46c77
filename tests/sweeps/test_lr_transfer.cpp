// Learning-rate transfer: the spec's errors, the plan, the curves read from synthetic runs (seeds
// averaged, diverged and unfinished runs left out and noted), and a tiny study end to end through
// the real `dlcm` binary and sweep machinery: stored in the database, a re-run trains nothing. The
// fit of the curves is tests/fitting/test_lr_transfer.cpp's.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/corpus.hpp"
#include "core/mup.hpp"
#include "fitting/lr_transfer.hpp"
#include "storage/central.hpp"
#include "sweeps/lr_transfer.hpp"
#include "test_util.hpp"
#include "corpus_fixture.hpp"

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
      if (std::string(a) < b) {
        for (const auto& h : hashes[a]) EXPECT_FALSE(hashes[b].count(h)) << a << " and " << b << " share a run";
      }
  EXPECT_NE(expect_error("rate = \"backbone\"\n" + kSpec).find("s.toml: rate: unknown rate \"backbone\" (expected all, token, concept, other)"),
            std::string::npos);
}

TEST(LrTransferCurves, AverageSeedsAndNoteDivergedAndUnfinishedRuns) {
  const auto spec = sweeps::parse_lr_transfer_spec("seeds = [1, 2]\n" + kSpec, "s.toml");
  const auto plan = sweeps::plan_lr_transfer(spec);
  // Each run's loss is 2 + its rate + its seed / 10; at d_token 64 the largest rate diverged at
  // seed 2, the smallest is still pending at seed 1 and has no row at seed 2.
  std::vector<storage::RunRow> rows;
  for (const auto& r : plan.plan.runs) {
    const double lr = r.cfg.train.lr;
    const auto seed = static_cast<int64_t>(r.cfg.train.seed);
    const bool wide = r.cfg.model.d_token == 64;
    if (wide && lr < 2e-3 && seed == 2) continue;
    storage::RunRow row;
    row.hash = r.hash;
    row.status = !wide ? "completed" : lr > 0.01 && seed == 2 ? "diverged" : lr < 2e-3 && seed == 1 ? "pending" : "completed";
    if (row.status == "completed") row.final_val_loss = 2 + lr + static_cast<double>(seed) / 10;
    rows.push_back(row);
  }
  const auto c = sweeps::lr_transfer_curves(spec, plan, rows);
  EXPECT_EQ(c.name, "t");
  EXPECT_EQ(c.rate, "all");
  EXPECT_EQ(c.d_token_base, 32);
  EXPECT_EQ(c.d_concept_base, 64);
  ASSERT_EQ(c.curves.size(), 4u);  // token d32, token d64, both d32/c64, both d64/c128
  const std::vector<std::pair<std::string, int>> order{{"token", 32}, {"token", 64}, {"both", 32}, {"both", 64}};
  for (size_t k = 0; k < 4; ++k) {
    const auto& r = c.curves[k];
    SCOPED_TRACE(r.axis + " d" + std::to_string(r.width_token));
    EXPECT_EQ(r.axis, order[k].first);
    EXPECT_EQ(r.width_token, order[k].second);
    EXPECT_EQ(r.width_concept, r.axis == "token" ? 64 : 2 * r.width_token);
    EXPECT_EQ(r.lrs, spec.lrs);
    ASSERT_EQ(r.losses.size(), 5u);
    for (size_t i = 1; i < 4; ++i) EXPECT_NEAR(*r.losses[i], 2 + spec.lrs[i] + 0.15, 1e-12) << i;  // mean of the seeds
    if (r.width_token == 32) {
      EXPECT_NEAR(*r.losses[0], 2 + 1e-3 + 0.15, 1e-12);
      EXPECT_NEAR(*r.losses[4], 2 + 1.6e-2 + 0.15, 1e-12);
      EXPECT_TRUE(r.notes.empty());
    } else {
      EXPECT_FALSE(r.losses[0]);
      EXPECT_FALSE(r.losses[4]);
      EXPECT_EQ(r.notes, (std::vector<std::string>{"lr 0.001 seed 1: not finished (pending)",
                                                   "lr 0.016 seed 2: diverged"}));
    }
  }
  const auto missing = sweeps::lr_transfer_curves(spec, plan, {});
  EXPECT_EQ(missing.curves[0].notes[0], "lr 0.001 seed 1: not finished (missing)");
}

TEST(LrTransferCli, RunsThroughTheSweepMachineryStoresTheStudyAndAReRunTrainsNothing) {
  const auto root = test::root_with_corpus("lr-transfer", 30000);
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
  fitting::TransferAnalysis a;
  a.name = "pilot";
  a.rate = "all";
  a.d_token_base = d_token_base;
  a.d_concept_base = d_concept_base;
  a.best_base_lr_mup = best;
  a.base_method_mup = method;
  return fitting::to_json(a);
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
