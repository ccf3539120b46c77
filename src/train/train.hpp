#pragma once
// `dlcm train`, behind a plain-C++ interface so the CLI never includes LibTorch (inspect.hpp and
// probes.hpp are the library's other entry points).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

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

}  // namespace dlcm::train
