#pragma once
// Allocation under fixed FLOPs (DESIGN §4): minimise the fitted compression-aware law over
// (N, P, R, D) with 6·N_eff·D = C, snap the optimum to a concrete architecture, and ask how much
// compute a plain baseline needs for the same predicted loss. Plain C++ (no LibTorch).
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "fitting/laws.hpp"

namespace dlcm::reports {

// The continuous search's compute model, from DESIGN §2 without the small terms: token-side
// parameters run at the token rate, backbone parameters once per concept, so
// N_eff ≈ N·(1 − P) + N·P/R. It leaves out attention scores, the joining matrices' split and
// counts the (free) embedding lookup where the LM head costs the same; the snapped architecture's
// numbers come from core/flops, not from this.
double approx_n_eff(double N, double P, double R);

struct SearchSpace {
  std::vector<double> ratios = {1, 2, 4, 8};  // R choices; ignored when range is set
  std::optional<std::pair<double, double>> ratio_range;  // continuous R in [lo, hi]
  double n_min = 1e4;         // total parameters searched, log-uniformly
  double min_tokens = 1e3;    // N is capped so that D >= this
  double p_min = 0.02, p_max = 0.98;
};

struct Allocation {
  double N = 0, P = 0, R = 1, D = 0;
  double n_eff = 0;  // approx_n_eff(N, P, R); D = C / (6·n_eff)
  double loss = 0;
};

// The law's minimum at compute C: per R, a grid over (log N, P) refined by repeated zooming
// around the best point; over a ratio range, a scan then golden-section search in log R.
// Deterministic; a test compares it with a brute-force grid.
Allocation optimise(const fitting::DlcmParams& law, double C, const SearchSpace& space);

// A concrete DLCM: widths multiples of 64, heads of the proxy's head size where it divides 64.
struct Architecture {
  ModelConfig model;
  BoundaryConfig boundary;
  double N = 0, P = 0, R = 1;
  double flops_per_token = 0;  // 6·N_eff from core/flops at ratio R
  double D = 0;                // C / flops_per_token
  double loss = 0;             // the law at (N, P, R, D)
};

// Enumerates token stacks (d_token, encoder = decoder layers) and backbones (d_concept, layers),
// each with width/depth between 16 and 256, keeps the ones whose parameters are nearest the
// optimum's token-side and backbone shares, and returns the pair with the lowest predicted loss
// under the exact FLOPs at budget C. `proxy` gives vocabulary, context, FFN and head sizes.
Architecture snap(const fitting::DlcmParams& law, double C, const Allocation& opt, const ModelConfig& proxy,
                  const BoundaryConfig& proxy_boundary);

// The baseline's compute-optimal loss at C under its Chinchilla fit (C = 6·N·D).
double baseline_optimal_loss(const fitting::ChinchillaParams& law, double C);
// The compute the baseline needs for its compute-optimal loss to equal `loss` (bisection in
// log C); empty when the baseline cannot reach it (loss at or below its irreducible E).
std::optional<double> baseline_compute_for_loss(const fitting::ChinchillaParams& law, double loss, double C_hint);

}  // namespace dlcm::reports
