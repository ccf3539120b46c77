#pragma once
// CPU kernels for the proxies' hot spots, each an autograd function with a hand-written backward.
// At the widths a CPU study runs (d 8-128, T 128-256, one thread) a step is overhead-bound: each
// composite op below costs a handful of ATen calls forward and as many autograd nodes backward
// (bench/README.md, "Where a step's time goes"). Each kernel computes the same function as its
// composite definition (`*_reference`, which tests compare against, values and gradients) and
// falls back to it off the CPU or away from fp32 (CUDA keeps LibTorch's fused kernels and autocast).
#include <torch/torch.h>

namespace dlcm::model::kernels {

// Whether x takes the hand-written path: a CPU fp32 tensor.
bool fused(const torch::Tensor& x);

// RMSNorm over the last dimension, in fp32: x · rsqrt(mean(x²) + eps) · w. x: [..., d], w: [d].
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps);
torch::Tensor rms_norm_reference(const torch::Tensor& x, const torch::Tensor& w, double eps);

// Splits x [B, T, H·dh] (rows may be strided, e.g. a slice of a fused QKV projection) into heads
// and applies RoPE (rotate-half layout): [B, H, T, dh], contiguous. cos, sin: [T_max, dh / 2].
torch::Tensor heads_rope(const torch::Tensor& x, int64_t heads, const torch::Tensor& cos, const torch::Tensor& sin);
torch::Tensor heads_rope_reference(const torch::Tensor& x, int64_t heads, const torch::Tensor& cos,
                                   const torch::Tensor& sin);

// softmax(scale · q kᵀ + bias) v over [B, H, T, dh] (k and v already expanded to H heads).
// bias: additive, [Tq, Tk] or [B·H, Tq, Tk] (-inf where a query must not look). Scores are kept
// for the backward, which is four batched matmuls and LibTorch's softmax backward.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias, double scale);
torch::Tensor attention_reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& bias, double scale);

// The additive causal bias of a T×T attention: 0 on and below the diagonal, -inf above.
torch::Tensor causal_bias(int64_t T);

}  // namespace dlcm::model::kernels
