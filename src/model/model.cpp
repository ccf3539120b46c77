#include "model/model.hpp"

#include "model/kernels.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <cmath>

namespace dlcm::model {
namespace {

int64_t kv_heads_of(const ModelConfig& m) { return kv_heads(m.n_heads_token, m.n_kv_heads_token); }

torch::Tensor matrix(torch::nn::Module& m, const std::string& name, int64_t out, int64_t in) {
  return m.register_parameter(name, torch::empty({out, in}));
}

// y = x W^T, counting multiply-accumulates for rows that are real positions.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, MacCounter* mc, bool concept_rate,
                     int64_t real_rows = -1) {
  if (mc) {
    const double rows = real_rows >= 0 ? static_cast<double>(real_rows) : static_cast<double>(x.numel() / x.size(-1));
    (concept_rate ? mc->linear_concept : mc->linear_token) += rows * static_cast<double>(w.size(0) * w.size(1));
  }
  return torch::matmul(x, w.t());
}

// [B, T, H*dh] -> [B, H, T, dh]
torch::Tensor split_heads(const torch::Tensor& x, int64_t heads) {
  return x.view({x.size(0), x.size(1), heads, -1}).transpose(1, 2);
}
torch::Tensor merge_heads(const torch::Tensor& x) {
  return x.transpose(1, 2).contiguous().view({x.size(0), x.size(2), -1});
}

// Model FLOPs of causal attention (DESIGN §2): QK^T and AV over the causal triangle, T(T+1)/2
// entries each, per head dimension. Cross-attention counts the same whichever kernel computes it.
void count_causal_attention(MacCounter* mc, const torch::Tensor& q, double positions_per_seq) {
  if (!mc) return;
  const double n = positions_per_seq;
  mc->attention += 2.0 * q.size(0) * n * (n + 1) / 2.0 * q.size(1) * q.size(3);
}

torch::Tensor fold_scale(const torch::Tensor& q, double scale) {
  return q * (scale * std::sqrt(static_cast<double>(q.size(3))));
}

torch::Tensor expand_kv(const torch::Tensor& kv, int64_t heads) {
  return kv.size(1) == heads ? kv : kv.repeat_interleave(heads / kv.size(1), 1);
}

// Causal attention over [B, H, T, dh] with grouped KV heads; `scale` applied to the scores. The CPU
// kernel (kernels::attention) on the CPU, LibTorch's fused causal kernel elsewhere.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale,
                               MacCounter* mc, const Positions& pos) {
  const int64_t T = q.size(2);
  count_causal_attention(mc, q, static_cast<double>(T));
  if (kernels::fused(q))
    return kernels::attention(q, expand_kv(k, q.size(1)), expand_kv(v, q.size(1)), pos.causal, scale);
  return sdpa(fold_scale(q, scale), expand_kv(k, q.size(1)), expand_kv(v, q.size(1)), c10::nullopt, true);
}

}  // namespace

torch::Tensor sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                   const c10::optional<torch::Tensor>& mask, bool causal) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, causal);
#else
  return std::get<0>(at::_scaled_dot_product_attention(q, k, v, mask, 0.0, false, causal));
#endif
}

// --- building blocks -------------------------------------------------------------------------

void ActivationStats::record(const std::string& family, const torch::Tensor& x, const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  const auto a = x.detach().abs().mean(-1);  // [B, T] or [B, K]
  const double m = mask.defined() ? (a * mask).sum().item<double>() / std::max(1.0, mask.sum().item<double>())
                                  : a.mean().item<double>();
  sum[family] += m;
  count[family] += 1;
}

RMSNormImpl::RMSNormImpl(int64_t dim) { weight = register_parameter("weight", torch::ones({dim})); }

// The autocast entry points were renamed in LibTorch 2.4 (device-type arguments).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define DLCM_AUTOCAST_ENABLED() at::autocast::is_autocast_enabled(at::kCUDA)
#define DLCM_AUTOCAST_SET(on) at::autocast::set_autocast_enabled(at::kCUDA, on)
#define DLCM_AUTOCAST_BF16() at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16)
#else
#define DLCM_AUTOCAST_ENABLED() at::autocast::is_enabled()
#define DLCM_AUTOCAST_SET(on) at::autocast::set_enabled(on)
#define DLCM_AUTOCAST_BF16() at::autocast::set_autocast_gpu_dtype(at::kBFloat16)
#endif

