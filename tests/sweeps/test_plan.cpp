// The planner's arithmetic and the spec's strictness.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "core/flops.hpp"
#include "sweeps/spec.hpp"
#include "test_util.hpp"

using namespace dlcm;
using namespace dlcm::sweeps;

namespace {
const std::string kSpec = R"(
name = "t"
budgets = [1e11, 1e12]
[grid]
d_token = [32, 64]
baseline_layers = [2]
d_concept = [64, 128]
ratio = [1, 2, 4]
[base.model]
seq_len = 128
n_heads_token = 2
n_heads_concept = 2
concept_layers = 1
[base.train]
batch_size = 8
[base.data]
dir = "corpus"
)";

// kSpec with `from` replaced by `to` (each must occur).
std::string edited(std::string text, const std::vector<std::pair<std::string, std::string>>& edits) {
  for (const auto& [from, to] : edits) {
    const auto pos = text.find(from);
    if (pos == std::string::npos) throw std::logic_error("not in the spec: " + from);
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::string error_of(const std::string& text) {
  return test::error_of([&] { plan(parse_spec(text, "spec.toml")); });
}
}  // namespace

TEST(Plan, TokensTimesSixNeffIsTheBudgetWithinOneStep) {
  const auto p = plan(parse_spec(kSpec, "spec.toml"));
  ASSERT_FALSE(p.runs.empty());
  for (const auto& r : p.runs) {
    const double tokens_per_step = 8.0 * 128;
    EXPECT_DOUBLE_EQ(r.D, r.steps * tokens_per_step);
    EXPECT_DOUBLE_EQ(r.C, 6.0 * r.n_eff * r.D);
    EXPECT_DOUBLE_EQ(r.flops_per_token, flops_per_token(r.cfg.model, r.cfg.boundary, r.R).train_flops());
    // Rounding to whole steps moves C by at most half a step's compute.
    EXPECT_LE(std::abs(r.C - r.budget), 0.5 * r.flops_per_token * tokens_per_step + 1e-6) << r.label;
    const auto counts = count_params(r.cfg.model, r.cfg.boundary);
    EXPECT_DOUBLE_EQ(r.N, static_cast<double>(counts.total() - counts.embedding - counts.head));  // non-embedding
    EXPECT_DOUBLE_EQ(r.P, static_cast<double>(counts.backbone) / r.N);
    EXPECT_EQ(r.cfg.train.steps, r.steps);
    EXPECT_EQ(r.R == 1, r.cfg.model.arch == Arch::baseline);
  }
  // 2 budgets × (2 baselines + 2 widths × 2 concept widths × 2 ratios), minus what does not fit.
  EXPECT_EQ(p.runs.size() + p.dropped.size(), 2u * (2 + 8));
  for (const auto& d : p.dropped) EXPECT_NE(d.reason.find("steps < min_steps"), std::string::npos);
}

TEST(Plan, RunIdentityIsAStableHashOfTheCanonicalConfig) {
  const auto a = plan(parse_spec(kSpec, "spec.toml"));
  const auto b = plan(parse_spec(kSpec, "elsewhere.toml"));
  ASSERT_EQ(a.runs.size(), b.runs.size());
  for (size_t i = 0; i < a.runs.size(); ++i) EXPECT_EQ(a.runs[i].hash, b.runs[i].hash);
  // Golden value: changing it invalidates every existing sweep's run directories.
  RunConfig c;
  c.data.dir = "corpus";
  EXPECT_EQ(config_hash(c), "72ce5669e347d2df");
  c.train.seed = 2;
  EXPECT_NE(config_hash(c), "72ce5669e347d2df");
}

TEST(Plan, BadSpecsNameTheKey) {
  struct Case {
    std::string from, to, expect;
  };
  const Case cases[] = {
      {"name = \"t\"", "name = \"t\"\ncolour = 1", "spec.toml: colour: unknown key"},
      {"name = \"t\"", "name = \"t\"\nbaselines_in_law = 1", "spec.toml: baselines_in_law: expected true or false"},
      {"budgets = [1e11, 1e12]", "budgets = [1e11, -1e12]", "spec.toml: budgets: budgets must be positive"},
      {"budgets = [1e11, 1e12]", "budgets = [0.0]", "spec.toml: budgets: budgets must be positive"},
      {"budgets = [1e11, 1e12]", "budgets = \"lots\"", "spec.toml: budgets: expected a list"},
      {"ratio = [1, 2, 4]", "ratio = [1, 0.5]", "spec.toml: grid.ratio: R must be at least 1"},
      {"ratio = [1, 2, 4]", "ratio = [2, 4]", "spec.toml: grid.ratio: must include 1"},
      {"d_token = [32, 64]", "d_token = []", "spec.toml: grid.d_token: empty list"},
      {"d_token = [32, 64]", "d_token = [32, 32]", "spec.toml: grid.d_token: duplicate values"},
      {"d_token = [32, 64]", "d_token = [33]", "spec.toml: model.d_token: 33 is not divisible by model.n_heads_token = 2"},
      {"d_token = [32, 64]", "d_token = [\"wide\"]", "spec.toml: grid.d_token: expected a list of integers"},
      {"d_token = [32, 64]", "d_tokens = [32]", "spec.toml: grid.d_tokens: unknown key"},
      {"batch_size = 8", "batch_sise = 8", "spec.toml: base.train.batch_sise: unknown key"},
      {"name = \"t\"", "name = \"\"", "spec.toml: name: required"},
      {"budgets = [1e11, 1e12]", "budgets = [1e3]", "spec.toml: budgets: no grid point fits any budget"},
  };
  for (const auto& c : cases) {
    std::string text = kSpec;
    const auto pos = text.find(c.from);
    ASSERT_NE(pos, std::string::npos) << c.from;
    text.replace(pos, c.from.size(), c.to);
    const auto err = error_of(text);
    EXPECT_NE(err.find(c.expect), std::string::npos) << "got: " << err << "\nwant: " << c.expect;
  }
}

TEST(Plan, PairedAxesZipTheirListsInsteadOfCrossingThem) {
  // d_token 32 goes with d_concept 64 and 128, d_token 64 with 128: a paired list may repeat a value.
  const auto p = plan(parse_spec(edited(kSpec, {{"d_token = [32, 64]", "d_token = [32, 32, 64]"},
                                                {"d_concept = [64, 128]", "d_concept = [64, 128, 128]\n"
                                                                          "pair = [\"d_token\", \"d_concept\"]"}}),
                                 "spec.toml"));
  std::set<std::pair<int, int>> dlcm;
  std::set<int> baselines;
  for (const auto& r : p.runs) {
    if (r.cfg.model.arch == Arch::dlcm) dlcm.insert({r.cfg.model.d_token, r.cfg.model.d_concept});
    else baselines.insert(r.cfg.model.d_token);
  }
  EXPECT_EQ(dlcm, (std::set<std::pair<int, int>>{{32, 64}, {32, 128}, {64, 128}}));  // never (64, 64)
  EXPECT_EQ(baselines, (std::set<int>{32, 64}));  // a baseline ignores d_concept: one per d_token
  // 2 budgets × (2 baselines + 3 pairs × 2 ratios), minus what does not fit.
  EXPECT_EQ(p.runs.size() + p.dropped.size(), 2u * (2 + 6));
  for (const auto& d : p.dropped) EXPECT_EQ(d.label.find("dlcm d64 c64x"), std::string::npos) << d.label;
}

TEST(Plan, ConceptWidthMultiplesTrackTheTokenWidthAndNameTheSameRuns) {
  const auto by_mult = plan(parse_spec(
      edited(kSpec, {{"d_concept = [64, 128]", "concept_width_mult = [1, 2]"}, {"ratio = [1, 2, 4]", "ratio = [1, 4]"}}),
      "spec.toml"));
  std::set<std::string> hashes;
  for (const auto& r : by_mult.runs) {
    hashes.insert(r.hash);
    if (r.cfg.model.arch == Arch::dlcm) {
      EXPECT_TRUE(r.cfg.model.d_concept == r.cfg.model.d_token || r.cfg.model.d_concept == 2 * r.cfg.model.d_token)
          << r.label;
    }
  }
  // The same points written out as paired widths are the same runs (identity is the config).
  const auto by_pair = plan(parse_spec(edited(kSpec, {{"d_token = [32, 64]", "d_token = [32, 32, 64, 64]"},
                                                      {"d_concept = [64, 128]", "d_concept = [32, 64, 64, 128]\n"
                                                                                "pair = [\"d_token\", \"d_concept\"]"},
                                                      {"ratio = [1, 2, 4]", "ratio = [1, 4]"}}),
                                       "spec.toml"));
  std::set<std::string> pair_hashes;
  for (const auto& r : by_pair.runs) pair_hashes.insert(r.hash);
  EXPECT_EQ(hashes, pair_hashes);
}

namespace {
// Baselines only, 2 layers, widths 8..128 over a 10× range of budgets.
const std::string kWindowSpec = R"(
name = "w"
budgets = [1e11, 1e12]
[grid]
d_token = [8, 16, 24, 32, 48, 64, 96, 128]
ratio = [1]
baseline_layers = [2]
tokens_per_param = [20, 200]
[base.model]
seq_len = 128
n_heads_token = 2
[base.train]
batch_size = 8
[base.data]
dir = "corpus"
)";
}  // namespace

