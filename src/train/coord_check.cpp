#include "train/coord_check.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

#include "data/corpus.hpp"
#include "model/model.hpp"
#include "train/optim.hpp"

namespace dlcm::train {

double fit_slope(const std::vector<double>& x, const std::vector<double>& y) {
  const auto n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) mx += x[i] / n, my += y[i] / n;
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < x.size(); ++i) sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx);
  return sxx > 0 ? sxy / sxx : NAN;
}

namespace {

// The same batch for every width and seed: batch_size windows evenly spaced over the training split.
torch::Tensor fixed_batch(const RunConfig& cfg) {
  const auto corpus = data::load_corpus(cfg.data, cfg.model.vocab_size);
  const int64_t T = cfg.model.seq_len, B = cfg.train.batch_size;
  const auto room = static_cast<int64_t>(corpus.train.size()) - (T + 1);
  if (room < 0) throw std::runtime_error(fmt::format("training split has {} tokens, fewer than model.seq_len + 1 = {}",
                                                     corpus.train.size(), T + 1));
  auto w = torch::empty({B, T + 1}, torch::kLong);
  auto acc = w.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t off = B > 1 ? room * b / (B - 1) : 0;
    for (int64_t t = 0; t <= T; ++t) acc[b][t] = corpus.train[off + t];
  }
  return w;
}

// mean |act| per family at steps 0..steps for one model.
std::vector<std::map<std::string, double>> trace(const RunConfig& cfg, const torch::Tensor& batch, int steps,
                                                 uint64_t seed) {
  torch::manual_seed(seed);
  model::LanguageModel net(cfg.model, cfg.boundary);
  model::init_parameters(net);
  net->train();
  AdamW adam = make_adamw(model::param_infos(net), cfg.model, cfg.train);
  const int64_t T = cfg.model.seq_len;
  const auto inputs = batch.slice(1, 0, T), targets = batch.slice(1, 1);
  std::vector<std::map<std::string, double>> out;
  for (int step = 0; step <= steps; ++step) {
    model::ActivationStats stats;
    zero_grad(adam);
    auto o = net->forward(inputs, nullptr, {}, &stats);
    std::map<std::string, double> row;
    for (const auto& [family, _] : stats.sum) row[family] = stats.mean_abs(family);
    out.push_back(row);
    if (step == steps) break;
    auto loss = model::lm_loss(o.logits, targets);
    if (cfg.model.arch == Arch::dlcm) loss = loss + cfg.boundary.aux_weight * model::aux_loss(o, cfg.boundary);
    loss.backward();
    adamw_step(adam, cfg.train.lr);
  }
  return out;
}

}  // namespace

CoordCheck coord_check(const RunConfig& cfg, const CoordCheckOptions& opt) {
  if (opt.steps < 0) throw std::runtime_error("--steps: must be at least 0");
  if (opt.seeds < 1) throw std::runtime_error("--seeds: must be at least 1");
  CoordCheck cc;
  const auto& wt = opt.widths_token;
  const auto& wc = opt.widths_concept;
  if (wt.empty() && wc.empty()) throw std::runtime_error("coord-check: give --widths-token and/or --widths-concept");
  if (!wt.empty() && !wc.empty() && wt.size() != wc.size())
    throw std::runtime_error(fmt::format("--widths-token ({} widths) and --widths-concept ({}) are paired: same length",
                                         wt.size(), wc.size()));
  cc.axis = wc.empty() ? "token" : wt.empty() ? "concept" : "both";
  const size_t n = std::max(wt.size(), wc.size());
  if (n < 2) throw std::runtime_error("coord-check: at least two widths are needed for a slope");
  for (size_t i = 0; i < n; ++i) {
    cc.widths_token.push_back(wt.empty() ? cfg.model.d_token : wt[i]);
    cc.widths_concept.push_back(wc.empty() ? cfg.model.d_concept : wc[i]);
  }
  std::vector<RunConfig> configs;  // all validated before any training
  for (size_t i = 0; i < n; ++i) {
    RunConfig c = cfg;
    c.model.d_token = cc.widths_token[i];
    c.model.d_concept = cc.widths_concept[i];
    validate(c, fmt::format("coord-check width d_token={} d_concept={}", c.model.d_token, c.model.d_concept));
    configs.push_back(c);
  }
  if (opt.threads > 0) torch::set_num_threads(opt.threads);
  const auto batch = fixed_batch(cfg);

  std::vector<std::vector<std::map<std::string, double>>> per_width;  // [width][step] family → mean
  for (size_t i = 0; i < n; ++i) {
    const RunConfig& c = configs[i];
    std::vector<std::map<std::string, double>> mean(opt.steps + 1);
    for (int s = 1; s <= opt.seeds; ++s) {
      const auto t = trace(c, batch, opt.steps, static_cast<uint64_t>(s));
      for (int step = 0; step <= opt.steps; ++step)
        for (const auto& [family, v] : t[step]) mean[step][family] += v / opt.seeds;
    }
    for (int step = 0; step <= opt.steps; ++step)
      for (const auto& [family, v] : mean[step])
        cc.curves.push_back({family, cc.widths_token[i], cc.widths_concept[i], step, v});
    per_width.push_back(std::move(mean));
  }

  std::vector<double> logw;
  for (size_t i = 0; i < n; ++i)
    logw.push_back(std::log(static_cast<double>(cc.axis == "concept" ? cc.widths_concept[i] : cc.widths_token[i])));
  for (const auto& [family, _] : per_width[0][0])
    for (int step = 0; step <= opt.steps; ++step) {
      std::vector<double> logy;
      for (size_t i = 0; i < n; ++i) logy.push_back(std::log(per_width[i][step].at(family)));
      cc.slopes[family].push_back(fit_slope(logw, logy));
    }
  return cc;
}

}  // namespace dlcm::train