Autocast::Autocast(const torch::Device& device) : on_(device.is_cuda()) {
  if (!on_) return;
  was_enabled_ = DLCM_AUTOCAST_ENABLED();
  DLCM_AUTOCAST_BF16();
  DLCM_AUTOCAST_SET(true);
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  if (!on_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  DLCM_AUTOCAST_SET(was_enabled_);
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // In fp32 whatever x is (bf16 under autocast): the mean of squares loses too much in bf16.
  return kernels::rms_norm(x, weight, 1e-6);
}

Positions make_positions(int64_t max_len, int64_t d_head, double theta) {
  auto inv = torch::pow(theta, -torch::arange(0, d_head, 2, torch::kDouble) / d_head);
  auto ang = torch::outer(torch::arange(max_len, torch::kDouble), inv);
  return {ang.cos().to(torch::kFloat), ang.sin().to(torch::kFloat), {}};
}

AttentionImpl::AttentionImpl(int64_t d_, int64_t heads_, int64_t kv_heads_, double scale_)
    : d(d_), heads(heads_), kv_heads(kv_heads_), d_head(d_ / heads_), scale(scale_) {
  wq = matrix(*this, "wq", d, d);
  wk = matrix(*this, "wk", kv_heads * d_head, d);
  wv = matrix(*this, "wv", kv_heads * d_head, d);
  wo = matrix(*this, "wo", d, d);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const Positions& pos, MacCounter* mc,
                                     bool concept_rate) {
  // One projection for Q, K and V: one matmul instead of three (the weights stay three parameters).
  const int64_t qd = heads * d_head, kvd = kv_heads * d_head;
  // split, not narrow: its backward is one concatenation, narrow's a zero-filled copy per slice.
  auto qkv = linear(x, torch::cat({wq, wk, wv}), mc, concept_rate).split_with_sizes({qd, kvd, kvd}, 2);
  auto q = kernels::heads_rope(qkv[0], heads, pos.cos, pos.sin);     // [B, H, T, dh]
  auto k = kernels::heads_rope(qkv[1], kv_heads, pos.cos, pos.sin);  // [B, Hkv, T, dh]
  auto v = split_heads(qkv[2], kv_heads);                             // [B, Hkv, T, dh]
  auto y = causal_attention(q, k, v, scale, mc, pos);
  return linear(merge_heads(y), wo, mc, concept_rate);
}

SwiGLUImpl::SwiGLUImpl(int64_t d, int64_t hidden) {
  w_gate = matrix(*this, "w_gate", hidden, d);
  w_up = matrix(*this, "w_up", hidden, d);
  w_down = matrix(*this, "w_down", d, hidden);
}

torch::Tensor SwiGLUImpl::forward(const torch::Tensor& x, MacCounter* mc, bool concept_rate) {
  auto gu = linear(x, torch::cat({w_gate, w_up}), mc, concept_rate).chunk(2, -1);  // gate and up in one matmul
  return linear(torch::silu(gu[0]) * gu[1], w_down, mc, concept_rate);
}

BlockImpl::BlockImpl(const ModelConfig& m, int64_t d, int64_t heads, int64_t kvh) {
  attn_norm = register_module("attn_norm", RMSNorm(d));
  attn = register_module("attn", Attention(d, heads, kvh, attention_scale(m, static_cast<int>(d / heads))));
  ffn_norm = register_module("ffn_norm", RMSNorm(d));
  ffn = register_module("ffn", SwiGLU(d, ffn_hidden(m, static_cast<int>(d))));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const Positions& pos, MacCounter* mc,
                                 bool concept_rate) {
  auto h = x + attn->forward(attn_norm->forward(x), pos, mc, concept_rate);
  return h + ffn->forward(ffn_norm->forward(h), mc, concept_rate);
}

CrossAttentionImpl::CrossAttentionImpl(const ModelConfig& m)
    : d(m.d_token),
      heads(m.n_heads_token),
      kv_heads(kv_heads_of(m)),
      d_head(m.d_token / m.n_heads_token),
      scale(attention_scale(m, m.d_token / m.n_heads_token)) {
  wq = matrix(*this, "wq", d, d);
  wk = matrix(*this, "wk", kv_heads * d_head, m.d_concept);
  wv = matrix(*this, "wv", kv_heads * d_head, m.d_concept);
  wo = matrix(*this, "wo", d, d);
  q_norm = register_module("q_norm", RMSNorm(d_head));
  k_norm = register_module("k_norm", RMSNorm(d_head));
}

torch::Tensor CrossAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& concepts,
                                          const torch::Tensor& src, int64_t n_real_concepts, MacCounter* mc,
                                          torch::Tensor& concept_bias) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = q_norm->forward(split_heads(linear(x, wq, mc, false), heads));  // [B, H, T, dh]
  // Project each concept once (null concept included): [B, K+1, Hkv, dh].
  auto kv = linear(concepts, torch::cat({wk, wv}), mc, true, n_real_concepts + B).chunk(2, 2);  // [B, K+1, kvd] each
  auto kc = k_norm->forward(kv[0].view({B, -1, kv_heads, d_head}));
  auto vc = kv[1].view({B, -1, kv_heads, d_head});
  count_causal_attention(mc, q, static_cast<double>(T));
  torch::Tensor y;
  const bool replicate = kernel == CrossKernel::replicated ||
                         (kernel == CrossKernel::automatic && TORCH_VERSION_MAJOR >= 2 && x.is_cuda());
  if (replicate) {
    auto idx = src.view({B, T, 1, 1}).expand({B, T, kv_heads, d_head});
    auto k = kc.gather(1, idx).transpose(1, 2);  // [B, Hkv, T, dh], constant within a segment
    auto v = vc.gather(1, idx).transpose(1, 2);
    y = sdpa(fold_scale(q, scale), expand_kv(k, heads), expand_kv(v, heads), c10::nullopt, true);
  } else {
    // The same function over the K+1 concepts: under replication token t sees concept j once per
    // position s <= t that carries it, so its score gains log(multiplicity); -inf where unseen.
    const bool cpu = kernels::fused(q);
    if (!concept_bias.defined()) {
      torch::NoGradGuard no_grad;
      concept_bias = torch::one_hot(src, kc.size(1)).to(q.scalar_type()).cumsum(1).log().unsqueeze(1);  // [B, 1, T, K+1]
      if (cpu) concept_bias = concept_bias.expand({B, heads, T, -1}).reshape({B * heads, T, -1});  // kernels::attention's
    }
    auto k = expand_kv(kc.transpose(1, 2), heads), v = expand_kv(vc.transpose(1, 2), heads);
    y = cpu ? kernels::attention(q, k, v, concept_bias, scale) : sdpa(fold_scale(q, scale), k, v, concept_bias, false);
  }
  return linear(merge_heads(y), wo, mc, false);
}