TEST(Plan, ASizeWindowSlidesWithTheBudget) {
  const auto p = plan(parse_spec(kWindowSpec, "spec.toml"));
  std::map<double, std::pair<double, double>> kept;  // budget -> smallest and largest N kept
  for (const auto& r : p.runs) {
    EXPECT_GE(r.D / r.N, 20) << r.label;
    EXPECT_LE(r.D / r.N, 200) << r.label;
    auto [it, fresh] = kept.try_emplace(r.budget, r.N, r.N);
    it->second = {std::min(it->second.first, r.N), std::max(it->second.second, r.N)};
  }
  ASSERT_EQ(kept.size(), 2u);
  // Ten times the compute keeps larger models at both ends of the window.
  EXPECT_GT(kept.at(1e12).first, kept.at(1e11).first);
  EXPECT_GT(kept.at(1e12).second, kept.at(1e11).second);
  // What the window drops is reported, on the side it falls.
  std::set<std::string> sides;
  for (const auto& d : p.dropped) {
    EXPECT_NE(d.reason.find("tokens_per_param [20, 200]"), std::string::npos) << d.reason;
    if (d.reason.find("below") != std::string::npos) sides.insert("too large");
    if (d.reason.find("above") != std::string::npos) sides.insert("too small");
  }
  EXPECT_EQ(sides, (std::set<std::string>{"too large", "too small"}));
  EXPECT_EQ(p.runs.size() + p.dropped.size(), 2u * 8);
}

