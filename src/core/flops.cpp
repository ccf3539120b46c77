#include "core/flops.hpp"

namespace dlcm {
namespace {

struct Block {
  double attn_proj;  // Wq, Wk, Wv, Wo
  double ffn;        // SwiGLU: gate, up, down
  double norms;
};

Block block(const ModelConfig& m, int d, int heads, int kv) {
  const double dh = static_cast<double>(d) / heads;
  const double kvd = kv_heads(heads, kv) * dh;
  return {2.0 * d * d + 2.0 * d * kvd, 3.0 * d * ffn_hidden(m, d), 2.0 * d};
}

// Decoder cross-attention at token width d reading concepts of width dc.
struct Cross {
  double q_o;   // token-rate: Wq, Wo
  double k_v;   // concept-rate: Wk, Wv from d_concept
  double norms; // QK-RMSNorm over the head dimension
};

Cross cross(const ModelConfig& m) {
  const int d = m.d_token;
  const double dh = static_cast<double>(d) / m.n_heads_token;
  const double kvd = kv_heads(m.n_heads_token, m.n_kv_heads_token) * dh;
  return {2.0 * d * d, 2.0 * m.d_concept * kvd, 2.0 * dh};
}

}  // namespace

ParamCounts count_params(const ModelConfig& m, const BoundaryConfig& b) {
  ParamCounts p;
  const int d = m.d_token;
  p.embedding = static_cast<int64_t>(m.vocab_size) * d;
  p.head = static_cast<int64_t>(m.vocab_size) * d;
  const Block tb = block(m, d, m.n_heads_token, m.n_kv_heads_token);
  if (m.arch == Arch::baseline) {
    p.token = static_cast<int64_t>(m.n_layers * (tb.attn_proj + tb.ffn));
    p.vector = static_cast<int64_t>(m.n_layers * tb.norms + d);
    return p;
  }
  const Block cb = block(m, m.d_concept, m.n_heads_concept, m.n_kv_heads_concept);
  const Cross x = cross(m);
  const int ds = scan_dim(m, b);
  p.token = static_cast<int64_t>(m.encoder_layers * (tb.attn_proj + tb.ffn) + 2.0 * ds * d +
                                 m.decoder_layers * (tb.attn_proj + tb.ffn + x.q_o));
  p.backbone_matrix = static_cast<int64_t>(m.concept_layers * (cb.attn_proj + cb.ffn));
  p.joining = static_cast<int64_t>(static_cast<double>(d) * m.d_concept + m.decoder_layers * x.k_v);
  const int64_t backbone_norms = static_cast<int64_t>(m.concept_layers * cb.norms + m.d_concept);
  // encoder blocks, encoder output norm, backbone norms, null concept, decoder blocks
  // (3 norms + QK norms each), final norm.
  p.vector = static_cast<int64_t>(m.encoder_layers * tb.norms + d) + backbone_norms + m.d_concept +
             static_cast<int64_t>(m.decoder_layers * (tb.norms + d + x.norms) + d);
  p.backbone = p.backbone_matrix + backbone_norms;
  return p;
}

FlopsPerToken flops_per_token(const ModelConfig& m, const BoundaryConfig& b, double ratio) {
  FlopsPerToken f;
  const int d = m.d_token;
  const double ctx = m.seq_len / 2.0;
  const Block tb = block(m, d, m.n_heads_token, m.n_kv_heads_token);
  const double head = static_cast<double>(m.vocab_size) * d;
  if (m.arch == Arch::baseline) {
    f.token_linear = m.n_layers * (tb.attn_proj + tb.ffn) + head;
    f.attention = 2.0 * m.n_layers * ctx * d;
    return f;
  }
  const Block cb = block(m, m.d_concept, m.n_heads_concept, m.n_kv_heads_concept);
  const Cross x = cross(m);
  const int ds = scan_dim(m, b);
  f.token_linear = m.encoder_layers * (tb.attn_proj + tb.ffn) + 2.0 * ds * d +
                   m.decoder_layers * (tb.attn_proj + tb.ffn + x.q_o) + head;
  f.concept_linear = (m.concept_layers * (cb.attn_proj + cb.ffn) +
                      static_cast<double>(d) * m.d_concept + m.decoder_layers * x.k_v) / ratio;
  // Encoder and decoder self-attention, decoder cross-attention over replicated concepts
  // (a length-T causal attention), backbone attention over T/R concepts at concept rate.
  f.attention = 2.0 * (m.encoder_layers + 2 * m.decoder_layers) * ctx * d +
                2.0 * m.concept_layers * (ctx / ratio) * m.d_concept / ratio;
  return f;
}

RunAccounting account(const ModelConfig& m, const BoundaryConfig& b, double ratio, double tokens) {
  const auto p = count_params(m, b);
  RunAccounting a;
  a.N = static_cast<double>(p.non_embedding());
  a.N_total = static_cast<double>(p.total());
  a.P = static_cast<double>(p.backbone) / a.N;
  a.R = m.arch == Arch::dlcm ? ratio : 1.0;
  a.n_eff = flops_per_token(m, b, a.R).n_eff();
  a.D = tokens;
  a.C = 6.0 * a.n_eff * tokens;
  return a;
}

}  // namespace dlcm
