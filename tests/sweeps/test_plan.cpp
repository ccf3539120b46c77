// The planner's arithmetic and the spec's strictness.
#include <gtest/gtest.h>

#include "core/flops.hpp"
#include "sweeps/spec.hpp"

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

std::string error_of(const std::string& text) {
  try {
    plan(parse_spec(text, "spec.toml"));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
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
