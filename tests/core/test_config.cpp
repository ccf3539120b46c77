// Config parsing: defaults, strictness (unknown keys, wrong types, impossible values name the key),
// and a canonical text that round-trips.
#include <gtest/gtest.h>

#include "core/config.hpp"

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
  try {
    parse_run_config(text, "cfg.toml");
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
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
