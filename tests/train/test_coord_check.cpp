// The μP coordinate check on tiny widths: flat under μP, growing under standard parametrisation.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "data/corpus.hpp"
#include "train/coord_check.hpp"

using namespace dlcm;
namespace fs = std::filesystem;

namespace {

fs::path g_root;

class CoordCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_root = fs::temp_directory_path() / ("dlcm-coord-test-" + std::to_string(::getpid()));
    fs::remove_all(g_root);
    data::PrepareOptions opt;
    opt.out_dir = (g_root / "corpus").string();
    opt.max_bytes_per_domain = 50000;
    data::prepare_corpus(opt);
  }
  static void TearDownTestSuite() { fs::remove_all(g_root); }

  static RunConfig tiny(Parametrisation p) {
    RunConfig c;
    c.model.arch = Arch::dlcm;
    c.model.parametrisation = p;
    c.model.seq_len = 64;
    c.model.d_token = 32;
    c.model.n_heads_token = 2;
    c.model.d_concept = 64;
    c.model.n_heads_concept = 2;
    c.model.concept_layers = 1;
    c.model.d_token_base = 32;
    c.model.d_concept_base = 64;
    c.train.batch_size = 8;
    c.train.lr = 1e-2;
    c.data.dir = (g_root / "corpus").string();
    return c;
  }
  // Computed once per process, on first use: CTest runs each test in its own process.
  static const train::CoordCheck& mup() {
    static const auto cc = run(Parametrisation::mup);
    return cc;
  }
  static const train::CoordCheck& standard() {
    static const auto cc = run(Parametrisation::standard);
    return cc;
  }
  static train::CoordCheck run(Parametrisation p) {
    train::CoordCheckOptions o;
    o.widths_token = {32, 64, 128};
    o.widths_concept = {64, 128, 256};
    o.steps = 3;
    o.seeds = 4;
    o.threads = 1;
    return train::coord_check(tiny(p), o);
  }
};

}  // namespace

TEST(CoordCheckSlope, IsTheLeastSquaresSlope) {
  EXPECT_DOUBLE_EQ(train::fit_slope({0, 1, 2}, {1, 3, 5}), 2.0);
  EXPECT_NEAR(train::fit_slope({0, 1, 2, 3}, {0, 1, 1, 2}), 0.6, 1e-12);
}

TEST_F(CoordCheckTest, RecordsEveryFamilyAtEveryWidthAndStep) {
  const auto& cc = mup();
  EXPECT_EQ(cc.axis, "both");
  const std::vector<std::string> families = {"backbone", "boundary", "cross_attention", "decoder",
                                             "embedding", "encoder", "logits", "pooling"};
  ASSERT_EQ(cc.slopes.size(), families.size());
  for (const auto& f : families) {
    ASSERT_TRUE(cc.slopes.count(f)) << f;
    EXPECT_EQ(cc.slopes.at(f).size(), 4u);  // steps 0..3
  }
  EXPECT_EQ(cc.curves.size(), families.size() * 3 * 4);
  for (const auto& p : cc.curves) EXPECT_GT(p.mean_abs, 0) << p.family;
}

// Measured (4 seeds, d_token 32→128 paired with d_concept 64→256, 3 steps at lr 1e-2): under μP the
// token-side families stay within ±0.05 and the logits within ±0.01 after three steps; the
// concept-side families (pooling, backbone, cross-attention) move with the sampled segmentation
// (±0.3) and are not pinned. Standard parametrisation: slopes 0.5–2.2 after three steps.
TEST_F(CoordCheckTest, MupKeepsTokenSideAndLogitSlopesFlatAfterTraining) {
  for (const char* f : {"embedding", "encoder", "boundary", "decoder", "logits"})
    EXPECT_LE(std::abs(mup().slopes.at(f).back()), 0.1) << f;
  // At initialisation the logits shrink as 1/sqrt(width) (the 1/s_tok multiplier on a
  // base-variance head): the usual exception.
  EXPECT_NEAR(mup().slopes.at("logits").front(), -0.5, 0.05);
}

TEST_F(CoordCheckTest, StandardParametrisationGrowsOutputAndHiddenFamiliesWithWidth) {
  for (const char* f : {"logits", "encoder", "pooling", "backbone"})
    EXPECT_GE(standard().slopes.at(f).back(), 0.5) << f;
  EXPECT_GE(standard().slopes.at("decoder").back(), 0.25);
}
