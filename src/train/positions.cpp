#include "train/positions.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "core/config.hpp"
#include "data/corpus.hpp"
#include "model/model.hpp"
#include "train/checkpoint.hpp"
#include "train/eval.hpp"

namespace fs = std::filesystem;

namespace dlcm::train {
namespace {

std::string config_path(const std::string& run_dir) { return (fs::path(run_dir) / "config.toml").string(); }

// The baseline must score the very tokens the DLCM scored: same corpus, same windows.
void check_same_tokens(const RunConfig& dlcm, const RunConfig& base, const std::string& base_dir) {
  auto differs = [&](const char* field, const std::string& a, const std::string& b) {
    if (a != b)
      throw std::runtime_error(fmt::format("{}: {} is \"{}\", the DLCM run's is \"{}\" (the baseline must read the "
                                           "same tokens)",
                                           config_path(base_dir), field, b, a));
  };
  differs("data.dir", dlcm.data.dir, base.data.dir);
  differs("data.train_bin", dlcm.data.train_bin, base.data.train_bin);
  differs("data.val_bin", dlcm.data.val_bin, base.data.val_bin);
  differs("model.seq_len", std::to_string(dlcm.model.seq_len), std::to_string(base.model.seq_len));
  differs("model.vocab_size", std::to_string(dlcm.model.vocab_size), std::to_string(base.model.vocab_size));
}

// Adds one window's targets: nats[j-1] and base[j-1] are the losses of target j = 1..T, and
// starts[j] (j = 0..T) is 1 where token j opens a concept (starts[0] = 1).
void add_window(PositionLoss& out, const std::vector<int>& starts, const double* nats, const double* base) {
  const auto T = static_cast<int64_t>(starts.size()) - 1;
  int64_t begin = 0;  // the concept holding token j opens at `begin`
  for (int64_t j = 1; j <= T; ++j) {
    if (starts[j]) begin = j;
    const double n = nats[j - 1], b = base ? base[j - 1] : 0.0;
    out.all.add(n, b);
    int64_t end = j + 1;  // one past the concept's last token, when it lies inside the window
    while (end <= T && !starts[end]) ++end;
    if (end > T) {
      out.open.add(n, b);
      continue;
    }
    const int64_t L = end - begin, k = j - begin;
    if (L == 1) out.single.add(n, b);
    else (k == 0 ? out.first : k == L - 1 ? out.last : out.internal).add(n, b);
    if (L <= out.max_length) out.by_length[L - 1][k].add(n, b);
    else out.longer[k == 0 ? 0 : k == L - 1 ? 2 : 1].add(n, b);
  }
}

}  // namespace

PositionLoss position_loss(const PositionOptions& opt) {
  if (opt.max_length < 1) throw std::runtime_error(fmt::format("--max-length: {} is not a positive length", opt.max_length));
  const RunConfig cfg = load_run_config(config_path(opt.run_dir));
  if (cfg.model.arch != Arch::dlcm)
    throw std::runtime_error(
        fmt::format("{}: model.arch is baseline; loss by concept position needs a DLCM run", config_path(opt.run_dir)));
  std::optional<RunConfig> base_cfg;
  if (!opt.baseline_run_dir.empty()) {
    base_cfg = load_run_config(config_path(opt.baseline_run_dir));
    check_same_tokens(cfg, *base_cfg, opt.baseline_run_dir);
  }
  const int64_t T = cfg.model.seq_len;
  const int windows = opt.windows > 0 ? opt.windows : cfg.train.eval_windows;
  const data::Corpus corpus = data::load_corpus(cfg.data, cfg.model.vocab_size);
  if (opt.threads > 0) torch::set_num_threads(opt.threads);
  // The DLCM reads each whole window (T + 1 tokens): its logits at inputs 0..T-1 are those of the
  // evaluator's T-token pass (the decoder is causal and leak-free), and the extra position gives
  // target T's boundary, so every target's concept is known.
  auto net = load_trained(opt.run_dir, cfg, T + 1);
  std::optional<model::LanguageModel> base;
  if (base_cfg) base = load_trained(opt.baseline_run_dir, *base_cfg);

  PositionLoss out;
  out.run_dir = opt.run_dir;
  out.baseline_run_dir = opt.baseline_run_dir;
  out.seq_len = T;
  out.windows = windows;
  out.max_length = opt.max_length;
  out.by_length.resize(opt.max_length);
  for (int L = 1; L <= opt.max_length; ++L) out.by_length[L - 1].resize(L);

  c10::InferenceMode inference;
  const int batch = std::max(1, cfg.train.batch_size);
  for (const auto& [domain, offsets] : validation_windows(corpus, T, windows)) {
    for (size_t i = 0; i < offsets.size(); i += batch) {
      const auto n = static_cast<int64_t>(std::min<size_t>(batch, offsets.size() - i));
      const auto w = window_batch(corpus, offsets, i, n, T);
      const auto targets = w.slice(1, 1);
      const auto o = net->forward(w);
      const auto nats = token_nats(o.logits.slice(1, 0, T), targets).contiguous();
      torch::Tensor base_nats;
      if (base) base_nats = token_nats((*base)->forward(w.slice(1, 0, T)).logits, targets).contiguous();
      const auto starts = o.boundaries.to(torch::kInt).contiguous();
      out.concepts += o.boundaries.slice(1, 0, T).sum().item<double>();
      for (int64_t b = 0; b < n; ++b) {
        const int* s = starts.data_ptr<int>() + b * (T + 1);
        add_window(out, std::vector<int>(s, s + T + 1), nats.data_ptr<double>() + b * T,
                   base ? base_nats.data_ptr<double>() + b * T : nullptr);
      }
    }
  }
  return out;
}

}  // namespace dlcm::train
