// The one TOML reader: its "FILE: KEY: WHY" messages, which the config, sweep-spec and
// lr-transfer-spec loaders (and their users' habits) rely on word for word.
#include <gtest/gtest.h>

#include <string>

#include "core/toml_read.hpp"
#include "test_util.hpp"

using namespace dlcm;

using dlcm::test::error_of;

TEST(TomlRead, SyntaxErrorsNameFileLineAndColumn) {
  EXPECT_EQ(error_of([] { parse_toml("a = 1\nb = = 2\n", "f.toml"); }).rfind("f.toml:2:", 0), 0u);
  EXPECT_NE(error_of([] { parse_toml("a = 1\nb = = 2\n", "f.toml"); }).find(": TOML syntax error: "),
            std::string::npos);
}

TEST(TomlRead, FailIsOneLineFileKeyWhy) {
  EXPECT_EQ(error_of([] { fail("f.toml", "train.lr", "must be positive"); }), "f.toml: train.lr: must be positive");
}

TEST(TomlRead, UnknownKeysAreNamedUnderTheirTable) {
  const auto t = parse_toml("a = 1\nzz = 2\n", "f.toml");
  EXPECT_EQ(error_of([&] { check_keys(t, {"a", "zz"}, "f.toml"); }), "");
  EXPECT_EQ(error_of([&] { check_keys(t, {"a"}, "f.toml", "grid."); }), "f.toml: grid.zz: unknown key");
  EXPECT_EQ(error_of([&] { check_keys(t, {"a"}, "f.toml", "", "no"); }), "f.toml: zz: no");
}

TEST(TomlRead, ScalarsOfTheWrongKindFailAndAbsentOnesKeepTheirDefault) {
  const auto t = parse_toml("i = 3\nx = 0.5\ns = 'hi'\nb = true\nsub = {}\n", "f.toml");
  int i = 0;
  int64_t j = 0;
  double x = 0;
  std::string s;
  bool b = false;
  EXPECT_TRUE(read_scalar(t, "i", i, "f.toml") && read_scalar(t, "i", j, "f.toml") && read_scalar(t, "x", x, "f.toml") &&
              read_scalar(t, "s", s, "f.toml") && read_scalar(t, "b", b, "f.toml"));
  EXPECT_EQ(i, 3);
  EXPECT_EQ(j, 3);
  EXPECT_EQ(x, 0.5);
  EXPECT_EQ(s, "hi");
  EXPECT_TRUE(b);
  double whole = 0;
  EXPECT_TRUE(read_scalar(t, "i", whole, "f.toml"));  // an integer is a number
  EXPECT_EQ(whole, 3);
  int kept = 7;
  EXPECT_FALSE(read_scalar(t, "missing", kept, "f.toml"));
  EXPECT_EQ(kept, 7);
  EXPECT_EQ(error_of([&] { read_scalar(t, "x", i, "f.toml", "m."); }), "f.toml: m.x: expected an integer");
  EXPECT_EQ(error_of([&] { read_scalar(t, "s", x, "f.toml"); }), "f.toml: s: expected a number");
  EXPECT_EQ(error_of([&] { read_scalar(t, "i", s, "f.toml"); }), "f.toml: i: expected a string");
  EXPECT_EQ(error_of([&] { read_scalar(t, "i", b, "f.toml"); }), "f.toml: i: expected true or false");
  EXPECT_NE(read_table(t, "sub", "f.toml"), nullptr);
  EXPECT_EQ(read_table(t, "missing", "f.toml"), nullptr);
  EXPECT_EQ(error_of([&] { read_table(t, "i", "f.toml"); }), "f.toml: i: expected a table");
}

TEST(TomlRead, ListsAreNonEmptyDistinctAndOfOneKind) {
  const auto t = parse_toml(
      "n = [1, 2]\nx = [0.5, 1]\ns = ['a']\nempty = []\ndup = [1, 1]\nmixed = [1, 'a']\nnan = [1.0, nan]\n"
      "one = 3\n",
      "f.toml");
  EXPECT_EQ(read_list<int>(t, "n", "f.toml", "", {}), (std::vector<int>{1, 2}));
  EXPECT_EQ(read_list<double>(t, "x", "f.toml", "", {}), (std::vector<double>{0.5, 1}));
  EXPECT_EQ(read_list<std::string>(t, "s", "f.toml", "", {}), (std::vector<std::string>{"a"}));
  EXPECT_EQ(read_list<int64_t>(t, "missing", "f.toml", "", {9}), (std::vector<int64_t>{9}));
  EXPECT_EQ(read_list<int>(t, "dup", "f.toml", "", {}, {.distinct = false}), (std::vector<int>{1, 1}));
  const auto err = [&](auto kind, const char* key, ListRules rules = {}) {
    using T = decltype(kind);
    return error_of([&] { read_list<T>(t, key, "f.toml", "g.", {}, rules); });
  };
  EXPECT_EQ(err(0, "missing"), "f.toml: g.missing: required");
  EXPECT_EQ(err(0, "one"), "f.toml: g.one: expected a list");
  EXPECT_EQ(err(0, "mixed"), "f.toml: g.mixed: expected a list of integers");
  EXPECT_EQ(err(std::string(), "n"), "f.toml: g.n: expected a list of strings");
  EXPECT_EQ(err(0.0, "mixed"), "f.toml: g.mixed: expected a list of numbers");
  EXPECT_EQ(err(0.0, "nan"), "f.toml: g.nan: values must be finite");
  EXPECT_EQ(err(0, "empty"), "f.toml: g.empty: empty list");
  EXPECT_EQ(err(0, "empty", {.empty = "none"}), "f.toml: g.empty: none");
  EXPECT_EQ(err(0, "dup"), "f.toml: g.dup: duplicate values");
  const ListRules one_word{.not_number = "finite numbers, please", .not_finite = "finite numbers, please"};
  EXPECT_EQ(err(0.0, "mixed", one_word), "f.toml: g.mixed: finite numbers, please");
  EXPECT_EQ(err(0.0, "nan", one_word), "f.toml: g.nan: finite numbers, please");
}
