#include "train/checkpoint.hpp"

#include <fmt/format.h>

#include <mutex>
#include <sstream>

#include "core/files.hpp"

namespace fs = std::filesystem;

namespace dlcm::train {
namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// The archive inside a sealed checkpoint; throws naming the file when it is torn or corrupt.
torch::serialize::InputArchive open_checkpoint(const fs::path& path) {
  std::istringstream payload(unseal(read_file(path.string(), "checkpoint"), path.string()));
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(payload);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: unreadable checkpoint: {}", path.string(), first_line(e.what())));
  }
  return ar;
}

void read_parameters(torch::serialize::InputArchive& ar, model::LanguageModel& net) {
  for (auto& p : net->named_parameters()) {
    torch::Tensor t;
    ar.read("model/" + p.key(), t);
    p.value().copy_(t);
  }
}

void load_checkpoint(const fs::path& path, model::LanguageModel& net, AdamW& opt, Batcher& data, Progress& pr) {
  auto ar = open_checkpoint(path);
  try {
    torch::NoGradGuard no_grad;
    read_parameters(ar, net);
    for (auto& b : net->named_buffers()) {
      torch::Tensor t;
      ar.read("buffer/" + b.key(), t);
      b.value().copy_(t);
    }
    for (size_t g = 0; g < opt.groups.size(); ++g)
      for (size_t i = 0; i < opt.groups[g].params.size(); ++i) {
        torch::Tensor m, v;
        ar.read(fmt::format("opt/{}/{}/m", g, i), m);
        ar.read(fmt::format("opt/{}/{}/v", g, i), v);
        opt.groups[g].exp_avg[i].copy_(m);
        opt.groups[g].exp_avg_sq[i].copy_(v);
      }
    c10::IValue v;
    ar.read("opt_t", v), opt.t = v.toInt();
    ar.read("step", v), pr.step = v.toInt();
    ar.read("tokens", v), pr.tokens = v.toDouble();
    ar.read("inv_ratio_sum", v), pr.inv_ratio_sum = v.toDouble();
    ar.read("ratio_count", v), pr.ratio_count = v.toDouble();
    torch::Tensor recent;
    ar.read("recent_losses", recent);
    pr.recent_losses.assign(recent.data_ptr<double>(), recent.data_ptr<double>() + recent.numel());
    ar.read("recent_ratios", recent);
    pr.recent_ratios.assign(recent.data_ptr<double>(), recent.data_ptr<double>() + recent.numel());
    ar.read("rng_data", v);
    std::istringstream rng(v.toStringRef());
    rng >> data.rng;
    torch::Tensor gen_state;
    ar.read("rng_torch", gen_state);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(gen_state);
  } catch (const c10::Error& e) {
    throw std::runtime_error(fmt::format("{}: checkpoint does not match this run: {}", path.string(),
                                         first_line(e.what_without_backtrace())));
  }
}

// Loads the newest good checkpoint of the run directory with `load` (restore_checkpoint's rules).
std::optional<fs::path> load_newest_good(const fs::path& dir, const std::function<void(const fs::path&)>& load,
                                         const Warn& warn) {
  std::vector<std::string> bad;
  for (const char* name : kCheckpointFiles) {
    const fs::path path = dir / name;
    if (!fs::exists(path)) continue;
    try {
      load(path);
    } catch (const std::exception& e) {
      bad.push_back(first_line(e.what()));
      continue;
    }
    for (const auto& b : bad) warn(fmt::format("warning: {}; falling back to {}", b, path.string()));
    return path;
  }
  if (bad.empty()) return std::nullopt;
  std::string why;
  for (const auto& b : bad) why += (why.empty() ? "" : "; ") + b;
  throw std::runtime_error(fmt::format("{} (no good checkpoint left to resume from; move the run directory "
                                       "aside to start over)", why));
}

}  // namespace

void save_checkpoint(const fs::path& dir, model::LanguageModel& net, const AdamW& opt, const Batcher& data,
                     const Progress& pr) {
  torch::serialize::OutputArchive ar;
  for (auto& p : net->named_parameters()) ar.write("model/" + p.key(), p.value());
  for (auto& b : net->named_buffers()) ar.write("buffer/" + b.key(), b.value());
  for (size_t g = 0; g < opt.groups.size(); ++g)
    for (size_t i = 0; i < opt.groups[g].params.size(); ++i) {
      ar.write(fmt::format("opt/{}/{}/m", g, i), opt.groups[g].exp_avg[i]);
      ar.write(fmt::format("opt/{}/{}/v", g, i), opt.groups[g].exp_avg_sq[i]);
    }
  std::ostringstream rng;
  rng << data.rng;
  auto gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor gen_state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen_state = gen.get_state();
  }
  ar.write("opt_t", c10::IValue(opt.t));
  ar.write("step", c10::IValue(pr.step));
  ar.write("tokens", c10::IValue(pr.tokens));
  ar.write("inv_ratio_sum", c10::IValue(pr.inv_ratio_sum));
  ar.write("ratio_count", c10::IValue(pr.ratio_count));
  ar.write("recent_losses", torch::tensor(pr.recent_losses, torch::kDouble));
  ar.write("recent_ratios", torch::tensor(pr.recent_ratios, torch::kDouble));
  ar.write("rng_data", c10::IValue(rng.str()));
  ar.write("rng_torch", gen_state);
  std::ostringstream bytes;
  ar.save_to(bytes);
  const fs::path newest = dir / kCheckpointFiles[0], fresh = dir / kCheckpointFiles[1], prev = dir / kCheckpointFiles[2];
  write_file_atomic(fresh.string(), seal(bytes.str()));
  if (fs::exists(newest)) fs::rename(newest, prev);
  fs::rename(fresh, newest);
  sync_directory(dir.string());
}

std::optional<fs::path> restore_checkpoint(const fs::path& dir, model::LanguageModel& net, AdamW& opt, Batcher& data,
                                           Progress& pr, const Warn& warn) {
  return load_newest_good(dir, [&](const fs::path& path) { load_checkpoint(path, net, opt, data, pr); }, warn);
}

std::optional<fs::path> restore_parameters(const fs::path& dir, model::LanguageModel& net, const Warn& warn) {
  return load_newest_good(
      dir,
      [&](const fs::path& path) {
        auto ar = open_checkpoint(path);
        torch::NoGradGuard no_grad;
        read_parameters(ar, net);
      },
      warn);
}

model::LanguageModel load_trained(const fs::path& dir, const RunConfig& cfg, int64_t max_len) {
  ModelConfig m = cfg.model;
  if (max_len > 0) m.seq_len = max_len;
  model::LanguageModel net(m, cfg.boundary);
  // The same newest-good-first fallback as resuming: a reader reads whatever a resume would.
  if (!restore_parameters(dir, net, [](const std::string& warning) { fmt::print(stderr, "{}\n", warning); }))
    throw std::runtime_error(fmt::format("{}: missing checkpoint", (dir / kCheckpointFiles[0]).string()));
  net->eval();
  return net;
}

}  // namespace dlcm::train
