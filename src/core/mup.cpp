#include "core/mup.hpp"

#include <algorithm>
#include <cmath>

namespace dlcm {

WidthMults width_mults(const ModelConfig& m) {
  return {static_cast<double>(m.d_token) / m.d_token_base,
          static_cast<double>(m.d_concept) / m.d_concept_base};
}

GroupRule group_rule(const ModelConfig& m, Group g, FanIn f) {
  const double sigma = m.init_std;
  const bool decays = g != Group::embedding && g != Group::vector;
  if (m.parametrisation == Parametrisation::standard) return {sigma, 1.0, 1.0, decays ? 1.0 : 0.0};
  const auto w = width_mults(m);
  // Hidden matrices: variance σ²/s, learning rate η/s, ε/s, with s the fan-in side's multiplier.
  if (g == Group::token || g == Group::backbone || g == Group::joining) {
    const double s = f == FanIn::d_concept ? w.s_con : w.s_tok;
    double init = sigma / std::sqrt(s);
    // Cross-attention K/V are the concept stream's only way out, hence its readout: when d_concept
    // widens faster than d_token they need μP's output-layer variance, σ²/s_con², else the
    // concepts' updates (aligned with these rows) grow the decoder's cross-attention as
    // sqrt(s_con/s_tok). Equal multipliers (the paired axis) leave σ²/s_con.
    if (g == Group::joining && f == FanIn::d_concept) init *= std::sqrt(std::min(1.0, w.s_tok / w.s_con));
    return {init, 1.0 / s, 1.0 / s, 1.0};
  }
  return {sigma, 1.0, 1.0, decays ? 1.0 : 0.0};  // embeddings, vectors, LM head
}

double output_mult(const ModelConfig& m) {
  return m.parametrisation == Parametrisation::mup ? 1.0 / width_mults(m).s_tok : 1.0;
}

double attention_scale(const ModelConfig& m, int d_head) {
  return m.parametrisation == Parametrisation::mup ? 1.0 / d_head : 1.0 / std::sqrt(d_head);
}

const char* name(Group g) {
  switch (g) {
    case Group::embedding: return "embedding";
    case Group::token: return "token";
    case Group::backbone: return "backbone";
    case Group::joining: return "joining";
    case Group::head: return "head";
    case Group::vector: return "vector";
  }
  return "?";
}

double base_lr(const TrainConfig& t, Group g, FanIn f) {
  switch (g) {
    case Group::token: return t.lr_token.value_or(t.lr);
    case Group::backbone: return t.lr_concept.value_or(t.lr);
    case Group::joining: return (f == FanIn::d_concept ? t.lr_concept : t.lr_token).value_or(t.lr);
    case Group::embedding:
    case Group::head:
    case Group::vector: return t.lr_other.value_or(t.lr);
  }
  return t.lr;
}

GroupHyper group_hyperparameters(const ModelConfig& m, const TrainConfig& t, Group g, FanIn f) {
  const GroupRule rule = group_rule(m, g, f);
  const double base = base_lr(t, g, f), lr = base * rule.lr_mult;
  // independent: the per-step decay lr·wd comes out as weight_decay·base, whatever the width factor.
  const double wd = t.weight_decay * rule.weight_decay *
                    (t.weight_decay_mode == WeightDecayMode::independent ? base / lr : 1.0);
  return {lr, rule.init_std, t.eps * rule.eps_mult, wd};
}

}  // namespace dlcm
