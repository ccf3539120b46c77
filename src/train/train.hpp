#pragma once
// `dlcm train` and `dlcm inspect`, behind a plain-C++ interface so the CLI never includes LibTorch.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/build_info.hpp"
#include "core/config.hpp"
#include "core/parallel.hpp"
#include "storage/status.hpp"

namespace dlcm::train {

struct TrainOptions {
  std::string run_dir;
  int threads = 0;             // 0: all cores
  std::string device = "cpu";  // cpu | cuda
  bool quiet = false;          // no progress output (tests)
  int64_t stop_at_step = -1;   // checkpoint and stop as if signalled once this step is reached
  Parallel parallel;           // this process's rank in a data-parallel run (default: alone)
};

// How a training session ended: result.json's "status".
using RunStatus = storage::ResultStatus;

// Another process holds the run directory's lock (`dlcm train` exits 5): nothing was tried.
struct RunDirectoryBusy : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TrainSummary {
  RunStatus status = RunStatus::completed;
  int64_t steps = 0;
  double final_train_loss = 0, final_val_loss = 0;
  double realised_ratio = 1;        // validation, thresholded boundaries (inference)
  double train_realised_ratio = 1;  // training batches, last 20 steps
  std::vector<double> train_losses;  // one per step taken in this process
  std::vector<double> step_seconds;  // wall time of each of those steps (forward, backward, update)
  double flops_per_token = 0;        // 6 · N_eff at the realised training ratio
  double tokens_per_step = 0;
};

// Trains (or resumes from the run directory's checkpoint) and writes config.toml, log.txt,
// metrics.sqlite, checkpoint.pt and result.json into opt.run_dir. In a data-parallel run every
// rank calls this with the same run directory; rank 0 alone writes there, and every rank returns
// the same summary (global losses).
TrainSummary train(const RunConfig& cfg, const TrainOptions& opt);

struct Inspection {
  std::vector<int> tokens;
  std::vector<int> boundaries;                // 1 where a concept starts
  std::vector<double> next_token_logprob;     // entry i: log p(token i+1 | tokens 0..i)
  std::vector<double> boundary_prob;
};

// Runs a trained model (eval mode, thresholded boundaries) over byte-level text.
Inspection inspect(const std::string& run_dir, const std::string& text, int threads = 0);

// Training FLOP/s this machine achieves on the config's model: a few optimizer steps on random
// tokens after one warm-up step (the sweep planner's wall-time estimate).
double measure_train_flops_per_second(const RunConfig& cfg, int threads, int steps = 2);

// Which BLAS library LibTorch is calling, read from the process's mapped libraries.
std::string blas_in_use();
// This binary: compiled_build_info() with LibTorch's version, CUDA's availability and blas_in_use().
BuildInfo build_info();

const char* name(RunStatus s);

}  // namespace dlcm::train
