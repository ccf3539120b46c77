#pragma once
// Variable projection: both laws are linear in their amplitudes once the rest is fixed (Chinchilla's
// E, A, B given alpha, beta; dlcm's E0, A_tok, A_con, A_data given delta1, gamma, delta2, alpha and
// the offsets), so the best amplitudes for fixed nonlinear parameters solve a small nonnegative
// weighted least-squares problem and need no starts of their own. fit_law's profile search
// (FitOptions::search) maps that profile over a grid of the nonlinear parameters and starts the
// ordinary local fit, on the exact objective, from its lowest local minima: a handful of starts
// where the grids run 4500 (chinchilla) or 1296 (dlcm).
#include <span>
#include <vector>

#include "fitting/fit.hpp"

namespace dlcm::fitting {

// The profile f(alpha, beta) = min over E, A, B >= 0 of the objective on a grid of step kProfileStep
// over [0, kMaxExponent]², and chinchilla starts (fitting space) at its kProfileStarts lowest local
// minima (cells with no lower neighbour of 8; one per plateau), lowest first, each with its solved
// amplitudes.
inline constexpr double kProfileStep = 0.1;
inline constexpr int kProfileStarts = 8;
std::vector<std::vector<double>> profile_starts(std::span<const Observation> obs, const FitOptions& opt);

// dlcm with offsets fixed at 0: the profile over (delta1, gamma, delta2, alpha) on `points` values
// per axis (exponents over [0, kMaxExponent], gamma over [-kMaxExponent, kMaxExponent], bounds
// included), and starts (fitting space, offset entries 0) at its k lowest local minima (no lower
// neighbour of 80; one per plateau), lowest first, each with its solved amplitudes.
inline constexpr int kDlcmProfilePoints = 13;  // steps of 0.25 (exponents) and 0.5 (gamma)
inline constexpr int kDlcmProfileStarts = 8;
// Reweighted solves per cell of the dlcm scan: enough to rank cells (each is scored by the exact
// objective; the polish refits everything), a third of the scan's time at 50 (fitting/README.md).
inline constexpr int kDlcmProfileReweights = 6;
std::vector<std::vector<double>> dlcm_profile_starts(std::span<const Observation> obs, const FitOptions& opt,
                                                     int points = kDlcmProfilePoints, int k = kDlcmProfileStarts);

// dlcm with offsets fixed at 0: the polish cannot switch on a term it starts with switched off (its
// amplitude ~0, so its exponents have no gradient), which a coarse profile does where the term's
// gain lies between its cells. For each of `ends` (fitting space, as the zero-offset fits end) and
// each term whose share of L is below kSwitchedOffShare in every run, the profile over that term's
// own nonlinear parameters (delta1; gamma and delta2; alpha) on `points` values per axis, the rest
// held at the end's values: a start at its lowest cell where that is below the end's objective.
inline constexpr double kSwitchedOffShare = 1e-3;
std::vector<std::vector<double>> dlcm_switch_on_starts(std::span<const Observation> obs, const FitOptions& opt,
                                                       const std::vector<std::vector<double>>& ends,
                                                       int points = kDlcmProfilePoints);

// dlcm with offsets: from each of `ends` (fitting space, offsets fixed at 0, as the zero-offset
// fits end), every combination of kDlcmOffsetValues candidate values per offset (1e-12 and 0.1 of
// the smallest value it offsets, the geometric mean of the smallest and largest, the largest, 10x
// the largest), with its exponents and gamma kept and its amplitudes solved. Starts with offsets:
// each end as it is with offsets of 1e-12 of the smallest value (~0), then the k combinations of
// lowest objective, lowest first.
inline constexpr int kDlcmOffsetValues = 5;
inline constexpr int kDlcmOffsetStarts = 8;
std::vector<std::vector<double>> dlcm_offset_starts(std::span<const Observation> obs, const FitOptions& opt,
                                                    const std::vector<std::vector<double>>& ends,
                                                    int k = kDlcmOffsetStarts);

// The amplitudes c >= 0 that minimise sum_i Huber_delta(c·z_i / L_i - 1) (relative residuals, which
// equal the log residuals to first order), by iteratively reweighted nonnegative least squares from
// c (updated in place; all zeros: start from unweighted least squares). z holds the M features of
// run i at z[i·M + k]. Returns the exact objective, sum_i Huber_delta(log(c·z_i) - log L_i), or
// infinity where some prediction is not positive. At most `iterations` reweighted solves.
template <int M>
double solve_amplitudes(std::span<const double> z, std::span<const double> loss, double delta, double* c,
                        int iterations = 50);

}  // namespace dlcm::fitting
