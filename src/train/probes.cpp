#include "train/probes.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <fstream>
#include <random>

#include "core/flops.hpp"
#include "model/model.hpp"
#include "train/optim.hpp"
#include "train/step.hpp"

namespace dlcm::train {

double measure_train_flops_per_second(const RunConfig& cfg, int threads, int steps) {
  if (threads > 0) torch::set_num_threads(threads);
  torch::manual_seed(cfg.train.seed);
  model::LanguageModel net(cfg.model, cfg.boundary);
  model::init_parameters(net);
  net->train();
  AdamW adam = make_adamw(model::param_infos(net), cfg.model, cfg.train);
  std::vector<uint16_t> tokens(static_cast<size_t>(cfg.model.seq_len) * 64);
  std::mt19937_64 rng(1);
  for (auto& t : tokens) t = static_cast<uint16_t>(rng() % static_cast<uint64_t>(cfg.model.vocab_size));
  Batcher data{&tokens, cfg.model.seq_len, std::mt19937_64(2)};
  double ratio_sum = 0, seconds = 0;
  for (int i = 0; i <= steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    zero_grad(adam);
    const auto st = forward_backward(net, adam, data, cfg, torch::kCPU);
    adamw_step(adam, 1.0);  // constant at the peak rates
    if (i > 0) {
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ratio_sum += st.ratio;
    }
  }
  const double ratio = cfg.model.arch == Arch::dlcm ? ratio_sum / steps : 1.0;
  const double tokens_per_step = static_cast<double>(cfg.train.batch_size) * cfg.model.seq_len;
  return flops_per_token(cfg.model, cfg.boundary, ratio).train_flops() * tokens_per_step * steps / seconds;
}

std::string blas_in_use() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    const auto pos = line.find('/');
    if (pos == std::string::npos) continue;
    const std::string path = line.substr(pos);
    if ((path.find("blas") != std::string::npos || path.find("mkl") != std::string::npos) &&
        found.find(path) == std::string::npos)
      found += (found.empty() ? "" : ", ") + path;
  }
  if (found.empty()) return "none loaded";
  // OpenBLAS picks its kernels when it loads, from the CPU or OPENBLAS_CORETYPE: a run's numbers and
  // speed depend on which, so the build block names them.
  using CoreName = char* (*)();
  if (auto core_name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename")))
    found += fmt::format(" (kernels: {})", core_name());
  return found;
}

BuildInfo build_info() {
  BuildInfo b = compiled_build_info();
#ifdef TORCH_VERSION
  b.torch = TORCH_VERSION;
#else
  b.torch = fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
#endif
  b.cuda = torch::cuda::is_available();
  b.blas = blas_in_use();
  return b;
}

}  // namespace dlcm::train
