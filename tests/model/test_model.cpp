// The model's invariants: no position sees the future, FLOPs and parameter accounting match the
// real modules, boundary and loss formulas hold their published values.
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>

#include <map>

#include "core/flops.hpp"
#include "model/model.hpp"

using namespace dlcm;
using namespace dlcm::model;

namespace {

ModelConfig small_dlcm() {
  ModelConfig m;
  m.arch = Arch::dlcm;
  m.seq_len = 64;
  m.d_token = 32;
  m.n_heads_token = 4;
  m.n_kv_heads_token = 2;  // grouped KV heads on the token side
  m.encoder_layers = 1;
  m.decoder_layers = 2;
  m.d_concept = 48;
  m.n_heads_concept = 4;
  m.concept_layers = 2;
  return m;
}

ModelConfig small_baseline() {
  ModelConfig m = small_dlcm();
  m.arch = Arch::baseline;
  m.n_layers = 3;
  return m;
}

LanguageModel make(const ModelConfig& m, const BoundaryConfig& b, uint64_t seed = 7) {
  torch::manual_seed(seed);
  LanguageModel net(m, b);
  init_parameters(net);
  net->eval();
  return net;
}

torch::Tensor random_tokens(int64_t B, int64_t T, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(0, 256, {B, T}, torch::kLong);
}

// Changing any token after t must leave log-probabilities at positions <= t unchanged.
void expect_causal(LanguageModel& net, int64_t T) {
  torch::NoGradGuard ng;
  auto x = random_tokens(2, T, 1);
  auto base = torch::log_softmax(net->forward(x).logits, -1);
  for (int64_t t : {0L, 1L, 5L, T / 3, T / 2, T - 2}) {
    for (uint64_t trial = 0; trial < 3; ++trial) {
      auto y = x.clone();
      y.slice(1, t + 1) = random_tokens(2, T - t - 1, 100 + trial * 31 + t);
      auto lp = torch::log_softmax(net->forward(y).logits, -1);
      const double diff = (lp.slice(1, 0, t + 1) - base.slice(1, 0, t + 1)).abs().max().item<double>();
      EXPECT_LT(diff, 1e-5) << "positions <= " << t << " changed when later tokens changed";
      // The test has power: the changed positions themselves do move.
      const double moved = (lp.slice(1, t + 1) - base.slice(1, t + 1)).abs().max().item<double>();
      EXPECT_GT(moved, 1e-3);
    }
  }
}

}  // namespace

TEST(Causality, BaselineNeverSeesTheFuture) {
  auto net = make(small_baseline(), {});
  expect_causal(net, 64);
}

class DlcmCausality : public ::testing::TestWithParam<std::tuple<BoundaryMode, Smoothing>> {};

TEST_P(DlcmCausality, DecoderReadsOnlyConceptsThatEndedBeforeItsSegment) {
  BoundaryConfig b;
  b.mode = std::get<0>(GetParam());
  b.smoothing = std::get<1>(GetParam());
  auto net = make(small_dlcm(), b);
  // The boundaries must be non-trivial for the test to mean anything.
  auto o = net->forward(random_tokens(2, 64, 1));
  const double rate = o.boundaries.mean().item<double>();
  EXPECT_GT(rate, 0.05);
  EXPECT_LT(rate, 0.95);
  expect_causal(net, 64);
}

INSTANTIATE_TEST_SUITE_P(AllModes, DlcmCausality,
                         ::testing::Values(std::make_tuple(BoundaryMode::global, Smoothing::none),
                                           std::make_tuple(BoundaryMode::sequence, Smoothing::none),
                                           std::make_tuple(BoundaryMode::fixed, Smoothing::none),
                                           std::make_tuple(BoundaryMode::global, Smoothing::ema)));

