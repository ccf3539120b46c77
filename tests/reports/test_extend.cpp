// dlcm sweep extend on a synthetic study filled through the real plan and ingest paths: per budget,
// the loss is a parabola in log N with a known optimum; the baseline's optimum lies below its
// smallest size at the smallest budget and inside the range elsewhere, DLCM's is inside everywhere.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "reports/extend.hpp"
#include "reports/recommend.hpp"
#include "storage/central.hpp"
#include "storage/run_metrics.hpp"
#include "sweeps/spec.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace dlcm;

namespace {

constexpr double kLowBudget = 1e13;

std::string spec_text(const fs::path& runs) {
  return fmt::format(R"(name = "ext"
budgets = [1e13, 3e13, 1e14]
runs_dir = "{}"
max_steps = 100000000
[grid]
d_token = [32, 48, 64, 96, 128]
baseline_layers = [2]
d_concept = [64]
concept_layers = [2]
encoder_layers = [1]
decoder_layers = [1]
ratio = [1, 4]
seed = [1]
lr = [3e-3]
[base.model]
seq_len = 64
n_heads_token = 4
n_heads_concept = 4
[base.train]
batch_size = 8
[base.data]
dir = "data/corpus"
)",
                     runs.string());
}

struct Filled {
  double baseline_N_min = 0;  // at the low budget
};

// A completed run directory with this final loss, ingested as the trainer's would be.
void ingest(storage::Database& db, const sweeps::SweepSpec& spec, const sweeps::PlannedRun& r, double loss) {
  const fs::path run = fs::path(spec.runs_dir) / r.hash;
  fs::create_directories(run);
  {
    auto m = storage::open_run_metrics((run / "metrics.sqlite").string());
    storage::write_metrics(m, {{r.steps, "train", "all", "loss", loss}, {r.steps, "val", "all", "loss", loss}});
  }
  nlohmann::json res = {{"status", "completed"}, {"steps", r.steps}, {"final_val_loss", loss},
                        {"run_mean_ratio", r.R}, {"realised_ratio", r.R}, {"tokens", r.D}};
  std::ofstream(run / "result.json") << res.dump();
  storage::ingest_run_dir(db, r.hash, run.string());
}

// Plans the spec, registers it and ingests a completed run per planned run.
Filled fill(storage::Database& db, const fs::path& dir) {
  const auto spec = sweeps::parse_spec(spec_text(dir / "runs"), "ext.toml");
  const auto p = sweeps::plan(spec);
  std::vector<storage::RunPlanRow> rows;
  // Per family and budget: the range of N, so the optimum can be placed relative to it.
  std::map<std::pair<bool, double>, std::pair<double, double>> range;
  for (const auto& r : p.runs) {
    const bool dlcm = r.cfg.model.arch == Arch::dlcm;
    auto [it, fresh] = range.try_emplace({dlcm, r.budget}, r.N, r.N);
    it->second.first = std::min(it->second.first, r.N);
    it->second.second = std::max(it->second.second, r.N);
    rows.push_back({r.hash, r.label, to_toml(r.cfg), (fs::path(spec.runs_dir) / r.hash).string(),
                    name(r.cfg.model.arch), r.budget, r.N, r.P, r.R, r.D, r.C, r.flops_per_token, r.steps});
  }
  storage::register_sweep(db, spec.name, spec.text, rows);
  Filled f;
  for (const auto& r : p.runs) {
    const bool dlcm = r.cfg.model.arch == Arch::dlcm;
    const auto [lo, hi] = range.at({dlcm, r.budget});
    // Baseline at the low budget: optimum at 0.4 × the smallest size; otherwise mid-range.
    const double n_opt = !dlcm && r.budget == kLowBudget ? 0.4 * lo : std::sqrt(lo * hi);
    if (!dlcm && r.budget == kLowBudget) f.baseline_N_min = lo;
    const double u = std::log(r.N / n_opt);
    ingest(db, spec, r, (dlcm ? 2.1 : 2.0) - 0.1 * std::log10(r.budget) + 0.08 * u * u);
  }
  return f;
}

// --pin with a small bootstrap, the law's offsets fixed at 0 as the main job fits it.
reports::ExtendOptions pin_options() {
  reports::ExtendOptions opt;
  opt.pin = true;
  opt.bootstrap = 4;
  opt.fit.offsets = false;
  opt.fit.threads = 1;
  return opt;
}

