#pragma once
// AdamW over μP parameter groups (DESIGN §5). Each group carries its full options (core/mup.hpp's
// group_hyperparameters): its peak rate, ε and weight decay; a step takes the schedule's factor,
// which multiplies every group's rate and never overwrites it. The update uses LibTorch's
// multi-tensor _foreach kernels, one call per group.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/config.hpp"
#include "model/model.hpp"

namespace dlcm::train {

struct AdamGroup {
  std::string name;  // "token/d_token", "backbone/d_concept", ...
  double lr = 0, eps = 1e-8, weight_decay = 0;  // peak rate; AdamW decay coefficient
  std::vector<torch::Tensor> params, exp_avg, exp_avg_sq;
};

struct AdamW {
  std::vector<AdamGroup> groups;
  double beta1 = 0.9, beta2 = 0.95;
  int64_t t = 0;  // steps taken
};

AdamW make_adamw(const std::vector<model::ParamInfo>& params, const ModelConfig& m, const TrainConfig& t);
// One update with every group's rate multiplied by `schedule` (core/schedule.hpp's lr_factor).
void adamw_step(AdamW& opt, double schedule);
void zero_grad(AdamW& opt);
// Global L2 norm of all gradients; scales them down to `max_norm` when above it (0: no clipping).
double clip_grad_norm(AdamW& opt, double max_norm);

}  // namespace dlcm::train
