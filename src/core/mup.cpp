#include "core/mup.hpp"

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
    return {sigma / std::sqrt(s), 1.0 / s, 1.0 / s, 1.0};
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

}  // namespace dlcm
