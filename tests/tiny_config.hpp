#pragma once
// The tiny model the training suites start from: d_token 32 and d_concept 64 with two heads each,
// one backbone layer. Each suite sets only what it tests on top (sequence length, steps, μP, mode).
#include <filesystem>
#include <string>

#include "core/config.hpp"

namespace dlcm::test {

inline RunConfig tiny_config(Arch arch = Arch::dlcm) {
  RunConfig c;
  c.model.arch = arch;
  c.model.d_token = 32;
  c.model.n_heads_token = 2;
  c.model.d_concept = 64;
  c.model.n_heads_concept = 2;
  c.model.concept_layers = 1;
  return c;
}

// The [base] tables of the tiny sweep specs the report suites train: T 64, one head each, batch 4,
// two validation windows, the corpus at `corpus`. A spec's text ends with it.
inline std::string tiny_sweep_base(const std::filesystem::path& corpus) {
  return "[base.model]\nseq_len = 64\nn_heads_token = 1\nn_heads_concept = 1\n"
         "[base.train]\nbatch_size = 4\neval_windows = 2\n"
         "[base.data]\ndir = \"" + corpus.string() + "\"\n";
}

}  // namespace dlcm::test