DecoderBlockImpl::DecoderBlockImpl(const ModelConfig& m) {
  attn_norm = register_module("attn_norm", RMSNorm(m.d_token));
  attn = register_module("attn", Attention(m.d_token, m.n_heads_token, kv_heads_of(m),
                                            attention_scale(m, m.d_token / m.n_heads_token)));
  cross_norm = register_module("cross_norm", RMSNorm(m.d_token));
  cross = register_module("cross", CrossAttention(m));
  ffn_norm = register_module("ffn_norm", RMSNorm(m.d_token));
  ffn = register_module("ffn", SwiGLU(m.d_token, ffn_hidden(m, m.d_token)));
}

torch::Tensor DecoderBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& concepts,
                                        const torch::Tensor& src, int64_t n_real_concepts,
                                        const Positions& pos, MacCounter* mc, torch::Tensor& concept_bias,
                                        ActivationStats* stats) {
  auto h = x + attn->forward(attn_norm->forward(x), pos, mc, false);
  auto c = cross->forward(cross_norm->forward(h), concepts, src, n_real_concepts, mc, concept_bias);
  if (stats) stats->record("cross_attention", c);
  h = h + c;
  return h + ffn->forward(ffn_norm->forward(h), mc, false);
}

// --- boundaries and pooling ------------------------------------------------------------------

