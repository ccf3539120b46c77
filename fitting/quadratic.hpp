#pragma once
// One parabola by least squares, and its vertex with a standard error: an isoFLOP budget's loss
// against log x (isoflop.hpp) and a width's loss against log2 lr (lr_transfer.hpp) both need it.
#include <cmath>
#include <span>
#include <vector>

namespace dlcm::fitting {

// y = a·u² + b·u + c in u = x − mean(x): centring keeps the fit well conditioned (log N is ~20).
struct Quadratic {
  double mean = NAN;                 // of x
  double a = NAN, b = NAN, c = NAN;  // in u
  double vertex = NAN;               // in x: mean − b/(2a)
  double vertex_se = NAN;            // delta method on the fit's covariance; NaN with 3 points
  double extremum = NAN;             // c − b²/(4a): the parabola at its vertex
  double rss = NAN;
  std::vector<double> residuals;     // fitted − observed, per point
};

// All NaN with fewer than 3 points or fewer than 3 distinct x (no single parabola); the vertex and
// what follows from it NaN when a = 0.
Quadratic fit_quadratic(std::span<const double> x, std::span<const double> y);

}  // namespace dlcm::fitting
