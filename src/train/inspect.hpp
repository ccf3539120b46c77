#pragma once
// `dlcm inspect`: a trained model's view of some text. Plain C++ interface (the CLI never includes
// LibTorch); the result type is core's, so that the report reads it back from the trainer's JSON.
#include <string>

#include "core/inspection.hpp"

namespace dlcm::train {

// Runs a trained model (eval mode, thresholded boundaries) over byte-level text.
Inspection inspect(const std::string& run_dir, const std::string& text, int threads = 0);

}  // namespace dlcm::train
