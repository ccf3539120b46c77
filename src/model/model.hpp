#pragma once
// The DLCM proxy and its LLaMA-style baseline (DESIGN §1):
//   H = E(x)  encoder at d_token          [B, T, d]
//   C = Φ(H)  boundaries + mean pooling   [B, K, d_concept]   K ≈ T / R
//   Z = M(C)  concept backbone            [B, K, d_concept]
//   ŷ = D(Ψ(H, Z)) decoder with cross-attention to *previous* concepts only (leak-free, §1.1)
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/mup.hpp"

namespace dlcm::model {

// Multiply-accumulates seen in one forward pass, counted from the tensors actually multiplied.
struct MacCounter {
  double linear_token = 0;    // matmuls over token positions
  double linear_concept = 0;  // matmuls over real (unpadded) concept positions
  double attention = 0;       // causal QK^T and AV entries
  double total() const { return linear_token + linear_concept + attention; }
};

// Mean |activation| of each module family (μP coordinate check). A forward given one adds to it;
// a family seen several times in one forward (one entry per block) keeps the mean over them.
struct ActivationStats {
  std::map<std::string, double> sum;  // Σ of per-tensor mean |x|
  std::map<std::string, int> count;   // tensors recorded
  // mask [B, K] (optional): only rows where it is true count (real concepts, not padding).
  void record(const std::string& family, const torch::Tensor& x, const torch::Tensor& mask = {});
  double mean_abs(const std::string& family) const { return sum.at(family) / count.at(family); }
};

struct ForwardOut {
  torch::Tensor logits;      // [B, T, V]
  torch::Tensor p;           // [B, T] boundary probabilities (undefined for the baseline)
  torch::Tensor boundaries;  // [B, T] 0/1 float, 1 where a concept starts
};

// bf16 autocast for a scope on CUDA: matmuls and attention run in bf16, reductions, norms and losses
// in fp32 (LibTorch's autocast lists, and RMSNorm and the boundary cosine computed in fp32 here);
// parameters, gradients and optimizer state stay fp32. A no-op on the CPU. Wrap forward passes
// only, not backward.
class Autocast {
 public:
  explicit Autocast(const torch::Device& device);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool on_ = false, was_enabled_ = false;
};

// Scaled dot-product attention over [B, H, T, dh] (scale 1/sqrt(dh); fold another into q): LibTorch
// 2.x's public fused op (flash / memory-efficient kernels on CUDA), else 1.13's math implementation.
// mask: additive float or boolean, broadcast to [B, H, Tq, Tk].
torch::Tensor sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                   const c10::optional<torch::Tensor>& mask, bool causal);

// --- building blocks -------------------------------------------------------------------------

struct RMSNormImpl : torch::nn::Module {
  explicit RMSNormImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
};
TORCH_MODULE(RMSNorm);

// What a causal stack needs per position: RoPE tables (built once per model) and, for the CPU
// attention kernel, the additive causal bias of this forward's length (built once per forward).
struct Positions {
  torch::Tensor cos, sin;  // [T_max, d_head / 2]
  torch::Tensor causal;    // [T, T]: 0 on and below the diagonal, -inf above (undefined off the CPU)
};
Positions make_positions(int64_t max_len, int64_t d_head, double theta);

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t d, int64_t heads, int64_t kv_heads, double scale);
  // x: [B, T, d] -> [B, T, d], causal, RoPE on q and k.
  torch::Tensor forward(const torch::Tensor& x, const Positions& pos, MacCounter* mc, bool concept_rate);
  int64_t d, heads, kv_heads, d_head;
  double scale;
  torch::Tensor wq, wk, wv, wo;
};
TORCH_MODULE(Attention);

struct SwiGLUImpl : torch::nn::Module {
  SwiGLUImpl(int64_t d, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x, MacCounter* mc, bool concept_rate);
  torch::Tensor w_gate, w_up, w_down;
};
TORCH_MODULE(SwiGLU);

struct BlockImpl : torch::nn::Module {
  BlockImpl(const ModelConfig& m, int64_t d, int64_t heads, int64_t kv_heads);
  torch::Tensor forward(const torch::Tensor& x, const Positions& pos, MacCounter* mc, bool concept_rate);
  RMSNorm attn_norm{nullptr}, ffn_norm{nullptr};
  Attention attn{nullptr};
  SwiGLU ffn{nullptr};
};
TORCH_MODULE(Block);

// Decoder cross-attention with concept replication: keys/values are projected once per concept
// (concept rate), then gathered to token positions so a plain causal attention does the work.
// Two kernels for one function (bench/cross_attention.cpp checks they agree): concept replication
// turns cross-attention into a plain causal attention, which LibTorch 2.x's fused (flash) kernels
// run without a mask on CUDA; elsewhere attending to the K+1 concepts under an explicit mask is
// faster (the module 1.5-2.8x on CPU with LibTorch 1.13, T 256-2048). `automatic` picks by
// LibTorch version and device.
enum class CrossKernel { automatic, replicated, masked };

