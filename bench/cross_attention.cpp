// Decoder cross-attention, two ways (issue 9): concept replication on plain causal attention (what
// the model does: each token position carries the K/V of the concept it may see, so the fused
// causal kernel applies) against attention over the M concepts with an explicit [T, M] mask.
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

using dlcm::model::sdpa;  // the model's own attention entry point

struct Problem {
  torch::Tensor q;          // [B, H, T, dh]
  torch::Tensor kc, vc;     // [B, M+1, H, dh]: the null concept first
  torch::Tensor src;        // [B, T]: concept index visible at each position (0 = null)
  torch::Tensor log_mult;   // [B, 1, T, M+1]: log(multiplicity), -inf where not visible
};

// Segments of random length (mean `ratio`) cut a sequence; position t sees the concepts that
// ended before its own segment began (the strict previous-concept rule).
Problem make_problem(int64_t B, int64_t H, int64_t T, int64_t dh, double ratio, torch::Device dev,
                     torch::ScalarType dtype, uint64_t seed) {
  torch::manual_seed(seed);
  auto starts = torch::rand({B, T}) < (1.0 / ratio);
  starts.index_put_({torch::indexing::Slice(), 0}, true);
  auto seg = starts.to(torch::kLong).cumsum(1) - 1;  // [B, T] segment of each position
  auto src = seg;                                   // segment s sees concepts 0..s (0 = null)
  const int64_t M = seg.max().item<int64_t>() + 1;
  // multiplicity of concept j at position t: positions s <= t with src[s] == j.
  auto onehot = torch::one_hot(src, M + 1).to(torch::kDouble);  // [B, T, M+1]
  auto mult = onehot.cumsum(1);                                 // [B, T, M+1]
  auto log_mult = mult.log().unsqueeze(1);                      // -inf where zero
  auto opts = torch::TensorOptions().device(dev).dtype(dtype);
  Problem p;
  p.q = torch::randn({B, H, T, dh}, opts).requires_grad_();
  p.kc = torch::randn({B, M + 1, H, dh}, opts).requires_grad_();
  p.vc = torch::randn({B, M + 1, H, dh}, opts).requires_grad_();
  p.src = src.to(dev);
  p.log_mult = log_mult.to(opts);
  return p;
}

torch::Tensor replicated(const Problem& p) {
  const int64_t B = p.q.size(0), H = p.q.size(1), T = p.q.size(2), dh = p.q.size(3);
  auto idx = p.src.view({B, T, 1, 1}).expand({B, T, H, dh});
  auto k = p.kc.gather(1, idx).transpose(1, 2);  // [B, H, T, dh]
  auto v = p.vc.gather(1, idx).transpose(1, 2);
  return sdpa(p.q, k, v, c10::nullopt, /*causal=*/true);
}

torch::Tensor masked(const Problem& p) {
  auto k = p.kc.transpose(1, 2);  // [B, H, M+1, dh]
  auto v = p.vc.transpose(1, 2);
  return sdpa(p.q, k, v, p.log_mult, /*causal=*/false);
}

void sync(torch::Device dev) {
  if (dev.is_cuda()) torch::cuda::synchronize();
}

double time_fwd_bwd(torch::Tensor (*fn)(const Problem&), Problem& p, torch::Device dev) {
  for (auto* t : {&p.q, &p.kc, &p.vc}) t->mutable_grad() = torch::Tensor();
  sync(dev);
  const auto t0 = std::chrono::steady_clock::now();
  auto y = fn(p);
  y.to(torch::kFloat).pow(2).mean().backward();
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
      const double diff = (replicated(p).to(torch::kFloat) - masked(p).to(torch::kFloat)).abs().max().item<double>();
      const double tol = dtype == torch::kBFloat16 ? 5e-2 : 1e-4;
      if (!(diff <= tol)) {
        std::fprintf(stderr, "T=%lld: replicated and masked attention differ by %g\n", static_cast<long long>(T), diff);
        return 1;
      }
      std::fprintf(stderr, "T=%lld: outputs agree (max |diff| %.2e), %lld concepts\n", static_cast<long long>(T), diff,
                   static_cast<long long>(p.kc.size(1) - 1));
    }
    time_fwd_bwd(replicated, p, dev);  // warm-up both paths
    time_fwd_bwd(masked, p, dev);
    std::vector<double> rep_s, mask_s;
    for (int64_t r = 0; r < reps; ++r) {
      rep_s.push_back(time_fwd_bwd(replicated, p, dev));
      mask_s.push_back(time_fwd_bwd(masked, p, dev));
    }
    const double a = median(rep_s), b = median(mask_s);
    std::printf(
        "{\"T\": %lld, \"concepts\": %lld, \"device\": \"%s\", \"dtype\": \"%s\", \"torch\": \"%s\", "
        "\"replicated_s\": %.6f, \"masked_s\": %.6f, \"masked_over_replicated\": %.3f}\n",
        static_cast<long long>(T), static_cast<long long>(p.kc.size(1) - 1), device.c_str(), dtype_name.c_str(),
        TORCH_VERSION, a, b, b / a);
    std::fflush(stdout);
  }
  return 0;
}