torch::Tensor boundary_probs(const torch::Tensor& q, const torch::Tensor& k) {
  // cos(q_{t-1}, k_t) for t >= 1; position 0 always starts a concept.
  auto cos = torch::nn::functional::cosine_similarity(  // fp32: boundaries hinge on small differences
      q.slice(1, 0, -1).to(torch::kFloat), k.slice(1, 1).to(torch::kFloat),
      torch::nn::functional::CosineSimilarityFuncOptions().dim(-1).eps(1e-8));
  auto p = ((1.0 - cos) * 0.5).clamp(0.0, 1.0);                                     // [B, T-1]
  return torch::cat({torch::ones({q.size(0), 1}, p.options()), p}, 1);              // [B, T]
}

torch::Tensor segment_ids(const torch::Tensor& boundaries) {
  return boundaries.to(torch::kLong).cumsum(1) - 1;
}

// --- the model ------------------------------------------------------------------------------

LanguageModelImpl::LanguageModelImpl(const ModelConfig& m, const BoundaryConfig& b) : cfg(m), bcfg(b) {
  const int64_t d = m.d_token, V = m.vocab_size;
  tok_emb = register_parameter("tok_emb", torch::empty({V, d}));
  pos_tok = make_positions(m.seq_len, d / m.n_heads_token, m.rope_theta);
  if (m.arch == Arch::baseline) {
    layers = register_module("layers", torch::nn::ModuleList());
    for (int i = 0; i < m.n_layers; ++i) layers->push_back(Block(m, d, m.n_heads_token, kv_heads_of(m)));
  } else {
    encoder = register_module("encoder", torch::nn::ModuleList());
    for (int i = 0; i < m.encoder_layers; ++i) encoder->push_back(Block(m, d, m.n_heads_token, kv_heads_of(m)));
    enc_norm = register_module("enc_norm", RMSNorm(d));
    const int64_t ds = scan_dim(m, b);
    w_scan_q = matrix(*this, "w_scan_q", ds, d);
    w_scan_k = matrix(*this, "w_scan_k", ds, d);
    w_up = matrix(*this, "w_up", m.d_concept, d);
    backbone = register_module("backbone", torch::nn::ModuleList());
    for (int i = 0; i < m.concept_layers; ++i)
      backbone->push_back(Block(m, m.d_concept, m.n_heads_concept, kv_heads(m.n_heads_concept, m.n_kv_heads_concept)));
    backbone_norm = register_module("backbone_norm", RMSNorm(m.d_concept));
    null_concept = register_parameter("null_concept", torch::empty({m.d_concept}));
    pos_con = make_positions(m.seq_len, m.d_concept / m.n_heads_concept, m.rope_theta);
    decoder = register_module("decoder", torch::nn::ModuleList());
    for (int i = 0; i < m.decoder_layers; ++i) decoder->push_back(DecoderBlock(m));
  }
  final_norm = register_module("final_norm", RMSNorm(d));
  lm_head = register_parameter("lm_head", torch::empty({V, d}));
}

