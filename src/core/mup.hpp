#pragma once
// The decoupled μP rule table (DESIGN §5), in one place: model init, optimizer groups and the
// recommendation report all read it. Plain C++.
#include <string>

#include "core/config.hpp"

namespace dlcm {

enum class Group { embedding, token, backbone, joining, head, vector };
// Which width a matrix's fan-in is: decides its rules (joining matrices follow their fan-in).
enum class FanIn { none, d_token, d_concept };

struct GroupRule {
  double init_std;      // standard deviation at initialisation (identity-initialised ones aside)
  double lr_mult;       // multiplies the base learning rate (schedules multiply on top)
  double eps_mult;      // multiplies Adam's ε
  double weight_decay;  // 1 where decoupled weight decay applies, 0 for embeddings and vectors
};

struct WidthMults {
  double s_tok = 1.0;  // d_token / d_token_base
  double s_con = 1.0;  // d_concept / d_concept_base
};

WidthMults width_mults(const ModelConfig& m);
GroupRule group_rule(const ModelConfig& m, Group g, FanIn f);
// Logits are multiplied by this (1/s_tok under μP).
double output_mult(const ModelConfig& m);
// Attention scores are scaled by this: 1/sqrt(d_head) standard, 1/d_head under μP.
double attention_scale(const ModelConfig& m, int d_head);
const char* name(Group g);

}  // namespace dlcm
