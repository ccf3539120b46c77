#include "train/step.hpp"

#include <algorithm>

namespace dlcm::train {

// In `global` boundary mode the ratio loss uses F and G of the whole global batch (all
// micro-batches, all ranks): it is linear in G once F is fixed, so each micro-batch's ∇G is kept
// aside and scaled by the global F's coefficient once the statistics are reduced.
StepStats forward_backward(model::LanguageModel& net, AdamW& opt, Batcher& data, const RunConfig& cfg,
                           torch::Device dev, const Comm& comm, const at::Generator& gen) {
  const auto& b = cfg.boundary;
  const int M = cfg.train.micro_batches;
  const int64_t mb = cfg.train.batch_size / M, rows = mb / comm.size, first = comm.rank * rows;
  const int64_t T = cfg.model.seq_len;
  const bool dlcm = cfg.model.arch == Arch::dlcm;
  const bool pooled = dlcm && b.mode == BoundaryMode::global && M * comm.size > 1;
  const bool deferred = pooled && b.aux_weight > 0;
  std::vector<torch::Tensor> params;
  for (auto& g : opt.groups)
    for (auto& p : g.params) params.push_back(p);
  std::vector<torch::Tensor> grad_G(deferred ? params.size() : 0);
  // This rank's sums over its micro-batches: CE, aux (per-batch modes), F, G, boundaries.
  double ce_sum = 0, aux_sum = 0, F_sum = 0, G_sum = 0, boundaries = 0;
  for (int i = 0; i < M; ++i) {
    auto w = data.next(mb).slice(0, first, first + rows).to(dev);
    model::ForwardOut out;
    torch::Tensor ce;
    {
      model::Autocast amp(dev);  // bf16 on CUDA; the backward below runs outside it
      out = net->forward(w.slice(1, 0, T), nullptr, {first, mb, gen});
      ce = model::lm_loss(out.logits, w.slice(1, 1));
    }
    torch::Tensor loss = ce / M;
    if (dlcm) {
      boundaries += out.boundaries.sum().item<double>();
      if (pooled) {
        auto G = out.p.mean();
        F_sum += out.boundaries.mean().item<double>();
        G_sum += G.item<double>();
        if (deferred) {
          auto g = torch::autograd::grad({G / M}, params, {}, /*retain_graph=*/true, false, /*allow_unused=*/true);
          for (size_t j = 0; j < params.size(); ++j)
            if (g[j].defined()) grad_G[j] = grad_G[j].defined() ? grad_G[j] + g[j] : g[j];
        }
      } else {
        auto aux = model::aux_loss(out, b);
        aux_sum += aux.item<double>();
        loss = loss + b.aux_weight * aux / M;
      }
    }
    loss.backward();
    ce_sum += ce.item<double>();
  }
  // Ranks hold equal slices, so a global mean is the mean of the ranks' means: one reduction.
  auto sums = torch::tensor({ce_sum, aux_sum, F_sum, G_sum, boundaries}, torch::kDouble);
  all_sum(comm, sums);
  const double n = static_cast<double>(M) * comm.size;
  StepStats st;
  st.loss = sums[0].item<double>() / n;
  st.aux = sums[1].item<double>() / n;
  if (pooled) {
    const double F = sums[2].item<double>() / n, G = sums[3].item<double>() / n, R = b.ratio;
    st.aux = R / (R - 1) * ((R - 1) * F * G + (1 - F) * (1 - G)) - 1;
    const double coef = b.aux_weight * R / (R - 1) * (R * F - 1);  // dL_aux/dG at the global F
    torch::NoGradGuard no_grad;
    for (size_t j = 0; j < grad_G.size(); ++j) {
      if (!grad_G[j].defined()) continue;
      if (params[j].grad().defined()) params[j].mutable_grad().add_(grad_G[j], coef);
      else params[j].mutable_grad() = grad_G[j] * coef;
    }
  }
  average_gradients(comm, params);
  if (dlcm) st.ratio = static_cast<double>(cfg.train.batch_size * T) / std::max(1.0, sums[4].item<double>());
  return st;
}

}  // namespace dlcm::train