TEST(Plan, PerBudgetTablesReplaceTheGridAtThatBudgetOnly) {
  const auto p = plan(parse_spec(edited(kWindowSpec, {{"[base.model]", "[grid.per_budget.\"1e12\"]\n"
                                                                       "d_token = [48, 64, 96]\n"
                                                                       "tokens_per_param = [5, 50]\n"
                                                                       "[base.model]"}}),
                                 "spec.toml"));
  std::map<double, std::set<int>> widths;
  for (const auto& r : p.runs) widths[r.budget].insert(r.cfg.model.d_token);
  for (const auto& d : p.dropped)
    if (d.budget == 1e12) {
      EXPECT_NE(d.reason.find("tokens_per_param [5, 50]"), std::string::npos) << d.reason;
    }
  ASSERT_EQ(widths.size(), 2u);
  for (int d : widths.at(1e12)) EXPECT_TRUE(d == 48 || d == 64 || d == 96) << d;
  EXPECT_TRUE(widths.at(1e11).count(16));  // the grid's own list and band still hold at 1e11
}

TEST(Plan, BadGridCombinationsNameTheKey) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> edits;
    std::string expect;
  };
  const std::string pair = "d_concept = [64, 128]\npair = [\"d_token\", \"d_concept\"]";
  const std::string per = "[base.model]";
  const Case cases[] = {
      {{{"d_concept = [64, 128]", "d_concept = [64, 128, 256]\npair = [\"d_token\", \"d_concept\"]"}},
       "spec.toml: grid.pair: paired axes zip lists of equal length: d_token has 2 values, d_concept has 3"},
      {{{"d_concept = [64, 128]", "pair = [\"d_token\", \"d_concept\"]"}},  // d_concept from the base: 1 value
       "spec.toml: grid.pair: paired axes zip lists of equal length"},
      {{{"d_concept = [64, 128]", "d_concept = [64, 128]\npair = [\"d_token\", \"width\"]"}},
       "spec.toml: grid.pair: \"width\" is not a grid axis"},
      {{{"d_concept = [64, 128]", "d_concept = [64, 128]\npair = [\"d_token\"]"}},
       "spec.toml: grid.pair: a pair needs at least two axes"},
      {{{"d_concept = [64, 128]", "d_concept = [64, 128]\npair = [[\"d_token\", \"d_concept\"], [\"d_token\", \"seed\"]]"}},
       "spec.toml: grid.pair: d_token is paired twice"},
      {{{"d_concept = [64, 128]", "d_concept = [64, 128]\npair = \"d_token\""}}, "spec.toml: grid.pair: expected a list"},
      {{{"d_token = [32, 64]", "d_token = [32, 32]"}, {"d_concept = [64, 128]", "d_concept = [64, 64]\npair = [\"d_token\", \"d_concept\"]"}},
       "spec.toml: grid.pair: (d_token, d_concept) = (32, 64) appears twice"},
      {{{"d_token = [32, 64]", "d_token = [32, 32]"}}, "spec.toml: grid.d_token: duplicate values"},  // not paired
      {{{"d_concept = [64, 128]", "d_concept = [64, 128]\nconcept_width_mult = [2]"}},
       "spec.toml: grid.concept_width_mult: give d_concept or concept_width_mult, not both"},
      {{{"d_concept = [64, 128]", "concept_width_mult = [1.3]"}},
       "spec.toml: grid.concept_width_mult: 1.3 × d_token 32 = 41.6 is not a whole width"},
      {{{"d_concept = [64, 128]", "concept_width_mult = [2, -1]"}},
       "spec.toml: grid.concept_width_mult: multipliers must be positive"},
      {{{"d_concept = [64, 128]", "concept_width_mult = [1, 2]\npair = [\"d_token\", \"d_concept\"]"}},
       "spec.toml: grid.pair: pairs d_concept, but the grid gives the concept width as concept_width_mult"},
      {{{"d_concept = [64, 128]", "d_concept = [64, 128]\ntokens_per_param = [200, 20]"}},
       "spec.toml: grid.tokens_per_param: lo must be below hi"},
      {{{"d_concept = [64, 128]", "d_concept = [64, 128]\ntokens_per_param = [-1, 20]"}},
       "spec.toml: grid.tokens_per_param: lo must be positive"},
      {{{"d_concept = [64, 128]", "d_concept = [64, 128]\ntokens_per_param = [20]"}},
       "spec.toml: grid.tokens_per_param: expected [lo, hi]"},
      {{{"d_concept = [64, 128]", "d_concept = [64, 128]\ntokens_per_param = [1e6, 1e7]"}},
       "spec.toml: grid.tokens_per_param: keeps no run at budget 1e+11"},
      {{{per, "[grid.per_budget.\"3e12\"]\nd_token = [32]\n" + per}},
       "spec.toml: grid.per_budget.\"3e12\": not one of budgets (1e+11, 1e+12)"},
      {{{per, "[grid.per_budget.\"lots\"]\nd_token = [32]\n" + per}}, "spec.toml: grid.per_budget.\"lots\": not one of budgets"},
      {{{per, "[grid.per_budget.1.2e12]\nd_token = [32]\n" + per}}, "spec.toml: grid.per_budget.\"1\": not one of budgets"},
      {{{per, "[grid.per_budget.\"1e12\"]\nd_tokens = [32]\n" + per}},
       "spec.toml: grid.per_budget.\"1e12\".d_tokens: unknown key"},
      {{{per, "[grid.per_budget.\"1e12\"]\npair = [\"d_token\", \"seed\"]\n" + per}},
       "spec.toml: grid.per_budget.\"1e12\".pair: unknown key"},
      {{{per, "[grid.per_budget.\"1e12\"]\nratio = [2]\n" + per}}, "spec.toml: grid.per_budget.\"1e12\".ratio: must include 1"},
      {{{per, "[grid.per_budget.\"1e12\"]\ntokens_per_param = [5, 5]\n" + per}},
       "spec.toml: grid.per_budget.\"1e12\".tokens_per_param: lo must be below hi"},
      {{{"d_concept = [64, 128]", pair}, {per, "[grid.per_budget.\"1e12\"]\nd_token = [32]\n" + per}},
       "spec.toml: grid.per_budget.\"1e12\": paired axes zip lists of equal length: d_token has 1 values, d_concept has 2"},
      {{{per, "[grid.per_budget.\"1e12\"]\ntokens_per_param = [1e6, 1e7]\n" + per}},
       "spec.toml: grid.per_budget.\"1e12\".tokens_per_param: keeps no run at budget 1e+12"},
      {{{"ratio = [1, 2, 4]", "ratio = [1, 2, 4]\nper_budget = 3"}}, "spec.toml: grid.per_budget: expected tables keyed by budget"},
  };
  for (const auto& c : cases) {
    const auto err = error_of(edited(kSpec, c.edits));
    EXPECT_NE(err.find(c.expect), std::string::npos) << "got: " << err << "\nwant: " << c.expect;
  }
}

