#pragma once
// `dlcm inspect`'s result: a trained model's view of some text (train/inspect.hpp computes it in
// dlcm-train). Plain types and their JSON, in core: the report reads them back from the trainer's
// output for its segmentation examples.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dlcm {

struct Inspection {
  std::vector<int> tokens;
  std::vector<int> boundaries;                // 1 where a concept starts
  std::vector<double> next_token_logprob;     // entry i: log p(token i+1 | tokens 0..i)
  std::vector<double> boundary_prob;
};

// `dlcm inspect --json`.
nlohmann::json to_json(const Inspection& r);
// The inverse of to_json. Throws naming the missing or mistyped field.
Inspection inspection_from_json(const nlohmann::json& j);

}  // namespace dlcm