struct CrossAttentionImpl : torch::nn::Module {
  CrossAttentionImpl(const ModelConfig& m);
  // x: [B, T, d]; concepts: [B, K+1, d_concept] (null concept first); src: [B, T] index into
  // concepts for each token (its previous concept). Returns [B, T, d]. concept_bias: the masked
  // kernel's [B, 1, T, K+1] bias, which depends on src alone: built by the first block that needs it
  // (when undefined) and reused by the others.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& concepts, const torch::Tensor& src,
                        int64_t n_real_concepts, MacCounter* mc, torch::Tensor& concept_bias);
  int64_t d, heads, kv_heads, d_head;
  double scale;
  CrossKernel kernel = CrossKernel::automatic;
  torch::Tensor wq, wk, wv, wo;
  RMSNorm q_norm{nullptr}, k_norm{nullptr};
};
TORCH_MODULE(CrossAttention);

struct DecoderBlockImpl : torch::nn::Module {
  explicit DecoderBlockImpl(const ModelConfig& m);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& concepts, const torch::Tensor& src,
                        int64_t n_real_concepts, const Positions& pos, MacCounter* mc,
                        torch::Tensor& concept_bias, ActivationStats* stats = nullptr);
  RMSNorm attn_norm{nullptr}, cross_norm{nullptr}, ffn_norm{nullptr};
  Attention attn{nullptr};
  CrossAttention cross{nullptr};
  SwiGLU ffn{nullptr};
};
TORCH_MODULE(DecoderBlock);

// --- the model ------------------------------------------------------------------------------

// How a training forward draws its boundary samples. A data-parallel rank runs rows
// [row_begin, row_begin + B) of a micro-batch of `rows_total` rows: it draws the uniforms of all
// rows and keeps its own, so every rank consumes the generator as one process would and gets the
// samples a single-process run gets. An undefined `gen` is the device's default generator.
struct Sampling {
  int64_t row_begin = 0, rows_total = -1;  // -1: just the rows given
  at::Generator gen;
};

struct LanguageModelImpl : torch::nn::Module {
  LanguageModelImpl(const ModelConfig& m, const BoundaryConfig& b);
  // tokens: [B, T] int64. In training mode boundaries are sampled (global/sequence modes);
  // in eval mode they are thresholded at p >= 0.5. With stats, records each family's mean |act|:
  // embedding, encoder, boundary, pooling, backbone, cross_attention, decoder (baseline: blocks),
  // logits.
  ForwardOut forward(const torch::Tensor& tokens, MacCounter* mc = nullptr, const Sampling& sampling = {},
                     ActivationStats* stats = nullptr);

  ModelConfig cfg;
  BoundaryConfig bcfg;
  torch::Tensor tok_emb, lm_head, null_concept;
  torch::nn::ModuleList encoder, backbone, decoder, layers;  // layers: baseline stack
  RMSNorm enc_norm{nullptr}, backbone_norm{nullptr}, final_norm{nullptr};
  torch::Tensor w_scan_q, w_scan_k, w_up;
  Positions pos_tok, pos_con;
};
TORCH_MODULE(LanguageModel);

// Boundary probabilities p_t = (1 - cos(q_{t-1}, k_t)) / 2, p_0 = 1. h: [B, T, d] -> [B, T].
torch::Tensor boundary_probs(const torch::Tensor& q, const torch::Tensor& k);
// Concept index of each token (0-based) from boundaries [B, T] (first column must be 1).
torch::Tensor segment_ids(const torch::Tensor& boundaries);

// --- parameter groups (μP-ready) -------------------------------------------------------------

struct ParamInfo {
  std::string name;
  torch::Tensor tensor;
  Group group;
  FanIn fan_in;
};
std::vector<ParamInfo> param_infos(LanguageModel& model);
// Initialises every parameter per the group rules (DESIGN §5); boundary projections to identity.
void init_parameters(LanguageModel& model);

// --- losses ---------------------------------------------------------------------------------

// Mean cross-entropy in nats of logits [B, T, V] against targets [B, T] (inputs shifted by one).
torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets);
// Global Parser ratio loss (DESIGN §1) from F (realised boundary rate, no gradient) and G (mean p).
torch::Tensor ratio_loss(const torch::Tensor& F, const torch::Tensor& G, double R);
// The auxiliary loss of one (micro-)batch under the configured mode; zero in fixed mode.
torch::Tensor aux_loss(const ForwardOut& out, const BoundaryConfig& b);

}  // namespace dlcm::model
