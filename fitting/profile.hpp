#pragma once
// Variable projection: Chinchilla's law is linear in E, A, B once alpha and beta are fixed, so their
// best values for fixed exponents solve a small nonnegative weighted least-squares problem and need
// no starts of their own. fit_law's profile search (FitOptions::search) maps that profile over a
// grid of (alpha, beta) and starts the ordinary local fit, on the exact objective, from its lowest
// local minima: a handful of starts where Hoffmann's grid runs 4500.
#include <span>
#include <vector>

#include "fitting/fit.hpp"

namespace dlcm::fitting {

// The profile f(alpha, beta) = min over E, A, B >= 0 of the objective on a grid of step kProfileStep
// over [0, kMaxExponent]², and chinchilla starts (fitting space) at its kProfileStarts lowest local
// minima (cells with no lower neighbour of 8), lowest first, each with its solved amplitudes.
inline constexpr double kProfileStep = 0.1;
inline constexpr int kProfileStarts = 8;
std::vector<std::vector<double>> profile_starts(std::span<const Observation> obs, const FitOptions& opt);

// The amplitudes c >= 0 that minimise sum_i Huber_delta(c·z_i / L_i - 1) (relative residuals, which
// equal the log residuals to first order), by iteratively reweighted nonnegative least squares from
// c (updated in place; all zeros: start from unweighted least squares). z holds the M features of
// run i at z[i·M + k]. Returns the exact objective, sum_i Huber_delta(log(c·z_i) - log L_i), or
// infinity where some prediction is not positive.
template <int M>
double solve_amplitudes(std::span<const double> z, std::span<const double> loss, double delta, double* c);

}  // namespace dlcm::fitting
