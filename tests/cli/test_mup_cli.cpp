// `dlcm mup coord-check` as a user meets it: the JSON contract the report reads, the result stored
// in the central database, and one-line errors for widths that cannot be compared.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/corpus.hpp"
#include "storage/central.hpp"
#include "test_util.hpp"
#include "corpus_fixture.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

class MupCli : public ::testing::Test {
 protected:
  static inline fs::path root;
  static void SetUpTestSuite() {
    root = dlcm::test::root_with_corpus("mup-cli", 30000);
    std::ofstream(root / "c.toml") << "[model]\nseq_len = 32\nd_token = 16\nn_heads_token = 2\nd_concept = 32\n"
                                      "n_heads_concept = 2\nconcept_layers = 1\nparametrisation = \"mup\"\n"
                                      "d_token_base = 16\nd_concept_base = 32\n[train]\nbatch_size = 2\n[data]\ndir = \""
                                   << (root / "corpus").string() << "\"\n";
  }
  static void TearDownTestSuite() { fs::remove_all(root); }
  static dlcm::test::Command dlcm(const std::string& args) {
    return dlcm::test::run_command(std::string(DLCM_BIN) + " mup coord-check --threads 1 --config " +
                                   dlcm::test::shell_quote((root / "c.toml").string()) + " --db " +
                                   dlcm::test::shell_quote((root / "d.db").string()) + " " + args + " 2>&1");
  }
};

}  // namespace

TEST_F(MupCli, CoordCheckJsonHasTheContractKeysAndIsStored) {
  const auto r = dlcm("--widths-token 16 32 --widths-concept 32 64 --steps 1 --seeds 1 --json --name cc");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["parametrisation"], "mup");
  EXPECT_EQ(j["widths"]["token"], json({16, 32}));
  EXPECT_EQ(j["widths"]["concept"], json({32, 64}));
  EXPECT_EQ(j["steps"], 1);
  EXPECT_EQ(j["seeds"], 1);
  EXPECT_EQ(j["slopes"].size(), 8u);  // the eight DLCM families
  for (const auto& [family, slope] : j["slopes"].items()) EXPECT_TRUE(slope.is_number()) << family;
  ASSERT_EQ(j["curves"].size(), 8u * 2 * 2);  // families × widths × steps 0..1
  for (const auto& c : j["curves"])
    for (const char* k : {"family", "width_token", "width_concept", "step", "mean_abs"}) EXPECT_TRUE(c.contains(k)) << k;
  EXPECT_EQ(j["segmentation"], "fixed");
  EXPECT_EQ(j["band"], 0.25);
  EXPECT_EQ(j["realised_ratio"], json({4.0, 4.0}));
  EXPECT_EQ(j["pass"].size(), 8u);
  for (const auto& [family, pass] : j["pass"].items())
    EXPECT_EQ(pass.get<bool>(), std::abs(j["slopes"][family].get<double>()) <= 0.25) << family;
  EXPECT_EQ(j["slope_sd_by_step"]["backbone"].size(), 2u);
  // The same result sits in the database's μP studies.
  auto db = dlcm::storage::open_central((root / "d.db").string());
  const auto stored = dlcm::storage::latest_mup_study(db, "coord-check", "cc");
  ASSERT_TRUE(stored);
  EXPECT_EQ(json::parse(stored->result), j);
}

// The main job prints the table: one verdict per family against the band.
TEST_F(MupCli, CoordCheckPrintsPassOrFailPerFamily) {
  const auto r = dlcm("--widths-token 16 32 --widths-concept 32 64 --steps 1 --seeds 1 --band 1e-9 --name strict");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("|slope| <= 1e-09 at step 1"), std::string::npos) << r.out;
  for (const char* family : {"backbone", "boundary", "cross_attention", "decoder", "embedding", "encoder", "logits",
                             "pooling"}) {
    const auto at = r.out.find("\n" + std::string(family) + " ");
    ASSERT_NE(at, std::string::npos) << family;
    const auto line = r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
    EXPECT_NE(line.find("FAIL"), std::string::npos) << line;  // nothing is that flat
  }
  const auto loose = dlcm("--widths-token 16 32 --widths-concept 32 64 --steps 1 --seeds 1 --band 100 --name loose");
  EXPECT_EQ(std::count(loose.out.begin(), loose.out.end(), '\n'), 2 + 8) << loose.out;
  EXPECT_EQ(loose.out.find("FAIL"), std::string::npos) << loose.out;
  EXPECT_NE(loose.out.find("pass"), std::string::npos);
}

TEST_F(MupCli, UnpairedOrIndivisibleWidthsFailWithOneLine) {
  auto r = dlcm("--widths-token 16 32 --widths-concept 32");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--widths-token (2 widths) and --widths-concept (1) are paired"), std::string::npos) << r.out;
  r = dlcm("--widths-token 16 33");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("d_token=33"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}
