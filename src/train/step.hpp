#pragma once
// One optimizer step's forward and backward over a global batch, single-process or data-parallel:
// used by train() and pinned by the tests (slices on two ranks == the whole batch on one).
#include <torch/torch.h>

#include <random>
#include <vector>

#include "core/config.hpp"
#include "model/model.hpp"
#include "train/comm.hpp"
#include "train/optim.hpp"

namespace dlcm::train {

// Random training windows [B, T+1]; the generator's state is the data position.
struct Batcher {
  const std::vector<uint16_t>* tokens;
  int64_t T;
  std::mt19937_64 rng;

  torch::Tensor next(int64_t B) {
    auto out = torch::empty({B, T + 1}, torch::kLong);
    auto acc = out.accessor<int64_t, 2>();
    const uint64_t range = tokens->size() - static_cast<uint64_t>(T);
    for (int64_t b = 0; b < B; ++b) {
      const uint64_t off = rng() % range;
      for (int64_t t = 0; t <= T; ++t) acc[b][t] = (*tokens)[off + t];
    }
    return out;
  }
};

struct StepStats {
  double loss = 0, aux = 0, ratio = 1;  // global means over the whole batch, identical on every rank
};

// Every rank draws each whole micro-batch (the same windows a single process draws) and runs
// its contiguous slice of it; afterwards every parameter's gradient is the global-batch gradient
// on every rank. `gen` samples boundaries (undefined: the default generator).
StepStats forward_backward(model::LanguageModel& net, AdamW& opt, Batcher& data, const RunConfig& cfg,
                           torch::Device dev, const Comm& comm = {}, const at::Generator& gen = {});

}  // namespace dlcm::train
