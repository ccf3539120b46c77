// FLOPs accounting against hand-computed values (DESIGN §2).
#include <gtest/gtest.h>

#include "core/flops.hpp"

using namespace dlcm;

TEST(Flops, BaselineMatchesHandComputedCount) {
  ModelConfig m;
  m.arch = Arch::baseline;
  m.vocab_size = 256;
  m.seq_len = 128;
  m.d_token = 64;
  m.n_heads_token = 4;
  m.n_layers = 2;
  // SwiGLU hidden: ceil(8/3 * 64) = 171 -> 192 (multiple of 32).
  EXPECT_EQ(ffn_hidden(m, 64), 192);
  const double per_layer = 4.0 * 64 * 64 + 3.0 * 64 * 192;
  const double head = 256.0 * 64;
  const double attn = 2.0 * 2 * 64 * 64;  // 2 · layers · (T/2) · d
  const auto f = flops_per_token(m, {}, 1.0);
  EXPECT_DOUBLE_EQ(f.n_eff(), 2 * per_layer + head + attn);
  EXPECT_DOUBLE_EQ(f.train_flops(), 6 * f.n_eff());
  // Serving is the forward pass alone: 2 FLOPs per multiply-accumulate.
  EXPECT_DOUBLE_EQ(f.inference_flops(), 2 * (2 * per_layer + head + attn));
  const auto p = count_params(m, {});
  EXPECT_EQ(p.total(), static_cast<int64_t>(2 * per_layer + 2 * head + 2 * 2 * 64 + 64));
  // The laws' N leaves out the embedding and the LM head: here they are 20% of every parameter.
  EXPECT_EQ(p.non_embedding(), static_cast<int64_t>(2 * per_layer + 2 * 2 * 64 + 64));
  // One accounting: N non-embedding, C = 6·N_eff·D; the baseline ignores the ratio.
  const auto a = account(m, {}, 3.0, 1000);
  EXPECT_EQ(a.N, static_cast<double>(p.non_embedding()));
  EXPECT_EQ(a.N_total, static_cast<double>(p.total()));
  EXPECT_EQ(a.P, 0);
  EXPECT_EQ(a.R, 1);
  EXPECT_DOUBLE_EQ(a.C, 6 * f.n_eff() * 1000);
}

TEST(Flops, AccountingOfADlcmRunPricesTheRatioItRealised) {
  ModelConfig m;
  m.arch = Arch::dlcm;
  BoundaryConfig b;
  const auto p = count_params(m, b);
  const auto at4 = account(m, b, 4.0, 1e6), at5 = account(m, b, 5.0, 1e6);
  EXPECT_DOUBLE_EQ(at4.P, static_cast<double>(p.backbone) / p.non_embedding());
  EXPECT_DOUBLE_EQ(at4.C, 6 * flops_per_token(m, b, 4.0).n_eff() * 1e6);
  EXPECT_LT(at5.C, at4.C);  // more tokens per concept, fewer backbone steps
  EXPECT_EQ(at4.N, at5.N);
}

TEST(Flops, InferenceCostIsAThirdOfTrainingCostAtTheSameRatio) {
  ModelConfig m;
  m.arch = Arch::dlcm;
  BoundaryConfig b;
  const auto at4 = flops_per_token(m, b, 4.0), at5 = flops_per_token(m, b, 5.0);
  EXPECT_DOUBLE_EQ(3 * at4.inference_flops(), at4.train_flops());
  // Priced at the ratio inference realises: coarser boundaries serve cheaper.
  EXPECT_LT(at5.inference_flops(), at4.inference_flops());
  EXPECT_DOUBLE_EQ(at4.inference_flops() - at5.inference_flops(), 2 * (at4.n_eff() - at5.n_eff()));
}

TEST(Flops, ConceptRateTermsShrinkWithTheRealisedRatio) {
  ModelConfig m;
  m.arch = Arch::dlcm;
  BoundaryConfig b;
  const auto r2 = flops_per_token(m, b, 2.0), r8 = flops_per_token(m, b, 8.0);
  EXPECT_DOUBLE_EQ(r2.token_linear, r8.token_linear);
  EXPECT_DOUBLE_EQ(r2.concept_linear, 4.0 * r8.concept_linear);
  EXPECT_GT(r2.attention, r8.attention);
  // Backbone parameters count fully in N but run R times less often.
  const auto p = count_params(m, b);
  EXPECT_GT(p.backbone, 0);
  EXPECT_LT(r8.concept_linear, static_cast<double>(p.backbone));
}
