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

const char* name(CoordSegmentation s) { return s == CoordSegmentation::fixed ? "fixed" : "sampled"; }

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

struct Trace {
  std::vector<std::map<std::string, double>> steps;  // mean |act| per family at steps 0..steps
  double ratio = 0;                                   // tokens per concept, mean over the forwards
};

Trace trace(const RunConfig& cfg, const torch::Tensor& batch, int steps, uint64_t seed) {
  torch::manual_seed(seed);
  model::LanguageModel net(cfg.model, cfg.boundary);
  model::init_parameters(net);
  net->train();
  AdamW adam = make_adamw(model::param_infos(net), cfg.model, cfg.train);
  const int64_t T = cfg.model.seq_len;
  const auto inputs = batch.slice(1, 0, T), targets = batch.slice(1, 1);
  Trace out;
  for (int step = 0; step <= steps; ++step) {
    model::ActivationStats stats;
    zero_grad(adam);
    auto o = net->forward(inputs, nullptr, {}, &stats);
    std::map<std::string, double> row;
    for (const auto& [family, _] : stats.sum) row[family] = stats.mean_abs(family);
    out.steps.push_back(row);
    out.ratio += (o.boundaries.defined() ? 1.0 / o.boundaries.mean().item<double>() : 1.0) / (steps + 1);
    if (step == steps) break;
    auto loss = model::lm_loss(o.logits, targets);
    if (cfg.model.arch == Arch::dlcm) loss = loss + cfg.boundary.aux_weight * model::aux_loss(o, cfg.boundary);
    loss.backward();
    adamw_step(adam, 1.0);  // constant at the peak rates
  }
  return out;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x / static_cast<double>(v.size());
  return s;
}

double sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

CoordCheck coord_check(const RunConfig& cfg_in, const CoordCheckOptions& opt) {
  if (opt.steps < 0) throw std::runtime_error("--steps: must be at least 0");
  if (opt.seeds < 1) throw std::runtime_error("--seeds: must be at least 1");
  if (!(opt.band > 0)) throw std::runtime_error("--band: must be positive");
  CoordCheck cc;
  cc.band = opt.band;
  const auto& wt = opt.widths_token;
  const auto& wc = opt.widths_concept;
  if (wt.empty() && wc.empty()) throw std::runtime_error("coord-check: give --widths-token and/or --widths-concept");
  if (!wt.empty() && !wc.empty() && wt.size() != wc.size())
    throw std::runtime_error(fmt::format("--widths-token ({} widths) and --widths-concept ({}) are paired: same length",
                                         wt.size(), wc.size()));
  cc.axis = wc.empty() ? "token" : wt.empty() ? "concept" : "both";
  const size_t n = std::max(wt.size(), wc.size());
  if (n < 2) throw std::runtime_error("coord-check: at least two widths are needed for a slope");
  RunConfig cfg = cfg_in;
  if (opt.segmentation == CoordSegmentation::fixed && cfg.model.arch == Arch::dlcm) {
    cfg.boundary.mode = BoundaryMode::fixed;
    cfg.boundary.ratio = std::max(2.0, std::round(cfg.boundary.ratio));
  }
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

  // log mean|act| [width][seed][step] per family
  std::vector<std::vector<std::vector<std::map<std::string, double>>>> logs(n);
  for (size_t i = 0; i < n; ++i) {
    double ratio = 0;
    for (int s = 1; s <= opt.seeds; ++s) {
      const Trace t = trace(configs[i], batch, opt.steps, static_cast<uint64_t>(s));
      ratio += t.ratio / opt.seeds;
      auto& seed_log = logs[i].emplace_back();
      for (const auto& row : t.steps) {
        auto& out = seed_log.emplace_back();
        for (const auto& [family, v] : row) out[family] = std::log(v);
      }
    }
    cc.realised_ratio.push_back(ratio);
  }

  std::vector<double> logw;
  for (size_t i = 0; i < n; ++i)
    logw.push_back(std::log(static_cast<double>(cc.axis == "concept" ? cc.widths_concept[i] : cc.widths_token[i])));
  for (const auto& [family, _] : logs[0][0][0]) {
    for (int step = 0; step <= opt.steps; ++step) {
      std::vector<double> per_seed;
      for (int s = 0; s < opt.seeds; ++s) {
        std::vector<double> logy;
        for (size_t i = 0; i < n; ++i) logy.push_back(logs[i][s][step].at(family));
        per_seed.push_back(fit_slope(logw, logy));
      }
      cc.slopes[family].push_back(mean(per_seed));
      cc.slope_sd[family].push_back(sd(per_seed));
      for (size_t i = 0; i < n; ++i) {
        std::vector<double> over_seeds;
        for (int s = 0; s < opt.seeds; ++s) over_seeds.push_back(logs[i][s][step].at(family));
        cc.curves.push_back({family, cc.widths_token[i], cc.widths_concept[i], step, std::exp(mean(over_seeds))});
      }
    }
    cc.pass[family] = std::abs(cc.slopes[family].back()) <= opt.band;
  }
  return cc;
}

}  // namespace dlcm::train
