#pragma once
// The tiny model the training suites start from: d_token 32 and d_concept 64 with two heads each,
// one backbone layer. Each suite sets only what it tests on top (sequence length, steps, μP, mode).
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

}  // namespace dlcm::test