TEST(Replication, TokenInFirstSegmentSeesOnlyTheNullConcept) {
  // A token's prediction must not depend on its own segment's concept, even at t = 0.
  BoundaryConfig b;
  b.mode = BoundaryMode::fixed;
  b.ratio = 8;
  auto net = make(small_dlcm(), b);
  torch::NoGradGuard ng;
  auto x = random_tokens(1, 64, 3);
  auto base = net->forward(x).logits;
  auto y = x.clone();
  y.slice(1, 1, 8) = random_tokens(1, 7, 4);  // rest of segment 0 changes; position 0 must not move
  EXPECT_LT((net->forward(y).logits[0][0] - base[0][0]).abs().max().item<double>(), 1e-6);
}

TEST(Replication, ConceptMaskKernelEqualsReplicatedCausalAttention) {
  // The two cross-attention kernels compute one function: same outputs, same gradients.
  auto net = make(small_dlcm(), {});
  net->train();
  auto x = random_tokens(3, 64, 5);
  std::vector<torch::Tensor> logits, grads;
  for (auto kernel : {CrossKernel::replicated, CrossKernel::masked}) {
    for (auto& l : *net->decoder) l->as<DecoderBlock>()->cross->kernel = kernel;
    net->zero_grad();
    torch::manual_seed(11);  // the same sampled boundaries both times
    auto out = net->forward(x);
    out.logits.pow(2).mean().backward();
    logits.push_back(out.logits.detach());
    grads.push_back(net->named_parameters()["decoder.0.cross.wk"].grad().clone());
  }
  EXPECT_LT((logits[0] - logits[1]).abs().max().item<double>(), 1e-5);
  EXPECT_GT(grads[0].abs().max().item<double>(), 1e-6);
  EXPECT_LT((grads[0] - grads[1]).abs().max().item<double>(), 1e-5 * grads[0].abs().max().item<double>() + 1e-7);
}

TEST(Autocast, IsANoOpOnTheCpuAndRestoresTheThreadState) {
  // bf16 autocast is for CUDA only (the CUDA path needs a GPU machine to test); on the CPU the
  // forward pass must stay bit-identical and the thread's autocast state untouched.
  auto net = make(small_dlcm(), {});
  torch::NoGradGuard ng;
  auto x = random_tokens(2, 64, 9);
  const auto plain = net->forward(x).logits;
  torch::Tensor guarded;
  {
    Autocast amp(torch::kCPU);
    guarded = net->forward(x).logits;
  }
  EXPECT_TRUE(torch::equal(plain, guarded));
  EXPECT_EQ(guarded.scalar_type(), torch::kFloat);
  EXPECT_FALSE(at::autocast::is_enabled());
}

TEST(Flops, FormulaMatchesCountedMacsOfARealForwardPass) {
  struct Case {
    ModelConfig m;
    BoundaryConfig b;
    int64_t B;
  };
  BoundaryConfig fixed4;
  fixed4.mode = BoundaryMode::fixed;
  fixed4.ratio = 4;
  BoundaryConfig global;  // learned boundaries: the realised ratio goes into the formula
  ModelConfig big = small_dlcm();
  big.seq_len = 256;
  big.d_token = 64;
  big.d_concept = 128;
  for (const Case& c : {Case{small_baseline(), {}, 2}, Case{small_dlcm(), fixed4, 2}, Case{big, fixed4, 2},
                        Case{big, global, 1}}) {
    auto net = make(c.m, c.b);
    torch::NoGradGuard ng;
    MacCounter mc;
    auto o = net->forward(random_tokens(c.B, c.m.seq_len, 5), &mc);
    const double tokens = static_cast<double>(c.B * c.m.seq_len);
    const double ratio = o.boundaries.defined() ? tokens / o.boundaries.sum().item<double>() : 1.0;
    const double formula = flops_per_token(c.m, c.b, ratio).n_eff() * tokens;
    EXPECT_NEAR(mc.total() / formula, 1.0, 0.02) << "arch " << name(c.m.arch) << " ratio " << ratio;
    EXPECT_NEAR(mc.linear_token / (flops_per_token(c.m, c.b, ratio).token_linear * tokens), 1.0, 1e-9);
  }
}