TEST(Plan, BoundaryModeAxisPlansEachPredictorAtTheSameTargetAndBudget) {
  const auto p = plan(parse_spec(edited(kSpec, {{"ratio = [1, 2, 4]", "ratio = [1, 4]\nboundary_mode = [\"global\", "
                                                                      "\"sequence\", \"fixed\"]"}}),
                                 "spec.toml"));
  std::map<std::pair<double, std::string>, int> dlcm;  // (budget, mode) -> runs
  std::set<std::string> hashes;
  int baselines = 0;
  for (const auto& r : p.runs) {
    hashes.insert(r.hash);
    if (r.cfg.model.arch == Arch::baseline) {
      ++baselines;
      continue;
    }
    const std::string mode = name(r.cfg.boundary.mode);
    ++dlcm[{r.budget, mode}];
    EXPECT_EQ(r.R, 4);
    // The default predictor is unnamed in labels; the others are named.
    EXPECT_EQ(r.label.find(" sequence") != std::string::npos, mode == "sequence") << r.label;
    EXPECT_EQ(r.label.find(" fixed") != std::string::npos, mode == "fixed") << r.label;
  }
  EXPECT_EQ(hashes.size(), p.runs.size());  // the mode is part of a run's identity
  // The baseline has no boundaries: one baseline per width and budget, not one per mode.
  EXPECT_EQ(baselines, 2 * 2);
  for (double budget : {1e11, 1e12}) {
    const int global = dlcm[std::make_pair(budget, std::string("global"))];
    EXPECT_GT(global, 0);
    EXPECT_EQ(dlcm[std::make_pair(budget, std::string("sequence"))], global);
    EXPECT_EQ(dlcm[std::make_pair(budget, std::string("fixed"))], global);
  }
}