struct ExtendTest : ::testing::Test {
  fs::path dir;
  void SetUp() override {
    dir = fs::temp_directory_path() / fmt::format("dlcm-extend-{}", ::getpid());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
};

}  // namespace

TEST_F(ExtendTest, ProposesSmallerBaselinesWhereTheMinimumIsBelowTheRange) {
  auto db = storage::open_central((dir / "dlcm.db").string());
  const Filled f = fill(db, dir);
  const auto ext = reports::plan_extension(db, "ext");

  // Every family and budget checked; only the baseline at the low budget is un-bracketed.
  ASSERT_EQ(ext.checks.size(), 6u);
  for (const auto& c : ext.checks) {
    const bool low_baseline = c.family == "baseline" && c.budget == kLowBudget;
    EXPECT_EQ(c.bracketed, !low_baseline) << c.family << " " << c.budget << ": " << c.reason;
    if (low_baseline) {
      EXPECT_EQ(c.side, "small");
      EXPECT_NE(c.reason.find("below the runs' range"), std::string::npos) << c.reason;
    }
  }
  // Two new sizes below the smallest, stepping by about the existing log-spacing, at that budget only.
  ASSERT_EQ(ext.proposals.size(), 2u) << ext.notes.size();
  const auto spec = sweeps::parse_spec(spec_text(dir / "runs"), "ext.toml");
  double prev = f.baseline_N_min;
  for (const auto& p : ext.proposals) {
    EXPECT_EQ(p.family, "baseline");
    EXPECT_EQ(p.side, "small");
    EXPECT_EQ(p.budget, kLowBudget);
    EXPECT_LT(p.N, prev / 1.1) << p.label;
    prev = p.N;
    EXPECT_EQ(p.cfg.model.arch, Arch::baseline);
    EXPECT_LT(p.cfg.model.d_token, 32) << p.label;
    EXPECT_NE(p.label.find(fmt::format("d{}", p.cfg.model.d_token)), std::string::npos) << p.label;
    EXPECT_NO_THROW(validate(p.cfg, "proposal"));
    // Steps as the planner derives them from the budget.
    RunConfig c = p.cfg;
    c.train.steps = 0;
    ASSERT_EQ(sweeps::set_budget_steps(spec, c, kLowBudget), "");
    EXPECT_EQ(c.train.steps, p.steps);
    EXPECT_NEAR(p.C / kLowBudget, 1.0, 0.01);
  }
  // The sizes span roughly one log-step each (the existing 5 sizes span d32..d128).
  EXPECT_GT(f.baseline_N_min / ext.proposals.back().N, 1.5);
  EXPECT_EQ(reports::to_json(ext)["proposals"].size(), 2u);
}

TEST_F(ExtendTest, AProbeAtOneSizePerBudgetIsNotAnIsoflopCurveToExtend) {
  auto db = storage::open_central((dir / "dlcm.db").string());
  fill(db, dir);
  // An R = 8 probe at one size per budget, as a study moves R at its middle size.
  const auto spec = sweeps::parse_spec(spec_text(dir / "runs"), "ext.toml");
  for (const auto& r : sweeps::plan(spec).runs) {
    if (r.cfg.model.arch != Arch::dlcm || r.cfg.model.d_token != 64) continue;
    RunConfig c = r.cfg;
    c.boundary.ratio = 8;
    ASSERT_EQ(sweeps::set_budget_steps(spec, c, r.budget), "");
    const auto probe = sweeps::planned_run(c, r.label + " R8", r.budget);
    storage::register_sweep(db, "ext", spec.text,
                            {{probe.hash, probe.label, to_toml(c), (fs::path(spec.runs_dir) / probe.hash).string(),
                              "dlcm", probe.budget, probe.N, probe.P, probe.R, probe.D, probe.C,
                              probe.flops_per_token, probe.steps}});
    ingest(db, spec, probe, 1.0);
  }
  const auto ext = reports::plan_extension(db, "ext");
  for (const auto& c : ext.checks) EXPECT_NE(c.family, "dlcm R8") << c.budget;
  for (const auto& p : ext.proposals) EXPECT_NE(p.family, "dlcm R8") << p.label;
  EXPECT_EQ(ext.proposals.size(), 2u);  // the baseline's, as without the probe
  ASSERT_EQ(ext.notes.size(), 1u);
  EXPECT_NE(ext.notes[0].find("dlcm R8 is a probe"), std::string::npos) << ext.notes[0];
}

