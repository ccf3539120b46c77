#pragma once
// Allocation under fixed FLOPs (DESIGN §4): minimise the fitted compression-aware law over
// (N, P, R, D) with 6·N_eff·D = C, snap the optimum to a concrete architecture, and ask how much
// compute a plain baseline needs for the same predicted loss. Plain C++ (no LibTorch).
#include <optional>
#include <string>
#include <span>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "fitting/laws.hpp"

namespace dlcm::reports {

// The continuous search's compute model, from DESIGN §2 without the small terms: token-side
// parameters run at the token rate, backbone parameters once per concept, so
// N_eff ≈ N·(1 − P) + N·P/R. It leaves out the LM head and attention scores and runs the joining
// matrices at token rate, so `allocate` multiplies it by a correction measured with core/flops at
// the snapped architecture, until the two agree there.
double approx_n_eff(double N, double P, double R);

struct SearchSpace {
  std::vector<double> ratios = {1, 2, 4, 8};  // R choices; ignored when range is set
  std::optional<std::pair<double, double>> ratio_range;  // continuous R in [lo, hi]
  double n_min = 1e4;         // non-embedding parameters searched, log-uniformly
  double min_tokens = 1e3;    // N is capped so that D >= this
  double p_min = 0.02, p_max = 0.98;
};

struct Allocation {
  double N = 0, P = 0, R = 1, D = 0;
  double n_eff = 0;  // approx_n_eff(N, P, R) × the correction; D = C / (6·n_eff)
  double loss = 0;
};

// A factor on approx_n_eff per ratio (core/flops N_eff over the approximation, measured at a snapped
// architecture), interpolated in log R between the ratios measured; none: 1.
struct NeffCorrection {
  std::vector<std::pair<double, double>> points;  // (R, factor), R increasing
  double at(double R) const;
};

// The ratios the search evaluates one by one: the choices, or 17 log-spaced points of the range
// (which golden-section search then refines between the best one's neighbours).
std::vector<double> scanned_ratios(const SearchSpace& space);

// The law's minimum at compute C: per R, a grid over (log N, P) refined by repeated zooming
// around the best point; over a ratio range, a scan then golden-section search in log R.
// Deterministic; a test compares it with brute force.
Allocation optimise(const fitting::DlcmParams& law, double C, const SearchSpace& space,
                    const NeffCorrection& correction = {});

// The search bounds an optimum sits on: "N" (the smallest N searched), "D" (the fewest tokens, i.e.
// the largest N), "P" (either share bound), "R" (the largest ratio searched, or the smallest when it is above 1:
// R = 1, no compression, is a real end, not a search limit). An
// optimum on a bound is the law saying "further than you looked", not an answer.
std::vector<std::string> bounds_hit(const Allocation& a, const SearchSpace& space, double C);

// A concrete DLCM: widths multiples of 64, heads of the proxy's head size where it divides 64.
struct Architecture {
  ModelConfig model;
  BoundaryConfig boundary;
  double N = 0, P = 0, R = 1;  // non-embedding N and the backbone's share (core/flops account)
  double n_eff = 0;            // core/flops at ratio R
  double flops_per_token = 0;  // 6·n_eff
  double D = 0;                // C / flops_per_token
  double loss = 0;             // the law at (N, P, R, D)
};

// Enumerates token stacks (d_token, encoder = decoder layers) and backbones (d_concept, layers),
// each with width/depth between 16 and 256, keeps the ones whose parameters are nearest the
// optimum's token-side and backbone shares, and returns the pair with the lowest predicted loss
// under the exact FLOPs at budget C. `proxy` gives vocabulary, context, FFN and head sizes.
Architecture snap(const fitting::DlcmParams& law, double C, const Allocation& opt, const ModelConfig& proxy,
                  const BoundaryConfig& proxy_boundary);

// The exact-accounting allocation. Per ratio: optimise, snap, set that ratio's correction to the
// snapped architecture's core/flops N_eff over the approximation, re-optimise, until the snapped
// architecture stops changing (at most 6 rounds). Then the optimum over every ratio under those
// corrections, and its snapped architecture.
struct Allocated {
  Allocation best;            // the continuous optimum under the corrections
  Architecture architecture;  // snapped, priced with core/flops
  NeffCorrection n_eff_correction;
  int rounds = 0;             // the most any ratio took
  double n_eff_error = 0;     // corrected approximation / core/flops at the architecture, minus 1
};
Allocated allocate(const fitting::DlcmParams& law, double C, const SearchSpace& space, const ModelConfig& proxy,
                   const BoundaryConfig& proxy_boundary);

// The baseline's compute-optimal loss at C under its Chinchilla fit, compute priced as the runs
// were (C = 6·N_eff·D, with the baseline family's N → N_eff map).
double baseline_optimal_loss(const fitting::ChinchillaParams& law, double C, const fitting::ComputeMap& map = {});
// The compute the baseline needs for its compute-optimal loss to equal `loss` (bisection in
// log C); empty when the baseline cannot reach it (loss at or below its irreducible E).
std::optional<double> baseline_compute_for_loss(const fitting::ChinchillaParams& law, double loss, double C_hint,
                                                const fitting::ComputeMap& map = {});

}  // namespace dlcm::reports