namespace {

torch::Tensor sample_boundaries(const torch::Tensor& p, const BoundaryConfig& b, bool training, const Sampling& s) {
  const int64_t B = p.size(0), T = p.size(1);
  torch::NoGradGuard no_grad;  // the LM gradient never reaches the boundary decision
  torch::Tensor out;
  if (b.mode == BoundaryMode::fixed) {
    const auto R = static_cast<int64_t>(b.ratio);
    out = (torch::arange(T, torch::kLong) % R == 0).to(p.dtype()).expand({B, T}).contiguous();
  } else if (training) {
    // sharpen(p) = sigmoid(logit(p) / τ); τ < 1 pulls samples toward the inference threshold.
    auto pc = p.clamp(1e-6, 1.0 - 1e-6);
    // b = [u < sharpen(p)], one uniform per element of every row of the whole micro-batch: on CPU
    // the very draws torch::bernoulli makes (single-process losses are unchanged bit for bit).
    const int64_t total = s.rows_total < 0 ? B : s.rows_total;
    auto u = at::rand({total, T}, s.gen.defined() ? c10::optional<at::Generator>(s.gen) : c10::nullopt, p.options());
    out = (u.slice(0, s.row_begin, s.row_begin + B) < torch::sigmoid(torch::logit(pc) / b.temperature)).to(p.dtype());
  } else {
    out = (p >= 0.5).to(p.dtype());
  }
  out.select(1, 0).fill_(1.0);
  return out;
}

// Causal EMA over concepts (H-Net's smoothing): z̄_k = P_k z_k + (1 − P_k) z̄_{k−1}.
torch::Tensor ema_smooth(const torch::Tensor& z, const torch::Tensor& P) {
  std::vector<torch::Tensor> out;
  out.reserve(z.size(1));
  auto prev = z.select(1, 0);
  out.push_back(prev);
  for (int64_t k = 1; k < z.size(1); ++k) {
    auto pk = P.select(1, k).unsqueeze(-1);
    prev = pk * z.select(1, k) + (1 - pk) * prev;
    out.push_back(prev);
  }
  return torch::stack(out, 1);
}

}  // namespace

ForwardOut LanguageModelImpl::forward(const torch::Tensor& tokens, MacCounter* mc, const Sampling& sampling,
                                      ActivationStats* stats) {
  const int64_t B = tokens.size(0), T = tokens.size(1);
  auto record = [&](const char* family, const torch::Tensor& t, const torch::Tensor& mask = {}) {
    if (stats) stats->record(family, t, mask);
  };
  ForwardOut out;
  auto x = torch::embedding(tok_emb, tokens);  // [B, T, d]
  record("embedding", x);
  // The CPU attention kernel takes the causal bias for this length, built once per forward.
  const bool cpu = kernels::fused(x);
  Positions pos_t = pos_tok;
  if (cpu) pos_t.causal = kernels::causal_bias(T);
  if (cfg.arch == Arch::baseline) {
    for (auto& l : *layers) record("blocks", x = l->as<Block>()->forward(x, pos_t, mc, false));
  } else {
    for (auto& l : *encoder) record("encoder", x = l->as<Block>()->forward(x, pos_t, mc, false));
    auto h = enc_norm->forward(x);  // H: [B, T, d]

    // Φ: boundaries from adjacent-state dissimilarity, then mean pooling per segment.
    auto q = linear(h, w_scan_q, mc, false), k = linear(h, w_scan_k, mc, false);
    record("boundary", q);
    record("boundary", k);
    out.p = boundary_probs(q, k);                                  // [B, T]
    out.boundaries = sample_boundaries(out.p, bcfg, is_training(), sampling);  // [B, T]
    auto seg = segment_ids(out.boundaries);                       // [B, T] concept of each token
    const auto n_real = static_cast<int64_t>(out.boundaries.sum().item<double>());
    const int64_t K = seg.max().item<int64_t>() + 1;              // concepts in the longest row
    auto idx = seg.unsqueeze(-1).expand({B, T, h.size(2)});
    auto sums = torch::zeros({B, K, h.size(2)}, h.options()).scatter_add(1, idx, h);
    auto counts = torch::zeros({B, K}, h.options()).scatter_add(1, seg, torch::ones_like(out.p));
    auto pooled = sums / counts.clamp_min(1.0).unsqueeze(-1);    // [B, K, d]
    auto c = linear(pooled, w_up, mc, true, n_real);              // [B, K, dc]
    torch::Tensor real;                                           // [B, K] 1 for real concepts
    if (stats) real = (torch::arange(K, seg.options()).unsqueeze(0) <= seg.select(1, T - 1).unsqueeze(1)).to(h.dtype());
    record("pooling", c, real);

    // M: causal backbone over concepts; padded tail positions never reach real ones.
    Positions pos_c = pos_con;
    if (cpu) pos_c.causal = kernels::causal_bias(K);
    for (auto& l : *backbone) record("backbone", c = l->as<Block>()->forward(c, pos_c, mc, true), real);
    auto z = backbone_norm->forward(c);  // Z: [B, K, dc]
    if (bcfg.smoothing == Smoothing::ema) {
      // P_k: the boundary probability at the token that opened concept k.
      auto first = torch::zeros({B, K}, out.p.options()).scatter_add(1, seg, out.p * out.boundaries);
      z = ema_smooth(z, first);
    }

    // Ψ: token t reads concepts that ended before its own began: index seg_t in [null, z_0, ...].
    auto concepts = torch::cat({null_concept.view({1, 1, -1}).expand({B, 1, z.size(2)}), z}, 1);
    torch::Tensor concept_bias;  // one segmentation: the masked kernel's bias is shared by every block
    for (auto& l : *decoder)
      record("decoder",
             h = l->as<DecoderBlock>()->forward(h, concepts, seg, n_real, pos_t, mc, concept_bias, stats));
    x = h;
  }
  auto y = final_norm->forward(x);
  out.logits = linear(y, lm_head, mc, false) * output_mult(cfg);  // [B, T, V]
  record("logits", out.logits);
  return out;
}