TEST_F(ExtendTest, ApplyRegistersTheProposalsAsPending) {
  auto db = storage::open_central((dir / "dlcm.db").string());
  fill(db, dir);
  const auto before = storage::sweep_runs(db, "ext").size();
  const auto ext = reports::plan_extension(db, "ext");
  ASSERT_EQ(ext.proposals.size(), 2u);
  EXPECT_EQ(reports::apply_extension(db, ext), 2u);
  const auto runs = storage::sweep_runs(db, "ext");
  EXPECT_EQ(runs.size(), before + 2);
  EXPECT_EQ(std::count_if(runs.begin(), runs.end(), [](const auto& r) { return r.origin == "plan"; }), before);
  for (const auto& p : ext.proposals) {
    const auto it = std::find_if(runs.begin(), runs.end(), [&](const auto& r) { return r.hash == p.hash; });
    ASSERT_NE(it, runs.end()) << p.label;
    EXPECT_EQ(it->status, "pending");
    EXPECT_EQ(it->origin, "extend");  // so the launchers train it though the spec does not plan it
    EXPECT_EQ(it->budget, kLowBudget);
    EXPECT_EQ(it->label, p.label);
    EXPECT_EQ(it->steps, p.steps);
    EXPECT_EQ(fs::path(it->run_dir).parent_path(), dir / "runs");
    EXPECT_EQ(to_toml(parse_run_config(it->config, "row")), to_toml(p.cfg));
  }
  // Applying again adds nothing; a second extend proposes new sizes beyond the pending ones only
  // once they have results (pending runs are not evidence).
  EXPECT_EQ(reports::apply_extension(db, ext), 0u);
  const auto again = reports::plan_extension(db, "ext");
  for (const auto& p : again.proposals)
    for (const auto& q : ext.proposals) EXPECT_NE(p.hash, q.hash);
}

