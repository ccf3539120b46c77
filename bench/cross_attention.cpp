// Decoder cross-attention, the model's two kernels (issue 9, model::CrossKernel): concept
// replication on plain causal attention (each token position carries the K/V of the concept it may
// see, so the fused causal kernel applies) against attention over the K+1 concepts with an explicit
// [T, K+1] mask. It runs the model's own CrossAttention module (projections and QK-norm included).
//
// The two are the same function: under replication a token t sees concept j once per earlier
// position that carries it, so the masked version adds log(multiplicity) to the scores. The bench
// checks that the outputs agree before timing anything, then times forward + backward, alternating
// the contestants, and prints one JSON line per sequence length with medians and the ratio.
//
//   dlcm_bench_cross_attention [--device cpu|cuda] [--dtype float|bf16] [--lengths 1024,2048]
//                              [--ratio 4] [--heads 8] [--d-head 64] [--reps 5] [--threads N]
#include <torch/torch.h>
#include <torch/version.h>

#include "model/model.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using dlcm::model::CrossAttention;
using dlcm::model::CrossKernel;

// The model's own cross-attention module (projections, QK-RMSNorm, either kernel), one concept per
// `ratio` tokens on average. Position t sees the concepts that ended before its own segment began
// (the strict previous-concept rule): src = its segment index into [null, c_0, c_1, ...].
struct Problem {
  CrossAttention attn{nullptr};
  torch::Tensor x;         // [B, T, d] token states
  torch::Tensor concepts;  // [B, K+1, d_concept], the null concept first
  torch::Tensor src;       // [B, T]
  int64_t n_concepts = 0;  // real concepts in the batch
};

Problem make_problem(int64_t B, int64_t H, int64_t T, int64_t dh, double ratio, torch::Device dev,
                     torch::ScalarType dtype, uint64_t seed) {
  torch::manual_seed(seed);
  auto starts = torch::rand({B, T}) < (1.0 / ratio);
  starts.index_put_({torch::indexing::Slice(), 0}, true);
  Problem p;
  p.src = (starts.to(torch::kLong).cumsum(1) - 1).to(dev);  // [B, T] segment of each position
  p.n_concepts = starts.sum().item<int64_t>();
  const int64_t K = p.src.max().item<int64_t>() + 1;
  dlcm::ModelConfig m;
  m.d_token = static_cast<int>(H * dh);
  m.n_heads_token = static_cast<int>(H);
  m.d_concept = m.d_token;
  p.attn = CrossAttention(m);
  for (auto& w : {p.attn->wq, p.attn->wk, p.attn->wv, p.attn->wo}) torch::nn::init::normal_(w, 0.0, 0.02);
  p.attn->to(dev, dtype);
  auto opts = torch::TensorOptions().device(dev).dtype(dtype);
  p.x = torch::randn({B, T, m.d_token}, opts).requires_grad_();
  p.concepts = torch::randn({B, K + 1, m.d_concept}, opts).requires_grad_();
  return p;
}

torch::Tensor run(Problem& p, CrossKernel kernel) {
  p.attn->kernel = kernel;
  torch::Tensor concept_bias;  // built inside, per call, as in one decoder block's forward
  return p.attn->forward(p.x, p.concepts, p.src, p.n_concepts, nullptr, concept_bias);
}

void sync(torch::Device dev) {
  if (dev.is_cuda()) torch::cuda::synchronize();
}

double time_fwd_bwd(Problem& p, CrossKernel kernel, torch::Device dev) {
  p.attn->zero_grad();
  for (auto* t : {&p.x, &p.concepts}) t->mutable_grad() = torch::Tensor();
  sync(dev);
  const auto t0 = std::chrono::steady_clock::now();
  run(p, kernel).to(torch::kFloat).pow(2).mean().backward();
  sync(dev);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoll(item));
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cpu", dtype_name = "float", lengths = "1024,2048";
  double ratio = 4.0;
  int64_t heads = 8, d_head = 64, reps = 5, threads = 0, batch = 1;
  if (argc % 2 == 0) {
    std::fprintf(stderr, "dlcm_bench_cross_attention: option %s needs a value\n", argv[argc - 1]);
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--device") device = v;
    else if (k == "--dtype") dtype_name = v;
    else if (k == "--lengths") lengths = v;
    else if (k == "--ratio") ratio = std::stod(v);
    else if (k == "--heads") heads = std::stoll(v);
    else if (k == "--d-head") d_head = std::stoll(v);
    else if (k == "--reps") reps = std::stoll(v);
    else if (k == "--threads") threads = std::stoll(v);
    else if (k == "--batch") batch = std::stoll(v);
    else {
      std::fprintf(stderr, "dlcm_bench_cross_attention: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  const torch::Device dev(device == "cuda" ? torch::kCUDA : torch::kCPU);
  const auto dtype = dtype_name == "bf16" ? torch::kBFloat16 : torch::kFloat;
  for (const int64_t T : parse_list(lengths)) {
    Problem p = make_problem(batch, heads, T, d_head, ratio, dev, dtype, 1);
    {
      torch::NoGradGuard g;
      const double diff = (run(p, CrossKernel::replicated).to(torch::kFloat) -
                           run(p, CrossKernel::masked).to(torch::kFloat)).abs().max().item<double>();
      const double tol = dtype == torch::kBFloat16 ? 5e-2 : 1e-4;
      if (!(diff <= tol)) {
        std::fprintf(stderr, "T=%lld: replicated and masked attention differ by %g\n", static_cast<long long>(T), diff);
        return 1;
      }
      std::fprintf(stderr, "T=%lld: outputs agree (max |diff| %.2e), %lld concepts\n", static_cast<long long>(T), diff,
                   static_cast<long long>(p.concepts.size(1) - 1));
    }
    time_fwd_bwd(p, CrossKernel::replicated, dev);  // warm-up both paths
    time_fwd_bwd(p, CrossKernel::masked, dev);
    std::vector<double> rep_s, mask_s;
    for (int64_t r = 0; r < reps; ++r) {
      rep_s.push_back(time_fwd_bwd(p, CrossKernel::replicated, dev));
      mask_s.push_back(time_fwd_bwd(p, CrossKernel::masked, dev));
    }
    const double a = median(rep_s), b = median(mask_s);
    std::printf(
        "{\"T\": %lld, \"concepts\": %lld, \"device\": \"%s\", \"dtype\": \"%s\", \"torch\": \"%s\", "
        "\"replicated_s\": %.6f, \"masked_s\": %.6f, \"masked_over_replicated\": %.3f}\n",
        static_cast<long long>(T), static_cast<long long>(p.concepts.size(1) - 1), device.c_str(), dtype_name.c_str(),
        TORCH_VERSION, a, b, b / a);
    std::fflush(stdout);
  }
  return 0;
}
