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
  double lr_mult;       // multiplies the group's base learning rate (schedules multiply on top)
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

// The base learning rate of a group, before its width factor and the schedule: η_tok for matrices
// with fan-in d_token, η_con for those with fan-in d_concept (joining matrices by their fan-in),
// η_other for embeddings, vectors and the LM head (train.lr_token / lr_concept / lr_other, each
// train.lr when unset). The same under both parametrisations.
double base_lr(const TrainConfig& t, Group g, FanIn f);

// Everything the optimizer and the initialisation use for one group, with the train config's
// values applied: what torch.optim.AdamW would take as the group's options.
struct GroupHyper {
  double lr;            // peak rate: base_lr × the width factor (the schedule multiplies it)
  double init_std;
  double eps;
  double weight_decay;  // AdamW coefficient: each step scales the weights by 1 − schedule·lr·weight_decay
};
GroupHyper group_hyperparameters(const ModelConfig& m, const TrainConfig& t, Group g, FanIn f);

}  // namespace dlcm
