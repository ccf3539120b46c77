// The hand-written CPU kernels compute their composite definitions: values and gradients agree with
// the reference on random inputs, at the model's shapes and at awkward ones (strided rows, grouped
// heads, a bias per batch row, rows longer than a thread chunk).
#include <gtest/gtest.h>

#include <limits>

#include "model/kernels.hpp"

using namespace dlcm::model;

namespace {

// Largest |a - b| over the output and each input's gradient under the same random upstream gradient.
struct Diff {
  double value = 0;
  std::vector<double> grads;
};

template <typename F, typename G>
Diff compare(F fused, G reference, std::vector<torch::Tensor> inputs, uint64_t seed) {
  auto run = [&](auto fn) {
    std::vector<torch::Tensor> xs;
    for (auto& x : inputs) xs.push_back(x.detach().clone().requires_grad_(true));
    auto y = fn(xs);
    torch::manual_seed(seed);
    auto g = torch::randn_like(y);
    (y * g).sum().backward();
    std::vector<torch::Tensor> out{y.detach()};
    for (auto& x : xs) out.push_back(x.grad());
    return out;
  };
  const std::vector<torch::Tensor> a = run(fused), b = run(reference);
  Diff d;
  d.value = (a[0] - b[0]).abs().max().item<double>();
  for (size_t i = 1; i < a.size(); ++i) d.grads.push_back((a[i] - b[i]).abs().max().item<double>());
  return d;
}

}  // namespace

TEST(Kernels, RmsNormMatchesItsDefinitionInValueAndGradient) {
  torch::manual_seed(1);
  for (auto shape : std::vector<std::vector<int64_t>>{{4, 33, 32}, {2, 3, 70, 16}, {5, 128}}) {
    auto x = torch::randn(shape) * 3, w = torch::randn({shape.back()});
    const auto d = compare([](auto& v) { return kernels::rms_norm(v[0], v[1], 1e-6); },
                           [](auto& v) { return kernels::rms_norm_reference(v[0], v[1], 1e-6); }, {x, w}, 2);
    EXPECT_LT(d.value, 1e-5);
    EXPECT_LT(d.grads[0], 1e-5);
    EXPECT_LT(d.grads[1], 1e-3);  // summed over every row: float rounding grows with the row count
  }
  // Non-contiguous input (a transposed view) normalises the same values.
  auto x = torch::randn({3, 16, 8}).transpose(0, 1), w = torch::randn({8});
  EXPECT_LT((kernels::rms_norm(x, w, 1e-6) - kernels::rms_norm_reference(x, w, 1e-6)).abs().max().item<double>(), 1e-5);
}

TEST(Kernels, HeadsRopeMatchesSplitHeadsThenRotateOnStridedRows) {
  torch::manual_seed(3);
  const int64_t B = 3, T = 40, H = 2, dh = 8, Tmax = 64;
  auto ang = torch::outer(torch::arange(Tmax, torch::kFloat), torch::rand({dh / 2}));
  auto cos = ang.cos(), sin = ang.sin();
  // A slice of a wider projection, as the fused QKV matmul hands it over: rows strided by 3·H·dh.
  auto qkv = torch::randn({B, T, 3 * H * dh});
  for (int64_t part = 0; part < 2; ++part) {
    auto x = qkv.narrow(2, part * H * dh, H * dh);
    ASSERT_FALSE(x.is_contiguous());
    const auto d = compare([&](auto& v) { return kernels::heads_rope(v[0].narrow(2, part * H * dh, H * dh), H, cos, sin); },
                           [&](auto& v) { return kernels::heads_rope_reference(v[0].narrow(2, part * H * dh, H * dh), H, cos, sin); },
                           {qkv}, 4);
    EXPECT_LT(d.value, 1e-6);
    EXPECT_LT(d.grads[0], 1e-6);
  }
  // The rotation moves values (the test has power) and keeps each pair's norm.
  auto x = qkv.narrow(2, 0, H * dh);
  auto y = kernels::heads_rope(x, H, cos, sin);
  EXPECT_GT((y - x.view({B, T, H, dh}).transpose(1, 2)).abs().max().item<double>(), 0.1);
  EXPECT_NEAR(y.pow(2).sum().item<double>(), x.pow(2).sum().item<double>(), 1e-3);
}

TEST(Kernels, AttentionMatchesSoftmaxOfBiasedScoresUnderCausalAndConceptBiases) {
  torch::manual_seed(5);
  const int64_t B = 2, H = 3, T = 37, dh = 8;
  const double scale = 0.3;
  auto q = torch::randn({B, H, T, dh}), k = torch::randn({B, H, T, dh}), v = torch::randn({B, H, T, dh});
  const auto causal = kernels::causal_bias(T);
  auto d = compare([&](auto& x) { return kernels::attention(x[0], x[1], x[2], causal, scale); },
                   [&](auto& x) { return kernels::attention_reference(x[0], x[1], x[2], causal, scale); }, {q, k, v}, 6);
  EXPECT_LT(d.value, 1e-5);
  for (double g : d.grads) EXPECT_LT(g, 1e-5);
  // Causal: the first output row is v's first row, whatever the later keys.
  auto y = kernels::attention(q, k, v, causal, scale);
  EXPECT_LT((y.select(2, 0) - v.select(2, 0)).abs().max().item<double>(), 1e-6);

  // A per-row bias over fewer keys than queries (the decoder's concepts), log-multiplicities and -inf.
  const int64_t Kc = 9;
  auto kc = torch::randn({B, H, Kc, dh}), vc = torch::randn({B, H, Kc, dh});
  auto bias = torch::randn({B * H, T, Kc});
  bias.index_put_({torch::rand({B * H, T, Kc}) < 0.4}, -std::numeric_limits<float>::infinity());
  bias.select(2, 0).fill_(0.0);  // every row sees at least one key
  d = compare([&](auto& x) { return kernels::attention(x[0], x[1], x[2], bias, scale); },
              [&](auto& x) { return kernels::attention_reference(x[0], x[1], x[2], bias, scale); }, {q, kc, vc}, 7);
  EXPECT_LT(d.value, 1e-5);
  for (double g : d.grads) EXPECT_LT(g, 1e-5);
}

TEST(Kernels, FallBackToTheirDefinitionAwayFromCpuFloat) {
  auto x = torch::randn({2, 5, 8}, torch::kDouble), w = torch::randn({8}, torch::kDouble);
  EXPECT_FALSE(kernels::fused(x));
  EXPECT_TRUE(kernels::fused(x.to(torch::kFloat)));
  EXPECT_TRUE(torch::equal(kernels::rms_norm(x, w, 1e-6), kernels::rms_norm_reference(x, w, 1e-6)));
}
