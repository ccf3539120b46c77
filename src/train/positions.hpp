#pragma once
// Loss by position inside a concept (issue 18, analysis 1; docs/results.md "Analyses"): a trained
// DLCM's validation loss bucketed by where each predicted token sits in the concept the model put
// it in, optionally beside a baseline's loss on the same tokens bucketed by the same concepts.
// Plain C++ interface (the CLI never includes LibTorch); the result types are core's, so that the
// report, which may not include train/, reads them too.
#include <string>

#include "core/concept_positions.hpp"

namespace dlcm::train {

struct PositionOptions {
  std::string run_dir;           // a trained DLCM run
  std::string baseline_run_dir;  // optional: a run on the same corpus with the same seq_len
  int windows = 0;               // validation windows per domain; 0: the run's train.eval_windows
  int max_length = 8;            // concept lengths tabulated one by one
  int threads = 0;               // intra-op threads; 0: LibTorch's default
};

// Runs on the CPU over the evaluator's validation windows (validation_windows in train/eval.hpp).
// Throws one line naming the file and field: not a DLCM run, no checkpoint, baseline on another
// corpus or sequence length.
PositionLoss position_loss(const PositionOptions& opt);

}  // namespace dlcm::train
