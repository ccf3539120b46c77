#pragma once
// Parameter counts and compute accounting (DESIGN §2), from config alone: the planner, the
// fitter and the model all use these, and a test checks them against a real forward pass.
#include <cstdint>

#include "core/config.hpp"

namespace dlcm {

// Parameters by μP group. `backbone_matrix` is the backbone (width d_concept); `joining` holds the
// matrices between the widths (W_up, cross-attention K/V); `vector` holds norms and the null concept.
struct ParamCounts {
  int64_t embedding = 0;
  int64_t token = 0;    // hidden matrices at d_token: encoder, decoder, boundary projections
  int64_t backbone_matrix = 0;  // hidden matrices of the backbone
  int64_t joining = 0;
  int64_t head = 0;
  int64_t vector = 0;   // norms, null concept
  int64_t total() const { return embedding + token + backbone_matrix + joining + head + vector; }
  // What every scaling law here calls N: all parameters but the input embedding and the LM head
  // (Kaplan et al. 2020). With a 256-token byte vocabulary those two are a quarter to a half of
  // a proxy's parameters, and they scale with d alone, which bends fitted exponents.
  int64_t non_embedding() const { return total() - embedding - head; }
  // The backbone (its matrices and norms): P = backbone / non_embedding().
  int64_t backbone = 0;
};

// Per-token multiply-accumulates of one forward pass, i.e. N_eff: C = 6 · N_eff · D.
struct FlopsPerToken {
  double token_linear = 0;    // encoder, decoder, boundary projections, cross-attention Q/O, LM head
  double concept_linear = 0;  // backbone, W_up, concept K/V projections, already divided by R
  double attention = 0;       // QK^T and AV, causal: average context T/2 (backbone: T/(2R))
  double n_eff() const { return token_linear + concept_linear + attention; }
  double train_flops() const { return 6.0 * n_eff(); }  // forward + backward, per token
  // Forward only, per token: what serving the model costs (2 FLOPs per multiply-accumulate). Price
  // it at the ratio of the thresholded boundaries inference uses (a run's `realised_ratio`).
  double inference_flops() const { return 2.0 * n_eff(); }
};

ParamCounts count_params(const ModelConfig& m, const BoundaryConfig& b);

// One run's accounting, the only one there is: the planner, the database, the fits, `recommend`
// and the report all take N, P and C from here (docs/model.md "Accounting").
struct RunAccounting {
  double N = 0;        // non-embedding parameters (ParamCounts::non_embedding)
  double N_total = 0;  // every parameter, embedding and LM head included
  double P = 0;        // the backbone's share of N (0 for the baseline)
  double R = 1;        // the compression ratio n_eff is priced at (1 for the baseline)
  double n_eff = 0;    // FlopsPerToken::n_eff at R
  double D = 0;        // training tokens
  double C = 0;        // training FLOPs, 6·n_eff·D
};
// `ratio`: the realised ratio a run trained at (planned: the target); ignored for the baseline.
RunAccounting account(const ModelConfig& m, const BoundaryConfig& b, double ratio, double tokens);
// `ratio` is the realised compression (tokens per concept); ignored for the baseline.
FlopsPerToken flops_per_token(const ModelConfig& m, const BoundaryConfig& b, double ratio);

}  // namespace dlcm
