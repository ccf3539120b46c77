// `--set KEY=VALUE` on a parsed TOML table: dotted and quoted keys, tables made on the way, a value
// replacing what was there, later overrides winning, and errors naming the argument or the key.
#include <gtest/gtest.h>

#include "core/overrides.hpp"
#include "test_util.hpp"

using namespace dlcm;

namespace {
std::string error_of(toml::table& t, const std::vector<std::string>& sets) {
  return test::error_of([&] { apply_overrides(t, sets, "f.toml"); });
}
}  // namespace

TEST(Overrides, DottedAndQuotedKeysReachNestedTables) {
  toml::table t = toml::parse("budgets = [1e12]\n[base.train]\nlr = 3e-3\nsteps = 10\n");
  apply_overrides(t,
                  {"base.train.lr=1e-3", "budgets = [1e12, 3e12]", "grid.per_budget.\"3e12\".d_token=[32,48]",
                   "base.model.parametrisation=\"mup\"", "base.train.lr=2e-3"},
                  "f.toml");
  EXPECT_EQ(t.at_path("base.train.lr").value_or(-1.0), 2e-3);  // the later one wins
  EXPECT_EQ(t.at_path("base.train.steps").value_or(int64_t{-1}), 10);  // untouched keys stay
  EXPECT_EQ(t["budgets"].as_array()->size(), 2u);
  EXPECT_EQ(t["grid"]["per_budget"]["3e12"]["d_token"][1].value_or(int64_t{-1}), 48);
  EXPECT_EQ(t.at_path("base.model.parametrisation").value_or(std::string()), "mup");
}

TEST(Overrides, AnInlineTableReplacesTheTable) {
  toml::table t = toml::parse("[train]\nlr = 3e-3\nsteps = 10\n");
  apply_overrides(t, {"train = {steps = 2}"}, "f.toml");
  EXPECT_EQ(t["train"].as_table()->size(), 1u);
  EXPECT_EQ(t.at_path("train.steps").value_or(int64_t{-1}), 2);
}

TEST(Overrides, ErrorsNameTheArgumentOrTheKey) {
  toml::table t = toml::parse("[train]\nlr = 3e-3\n");
  EXPECT_EQ(error_of(t, {"train.lr"}), "--set train.lr: expected KEY=VALUE (e.g. --set train.lr=1e-3)");
  EXPECT_EQ(error_of(t, {"train lr=1"}).rfind("--set train lr=1: \"train lr\" is not a TOML key", 0), 0u);
  EXPECT_EQ(error_of(t, {"train.lr=1e-3 x"}).rfind("--set train.lr=1e-3 x: \"1e-3 x\" is not a TOML value", 0), 0u);
  EXPECT_EQ(error_of(t, {"a=1\nb=2"}), "--set a=1\nb=2: one KEY=VALUE per --set, on one line");
  EXPECT_EQ(error_of(t, {"train.lr.x=1"}), "f.toml: train.lr: not a table, so --set train.lr.x=1 cannot set a key inside it");
}

TEST(Overrides, ALoadersErrorIsNotedWhenAnOverrideSetItsKey) {
  const std::vector<std::string> sets = {"train.lr=\"x\"", "grid.per_budget.\"1e12\".lr=[1]"};
  EXPECT_EQ(note_overrides("f.toml: train.lr: expected a number", "f.toml", sets),
            "f.toml: train.lr: expected a number (from --set train.lr=\"x\")");
  EXPECT_EQ(note_overrides("f.toml: grid.per_budget.\"1e12\".lr: bad", "f.toml", sets),
            "f.toml: grid.per_budget.\"1e12\".lr: bad (from --set grid.per_budget.\"1e12\".lr=[1])");
  // A key inside the one overridden, and one the message names beside its own.
  EXPECT_EQ(note_overrides("f.toml: model.d: 3 is not divisible by train.lr = 2", "f.toml", sets),
            "f.toml: model.d: 3 is not divisible by train.lr = 2 (from --set train.lr=\"x\")");
  // Unrelated keys, longer keys sharing a prefix and other files are left alone.
  EXPECT_EQ(note_overrides("f.toml: train.lr_token: bad", "f.toml", sets), "f.toml: train.lr_token: bad");
  EXPECT_EQ(note_overrides("f.toml: base.train.lr: bad", "f.toml", sets), "f.toml: base.train.lr: bad");
  EXPECT_EQ(note_overrides("g.toml: train.lr: bad", "f.toml", sets), "g.toml: train.lr: bad");
}
