#include "train/optim.hpp"

#include <cmath>
#include <map>

namespace dlcm::train {

AdamW make_adamw(const std::vector<model::ParamInfo>& params, const ModelConfig& m, const TrainConfig& t) {
  AdamW opt;
  opt.beta1 = t.beta1;
  opt.beta2 = t.beta2;
  std::map<std::string, size_t> index;
  for (const auto& p : params) {
    const GroupHyper h = group_hyperparameters(m, t, p.group, p.fan_in);
    const std::string key = std::string(name(p.group)) +
                            (p.fan_in == FanIn::d_concept ? "/d_concept" : p.fan_in == FanIn::d_token ? "/d_token" : "");
    auto it = index.find(key);
    if (it == index.end()) {
      it = index.emplace(key, opt.groups.size()).first;
      opt.groups.push_back({key, h.lr, h.eps, h.weight_decay, {}, {}, {}});
    }
    auto& g = opt.groups[it->second];
    g.params.push_back(p.tensor);
    g.exp_avg.push_back(torch::zeros_like(p.tensor));
    g.exp_avg_sq.push_back(torch::zeros_like(p.tensor));
  }
  return opt;
}

void zero_grad(AdamW& opt) {
  for (auto& g : opt.groups)
    for (auto& p : g.params)
      if (p.grad().defined()) p.mutable_grad().zero_();
}

double clip_grad_norm(AdamW& opt, double max_norm) {
  std::vector<torch::Tensor> grads;
  for (auto& g : opt.groups)
    for (auto& p : g.params)
      if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  auto norms = at::_foreach_norm(grads, 2);
  const double total = torch::stack(norms).norm().item<double>();
  if (max_norm > 0 && total > max_norm) at::_foreach_mul_(grads, max_norm / (total + 1e-6));
  return total;
}

void adamw_step(AdamW& opt, double schedule) {
  torch::NoGradGuard no_grad;
  opt.t += 1;
  const double bc1 = 1.0 - std::pow(opt.beta1, static_cast<double>(opt.t));
  const double bc2 = 1.0 - std::pow(opt.beta2, static_cast<double>(opt.t));
  for (auto& g : opt.groups) {
    std::vector<torch::Tensor> params, grads, m, v;
    for (size_t i = 0; i < g.params.size(); ++i) {
      if (!g.params[i].grad().defined()) continue;
      params.push_back(g.params[i]);
      grads.push_back(g.params[i].grad());
      m.push_back(g.exp_avg[i]);
      v.push_back(g.exp_avg_sq[i]);
    }
    if (params.empty()) continue;
    const double glr = schedule * g.lr;
    if (g.weight_decay > 0) at::_foreach_mul_(params, 1.0 - glr * g.weight_decay);  // decoupled decay
    at::_foreach_mul_(m, opt.beta1);
    at::_foreach_add_(m, grads, 1.0 - opt.beta1);
    at::_foreach_mul_(v, opt.beta2);
    at::_foreach_addcmul_(v, grads, grads, 1.0 - opt.beta2);
    // p -= glr/bc1 * m / (sqrt(v / bc2) + eps)
    auto denom = at::_foreach_sqrt(v);
    at::_foreach_div_(denom, std::sqrt(bc2));
    at::_foreach_add_(denom, g.eps);
    at::_foreach_addcdiv_(params, m, denom, -glr / bc1);
  }
}

}  // namespace dlcm::train