TEST(Params, GroupCountsMatchTheAnalyticCounts) {
  for (const auto& m : {small_dlcm(), small_baseline()}) {
    BoundaryConfig b;
    b.d_scan = 16;
    auto net = make(m, b);
    std::map<Group, int64_t> got;
    int64_t backbone = 0;
    for (auto& p : param_infos(net)) {
      got[p.group] += p.tensor.numel();
      if (p.name.rfind("backbone", 0) == 0) backbone += p.tensor.numel();
    }
    const auto want = count_params(m, b);
    EXPECT_EQ(got[Group::embedding], want.embedding);
    EXPECT_EQ(got[Group::token], want.token);
    EXPECT_EQ(got[Group::backbone], want.backbone_matrix);
    EXPECT_EQ(got[Group::joining], want.joining);
    EXPECT_EQ(got[Group::head], want.head);
    EXPECT_EQ(got[Group::vector], want.vector);
    EXPECT_EQ(backbone, want.backbone);
  }
}

TEST(Boundary, IdentityProjectionsGiveCosineDissimilarityOfAdjacentStates) {
  auto h = torch::tensor({{{1.f, 0.f}, {1.f, 0.f}, {0.f, 1.f}, {0.f, -1.f}}});  // [1, 4, 2]
  auto p = boundary_probs(h, h);
  // p_0 = 1; same direction 0; orthogonal 0.5; opposite 1.
  auto expect = torch::tensor({{1.f, 0.f, 0.5f, 1.f}});
  EXPECT_TRUE(torch::allclose(p, expect, 1e-6, 1e-6));
  auto seg = segment_ids(torch::tensor({{1, 0, 1, 1, 0}}));
  EXPECT_TRUE(torch::equal(seg, torch::tensor({{0L, 0L, 1L, 2L, 2L}})));
}

TEST(Boundary, InitialisedProjectionsAreIdentity) {
  BoundaryConfig b;
  auto net = make(small_dlcm(), b);
  EXPECT_TRUE(torch::equal(net->w_scan_q, torch::eye(32)));
  EXPECT_TRUE(torch::equal(net->w_scan_k, torch::eye(32)));
}

TEST(RatioLoss, IsZeroAtTheTargetAndPositiveAway) {
  for (double R : {2.0, 4.0, 8.0}) {
    const auto f64 = torch::kDouble;
    auto at = ratio_loss(torch::tensor(1.0 / R, f64), torch::tensor(1.0 / R, f64), R).item<double>();
    EXPECT_NEAR(at, 0.0, 1e-12);
    // Too many boundaries: the gradient in G pushes probabilities down.
    auto G = torch::tensor(0.6, torch::requires_grad());
    ratio_loss(torch::tensor(0.6), G, R).backward();
    EXPECT_GT(G.grad().item<double>(), 0.0);
  }
  // Paper's form at R = 4, F = 0.5, G = 0.3: 4/3 * (3*0.15 + 0.5*0.7) - 1.
  EXPECT_NEAR(ratio_loss(torch::tensor(0.5, torch::kDouble), torch::tensor(0.3, torch::kDouble), 4).item<double>(),
              4.0 / 3.0 * (0.45 + 0.35) - 1.0, 1e-12);
}

TEST(Training, SampledBoundariesFollowTheSharpenedProbability) {
  BoundaryConfig b;
  b.temperature = 1.0;  // sharpen is the identity: rate ≈ mean p
  auto net = make(small_dlcm(), b);
  net->train();
  torch::NoGradGuard ng;
  auto o = net->forward(random_tokens(8, 64, 9));
  EXPECT_NEAR(o.boundaries.mean().item<double>(), o.p.mean().item<double>(), 0.05);
  EXPECT_TRUE(torch::all(o.boundaries.select(1, 0) == 1).item<bool>());
}