TEST_F(ExtendTest, CommandPrintsThenAppliesAndStatusShowsThePendingRuns) {
  const std::string path = (dir / "dlcm.db").string();
  {
    auto db = storage::open_central(path);
    fill(db, dir);
  }
  const auto dry = test::run_command(fmt::format("{} sweep extend ext --db {} 2>&1", DLCM_BIN, test::shell_quote(path)));
  ASSERT_EQ(dry.code, 0) << dry.out;
  EXPECT_NE(dry.out.find("NOT bracketed"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("2 proposed runs; --apply registers them"), std::string::npos) << dry.out;
  {
    auto db = storage::open_central(path);
    EXPECT_EQ(storage::sweep_runs(db, "ext").size(), 30u);  // nothing registered without --apply
  }
  const auto applied =
      test::run_command(fmt::format("{} sweep extend ext --db {} --apply --json 2>&1", DLCM_BIN, test::shell_quote(path)));
  ASSERT_EQ(applied.code, 0) << applied.out;
  const auto j = nlohmann::json::parse(applied.out);
  EXPECT_EQ(j["registered"], 2);
  ASSERT_EQ(j["proposals"].size(), 2u);
  const auto status =
      test::run_command(fmt::format("{} sweep status ext --db {} --json 2>&1", DLCM_BIN, test::shell_quote(path)));
  ASSERT_EQ(status.code, 0) << status.out;
  int pending = 0;
  for (const auto& r : nlohmann::json::parse(status.out))
    for (const auto& p : j["proposals"])
      if (r["hash"] == p["hash"] && r["status"] == "pending" && r["origin"] == "extend") ++pending;
  EXPECT_EQ(pending, 2);
  std::cout << dry.out;  // what a reader sees
}

// --pin: every DLCM run of the synthetic study is at R = 4 with one backbone width, so the law's
// compression exponent gamma cannot be told from A_con (one R: a flat direction). The proposals move
// R (×½, ×2) on the best DLCM run of the largest budget, widths, seed and rate unchanged.
TEST_F(ExtendTest, PinProposesRunsThatMoveWhatTheUnidentifiedTermReads) {
  auto db = storage::open_central((dir / "dlcm.db").string());
  fill(db, dir);
  const auto opt = pin_options();
  const auto ext = reports::plan_extension(db, "ext", opt);
  ASSERT_TRUE(ext.pin.has_value());
  EXPECT_TRUE(ext.pin->unidentified);
  const auto& params = ext.pin->params;
  ASSERT_NE(std::find(params.begin(), params.end(), "gamma"), params.end()) << ext.pin->why;

  // The template: the lowest loss among the DLCM runs at the largest budget.
  const auto study = reports::load_study(db, "ext");
  std::string tpl_label;
  double tpl_loss = INFINITY;
  for (std::size_t i = 0; i < study.dlcm.size(); ++i)
    if (study.dlcm[i].budget == 1e14 && study.dlcm[i].loss < tpl_loss) {
      tpl_loss = study.dlcm[i].loss;
      tpl_label = study.dlcm_labels[i];
    }
  const auto tpl_row = std::find_if(study.runs.begin(), study.runs.end(),
                                    [&](const auto& r) { return r.label == tpl_label && r.budget == 1e14; });
  ASSERT_NE(tpl_row, study.runs.end());
  const RunConfig tpl = parse_run_config(tpl_row->config, "template");
  const auto spec = sweeps::parse_spec(spec_text(dir / "runs"), "ext.toml");
  std::vector<double> ratios;
  for (const auto& p : ext.proposals) {
    if (p.side != "pin") continue;
    EXPECT_EQ(p.from_label, tpl_label);
    EXPECT_EQ(p.label, sweeps::run_label(p.cfg));
    EXPECT_NO_THROW(validate(p.cfg, "proposal"));
    RunConfig c = p.cfg;
    c.train.steps = 0;
    ASSERT_EQ(sweeps::set_budget_steps(spec, c, p.budget), "") << p.label;
    EXPECT_EQ(c.train.steps, p.steps);
    if (p.why.find("compression ratio") == std::string::npos) continue;
    EXPECT_NE(p.why.find("gamma"), std::string::npos) << p.why;
    EXPECT_EQ(p.budget, 1e14);
    RunConfig back = p.cfg;  // the template but for its ratio and steps
    back.boundary.ratio = tpl.boundary.ratio;
    back.train.steps = tpl.train.steps;
    back.train.warmup_steps = tpl.train.warmup_steps;
    back.train.eval_every = tpl.train.eval_every;
    back.train.checkpoint_every = tpl.train.checkpoint_every;
    EXPECT_EQ(to_toml(back), to_toml(tpl)) << p.label;
    ratios.push_back(p.R);
  }
  EXPECT_EQ(ratios, (std::vector<double>{2, 8}));
  const auto j = reports::to_json(ext);
  EXPECT_EQ(j["pin"]["unidentified"], true);
}

// A pin run the sweep already holds (here: registered by the first --pin --apply, still pending)
// is proposed again at its next seed: a replicate, not a duplicate.
TEST_F(ExtendTest, PinRunsAlreadyInTheSweepComeBackAsTheirNextSeed) {
  auto db = storage::open_central((dir / "dlcm.db").string());
  fill(db, dir);
  const auto opt = pin_options();
  const auto first = reports::plan_extension(db, "ext", opt);
  ASSERT_EQ(reports::apply_extension(db, first), first.proposals.size());
  const auto second = reports::plan_extension(db, "ext", opt);
  auto pins = [](const reports::Extension& e) {
    std::vector<reports::ExtendProposal> out;
    for (const auto& p : e.proposals)
      if (p.side == "pin") out.push_back(p);
    return out;
  };
  const auto a_pins = pins(first), b_pins = pins(second);
  ASSERT_FALSE(a_pins.empty());
  ASSERT_EQ(b_pins.size(), a_pins.size());
  for (std::size_t i = 0; i < a_pins.size(); ++i) {
    const auto& a = a_pins[i];
    const auto& b = b_pins[i];
    EXPECT_NE(a.hash, b.hash);
    EXPECT_EQ(b.cfg.train.seed, a.cfg.train.seed + 1) << b.label;
    RunConfig same = b.cfg;
    same.train.seed = a.cfg.train.seed;
    EXPECT_EQ(to_toml(same), to_toml(a.cfg));
    EXPECT_NE(b.label.find(fmt::format(" s{} ", b.cfg.train.seed)), std::string::npos) << b.label;
  }
}
