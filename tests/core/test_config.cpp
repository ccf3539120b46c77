// Config parsing: defaults, strictness (unknown keys, wrong types, impossible values name the key),
// and a canonical text that round-trips.
#include <gtest/gtest.h>

#include <set>

#include "core/config.hpp"
#include "test_util.hpp"

using namespace dlcm;

namespace {
const char* kGood = R"(
[model]
arch = "dlcm"
d_token = 64
n_heads_token = 4
d_concept = 128
n_heads_concept = 4
[boundary]
ratio = 4.0
[train]
steps = 10
[data]
dir = "corpus"
)";

std::string error_of(const std::string& text) {
  return test::error_of([&] { parse_run_config(text, "cfg.toml"); });
}
}  // namespace

TEST(Config, ParsesValuesAndKeepsDefaults) {
  const auto c = parse_run_config(kGood, "cfg.toml");
  EXPECT_EQ(c.model.arch, Arch::dlcm);
  EXPECT_EQ(c.model.d_concept, 128);
  EXPECT_EQ(c.train.steps, 10);
  EXPECT_DOUBLE_EQ(c.boundary.aux_weight, 0.03);  // H-Net's λ
  EXPECT_EQ(c.boundary.mode, BoundaryMode::global);
  EXPECT_EQ(scan_dim(c.model, c.boundary), 64);    // d_scan defaults to d_token
}

TEST(Config, CanonicalTextRoundTrips) {
  const auto c = parse_run_config(kGood, "cfg.toml");
  const auto text = to_toml(c);
  EXPECT_EQ(to_toml(parse_run_config(text, "canonical")), text);
}

TEST(Config, BadInputNamesFileAndKey) {
  const std::string base = kGood;
  struct Case {
    std::string text, expect;
  };
  const Case cases[] = {
      {base + "[extra]\n", "cfg.toml: extra: unknown section"},
      {"[model]\nd_tokn = 3\n[data]\ndir='x'", "cfg.toml: model.d_tokn: unknown key"},
      {"[model]\nd_token = \"wide\"\n[data]\ndir='x'", "cfg.toml: model.d_token: expected an integer"},
      {"[model]\nd_token = 66\n[data]\ndir='x'", "cfg.toml: model.d_token: 66 is not divisible by model.n_heads_token = 4"},
      {"[boundary]\nratio = 0.5\n[data]\ndir='x'", "cfg.toml: boundary.ratio: must be > 1"},
      {"[boundary]\nmode = \"magic\"\n[data]\ndir='x'", "cfg.toml: boundary.mode: unknown value \"magic\""},
      {"[train]\nbatch_size = 10\nmicro_batches = 3\n[data]\ndir='x'", "cfg.toml: train.micro_batches: must divide"},
      {"[train]\nlr = -1.0\n[data]\ndir='x'", "cfg.toml: train.lr: must be positive"},
      {"[train]\nlr_token = 0.0\n[data]\ndir='x'", "cfg.toml: train.lr_token: must be positive"},
      {"[train]\nlr_concept = \"fast\"\n[data]\ndir='x'", "cfg.toml: train.lr_concept: expected a number"},
      {"[train]\nlr_other = -1e-3\n[data]\ndir='x'", "cfg.toml: train.lr_other: must be positive"},
      {"[train]\nweight_decay_mode = \"both\"\n[data]\ndir='x'",
       "cfg.toml: train.weight_decay_mode: unknown value \"both\" (expected one of: coupled, independent)"},
      {"[model]\n", "cfg.toml: data: set data.dir"},
      {"[data]\ntrain_bin = 'a.bin'\n", "cfg.toml: data.val_bin: required"},
      {"[model\n", "cfg.toml:1:"},
  };
  for (const auto& c : cases) {
    const auto err = error_of(c.text);
    EXPECT_NE(err.find(c.expect), std::string::npos) << "got: " << err << "\nwant: " << c.expect;
    EXPECT_EQ(err.find('\n'), std::string::npos) << "error must be one line: " << err;
  }
}

TEST(Config, GroupRatesAndDecayModeParseAndDefaultToLrAndIndependent) {
  const auto d = parse_run_config(kGood, "cfg.toml");
  EXPECT_FALSE(d.train.lr_token || d.train.lr_concept || d.train.lr_other);
  EXPECT_EQ(d.train.weight_decay_mode, WeightDecayMode::independent);
  std::string text = kGood;
  text.replace(text.find("steps = 10"), 10,
               "steps = 10\nlr = 1e-3\nlr_token = 2e-3\nlr_concept = 5e-4\nlr_other = 4e-3\n"
               "weight_decay_mode = \"coupled\"");
  const auto c = parse_run_config(text, "cfg.toml");
  EXPECT_DOUBLE_EQ(*c.train.lr_token, 2e-3);
  EXPECT_DOUBLE_EQ(*c.train.lr_concept, 5e-4);
  EXPECT_DOUBLE_EQ(*c.train.lr_other, 4e-3);
  EXPECT_EQ(c.train.weight_decay_mode, WeightDecayMode::coupled);
  EXPECT_EQ(to_toml(parse_run_config(to_toml(c), "canonical")), to_toml(c));
}

// The canonical text is the run's identity (its hash): every new key that changes the training
// changes it, a key that cannot (a rate equal to lr; the decay mode under standard
// parametrisation) leaves it, so configs written before the keys existed keep their hashes.
TEST(Config, CanonicalTextChangesWithEachKeyThatChangesTraining) {
  const auto base = parse_run_config(kGood, "cfg.toml");
  const std::string before = to_toml(base);
  for (const char* key : {"lr_token", "lr_concept", "lr_other"}) EXPECT_EQ(before.find(key), std::string::npos) << key;
  EXPECT_EQ(before.find("weight_decay_mode"), std::string::npos);
  std::set<std::string> texts = {before};
  for (auto field : {&TrainConfig::lr_token, &TrainConfig::lr_concept, &TrainConfig::lr_other}) {
    RunConfig c = base;
    c.train.*field = 1e-2;
    EXPECT_TRUE(texts.insert(to_toml(c)).second);
    c.train.*field = c.train.lr;  // the same training as unset
    EXPECT_EQ(to_toml(c), before);
  }
  RunConfig c = base;
  c.train.weight_decay_mode = WeightDecayMode::coupled;
  EXPECT_EQ(to_toml(c), before);  // standard: both modes decay by lr·weight_decay
  c.model.parametrisation = Parametrisation::mup;
  const std::string coupled = to_toml(c);
  c.train.weight_decay_mode = WeightDecayMode::independent;
  EXPECT_NE(to_toml(c), coupled);
  EXPECT_NE(coupled.find("weight_decay_mode = 'coupled'"), std::string::npos) << coupled;
}
