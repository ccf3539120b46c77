#include "train/inspect.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "model/model.hpp"
#include "train/checkpoint.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace dlcm::train {

Inspection inspect(const std::string& run_dir, const std::string& text, int threads) {
  const fs::path dir(run_dir);
  const RunConfig cfg = load_run_config((dir / "config.toml").string());
  if (!cfg.data.dir.empty()) {
    std::ifstream meta(fs::path(cfg.data.dir) / "meta.json");
    if (meta && json::parse(meta).value("tokenizer", "") != "bytes")
      throw std::runtime_error("inspect --text needs a byte-level run");
  } else {
    throw std::runtime_error("inspect --text needs a byte-level run (this run trained on a token file)");
  }
  if (text.empty()) throw std::runtime_error("--text: empty text");
  if (threads > 0) torch::set_num_threads(threads);
  auto net = load_trained(dir, cfg);
  torch::NoGradGuard no_grad;
  const size_t n = std::min<size_t>(text.size(), static_cast<size_t>(cfg.model.seq_len));
  Inspection out;
  auto x = torch::empty({1, static_cast<int64_t>(n)}, torch::kLong);
  for (size_t i = 0; i < n; ++i) {
    out.tokens.push_back(static_cast<unsigned char>(text[i]));
    x[0][static_cast<int64_t>(i)] = out.tokens.back();
  }
  auto o = net->forward(x);
  auto logp = torch::log_softmax(o.logits[0], -1);
  for (size_t i = 0; i + 1 < n; ++i) out.next_token_logprob.push_back(logp[i][out.tokens[i + 1]].item<double>());
  for (size_t i = 0; i < n; ++i) {
    out.boundaries.push_back(o.boundaries.defined() ? static_cast<int>(o.boundaries[0][i].item<double>()) : 1);
    out.boundary_prob.push_back(o.p.defined() ? o.p[0][i].item<double>() : 1.0);
  }
  return out;
}

}  // namespace dlcm::train
