#pragma once
// `dlcm inspect`: a trained model's view of some text. Plain C++ interface (the CLI never includes
// LibTorch).
#include <string>
#include <vector>

namespace dlcm::train {

struct Inspection {
  std::vector<int> tokens;
  std::vector<int> boundaries;                // 1 where a concept starts
  std::vector<double> next_token_logprob;     // entry i: log p(token i+1 | tokens 0..i)
  std::vector<double> boundary_prob;
};

// Runs a trained model (eval mode, thresholded boundaries) over byte-level text.
Inspection inspect(const std::string& run_dir, const std::string& text, int threads = 0);

}  // namespace dlcm::train