// --- parameter groups ------------------------------------------------------------------------

std::vector<ParamInfo> param_infos(LanguageModel& model) {
  std::vector<ParamInfo> out;
  for (auto& item : model->named_parameters()) {
    const std::string& n = item.key();
    auto has = [&](const char* s) { return n.find(s) != std::string::npos; };
    ParamInfo pi{n, item.value(), Group::token, FanIn::d_token};
    if (n == "tok_emb") pi = {n, item.value(), Group::embedding, FanIn::none};
    else if (n == "lm_head") pi = {n, item.value(), Group::head, FanIn::d_token};
    else if (has("norm") || n == "null_concept") pi = {n, item.value(), Group::vector, FanIn::none};
    else if (n.rfind("backbone.", 0) == 0) pi = {n, item.value(), Group::backbone, FanIn::d_concept};
    else if (n == "w_up") pi = {n, item.value(), Group::joining, FanIn::d_token};
    else if (has(".cross.wk") || has(".cross.wv")) pi = {n, item.value(), Group::joining, FanIn::d_concept};
    out.push_back(pi);
  }
  return out;
}

void init_parameters(LanguageModel& model) {
  torch::NoGradGuard no_grad;
  const auto& m = model->cfg;
  for (auto& pi : param_infos(model)) {
    if (pi.group == Group::vector && pi.name != "null_concept") {
      pi.tensor.fill_(1.0);  // norm gains
    } else if (pi.name == "w_scan_q" || pi.name == "w_scan_k") {
      pi.tensor.copy_(torch::eye(pi.tensor.size(0), pi.tensor.size(1)));  // H-Net: identity
    } else {
      pi.tensor.normal_(0.0, group_rule(m, pi.group, pi.fan_in).init_std);
    }
  }
}

// --- losses ---------------------------------------------------------------------------------

torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets) {
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
}

torch::Tensor ratio_loss(const torch::Tensor& F, const torch::Tensor& G, double R) {
  return R / (R - 1.0) * ((R - 1.0) * F * G + (1.0 - F) * (1.0 - G)) - 1.0;
}

torch::Tensor aux_loss(const ForwardOut& out, const BoundaryConfig& b) {
  if (!out.p.defined() || b.mode == BoundaryMode::fixed) return torch::zeros({});
  if (b.mode == BoundaryMode::global) return ratio_loss(out.boundaries.mean(), out.p.mean(), b.ratio);
  // sequence ("Normal"): each row hits the ratio on its own, then average.
  return ratio_loss(out.boundaries.mean(1), out.p.mean(1), b.ratio).mean();
}

}  // namespace dlcm::model
