#pragma once
// Tables of runs generated from known laws, for tests that must recover what generated them.
#include <cmath>
#include <cstdint>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "fitting/fit.hpp"
#include "fitting/laws.hpp"
#include "test_util.hpp"

namespace dlcm::fitting::test {

// Hoffmann et al. (2022)'s published Chinchilla fit.
inline constexpr ChinchillaParams kChinchilla{1.69, 406.4, 410.7, 0.34, 0.28};

inline constexpr DlcmParams kDlcm{/*E0*/ 1.5,  /*A_tok*/ 50,  /*t_tok*/ 2e6,  /*delta1*/ 0.3,
                                  /*A_con*/ 80, /*gamma*/ 0.2, /*t_con*/ 1e6,  /*delta2*/ 0.35,
                                  /*A_data*/ 300, /*t_data*/ 3e8, /*alpha*/ 0.3};

// Box-Muller on mt19937_64: both fully specified, so noisy tables are the same on every platform.
inline double gaussian(std::mt19937_64& rng) {
  const double u1 = (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
  const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

// An isoFLOP design: at each budget, `per_budget` model sizes spread over `decades` around
// N = sqrt(C/6)/10^shift, with D = C/(6N).
inline std::vector<Observation> isoflop_design(const std::vector<double>& budgets, int per_budget,
                                               double decades = 1.5, double shift = 0.5) {
  std::vector<Observation> obs;
  for (double C : budgets)
    for (int k = 0; k < per_budget; ++k) {
      const double centre = std::log10(std::sqrt(C / 6)) - shift;
      const double n = std::pow(10.0, centre - decades / 2 + decades * k / (per_budget - 1));
      Observation o;
      o.N = n;
      o.D = C / (6 * n);
      o.C = C;
      obs.push_back(o);
    }
  return obs;
}

// Every combination of N, P, R, D: 135 runs. Five token counts, since the data term and E0 have
// four parameters between them.
inline std::vector<Observation> dlcm_design() {
  std::vector<Observation> obs;
  for (double N : {1e7, 1e8, 1e9})
    for (double P : {0.3, 0.5, 0.7})
      for (double R : {2.0, 4.0, 8.0})
        for (double D : {1e9, 3e9, 1e10, 3e10, 1e11}) {
          Observation o;
          o.N = N;
          o.P = P;
          o.R = R;
          o.D = D;
          obs.push_back(o);
        }
  return obs;
}

// Sets each run's loss from the model, times exp(sigma·noise).
inline std::vector<Observation> with_losses(std::vector<Observation> obs, const Model& m,
                                            double sigma = 0, std::uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  for (auto& o : obs) o.loss = predict_loss(m, o) * std::exp(sigma * gaussian(rng));
  return obs;
}

inline const std::vector<double> kBudgets{1e17, 1e18, 1e19, 1e20, 1e21};

// 32 starts spread like Hoffmann's grid; the full 4500 are for the benchmark.
inline FitOptions small_grid() {
  FitOptions opt;
  opt.starts = cartesian_grid({{0, 1}, {0, 10}, {0, 10}, {0.5, 1}, {0.5, 1}});
  return opt;
}

inline double rel_error(double got, double want) { return std::abs(got - want) / std::abs(want); }

using dlcm::test::error_of;  // the message of what f throws ("" when nothing)

}  // namespace dlcm::fitting::test