TEST(Plan, BoundaryModeDefaultsToTheBaseAndPairsLikeAnyAxis) {
  // Without the axis, every DLCM run takes [base.boundary] mode.
  const auto base = plan(parse_spec(edited(kSpec, {{"[base.train]", "[base.boundary]\nmode = \"sequence\"\n[base.train]"}}),
                                    "spec.toml"));
  for (const auto& r : base.runs) {
    if (r.cfg.model.arch == Arch::dlcm) {
      EXPECT_EQ(r.cfg.boundary.mode, BoundaryMode::sequence) << r.label;
    }
  }
  // Zipped with R: fixed at 2, global at 4 (and the baseline at 1).
  const auto zipped = plan(parse_spec(edited(kSpec, {{"ratio = [1, 2, 4]", "ratio = [1, 2, 4]\nboundary_mode = [\"global\", "
                                                                            "\"fixed\", \"global\"]\npair = [\"ratio\", "
                                                                            "\"boundary_mode\"]"}}),
                                      "spec.toml"));
  for (const auto& r : zipped.runs) {
    if (r.cfg.model.arch == Arch::baseline) continue;
    EXPECT_EQ(r.cfg.boundary.mode, r.R == 2 ? BoundaryMode::fixed : BoundaryMode::global) << r.label;
  }
}

TEST(Plan, BadBoundaryModesNameTheKey) {
  const std::pair<std::string, std::string> cases[] = {
      {"boundary_mode = [\"normal\"]", "spec.toml: grid.boundary_mode: \"normal\" is not a boundary mode (global, sequence, fixed)"},
      {"boundary_mode = [\"global\", \"global\"]", "spec.toml: grid.boundary_mode: duplicate values"},
      {"boundary_mode = []", "spec.toml: grid.boundary_mode: empty list"},
      {"boundary_mode = [4]", "spec.toml: grid.boundary_mode: expected a list of strings"},
      {"boundary_mode = \"global\"", "spec.toml: grid.boundary_mode: expected a list"},
      {"pair = [\"boundary_mode\", \"mode\"]", "spec.toml: grid.pair: \"mode\" is not a grid axis"},
  };
  for (const auto& [line, expect] : cases) {
    const auto err = error_of(edited(kSpec, {{"ratio = [1, 2, 4]", "ratio = [1, 2, 4]\n" + line}}));
    EXPECT_NE(err.find(expect), std::string::npos) << "got: " << err << "\nwant: " << expect;
  }
  // In a per-budget table too.
  const auto err = error_of(edited(kSpec, {{"[base.model]", "[grid.per_budget.\"1e12\"]\nboundary_mode = [\"parser\"]\n[base.model]"}}));
  EXPECT_NE(err.find("spec.toml: grid.per_budget.\"1e12\".boundary_mode: \"parser\" is not a boundary mode"), std::string::npos)
      << err;
}
