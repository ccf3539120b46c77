#pragma once
// Hoffmann et al. (2022) Approach 2: per compute budget, a parabola of loss in u = log x (x the swept
// variable, N by default) gives that budget's optimum; a power law x_opt = k·C^e then ties the optima
// to compute.
#include <span>
#include <string_view>
#include <vector>

#include "fitting/observation.hpp"
#include "fitting/uncertainty.hpp"

namespace dlcm::fitting {

enum class Axis { N, D, P, R };
std::string_view axis_name(Axis x);
double axis_value(const Observation& o, Axis x);

struct IsoflopOptions {
  Axis x = Axis::N;
  double budget_tol = 0.05;  // see group_by_budget
};

struct BudgetFit {
  double C = 0;  // geometric mean of its runs' compute
  std::size_t n_runs = 0;
  double x_opt = 0;         // argmin of the parabola
  double log_x_opt_se = 0;  // delta-method standard error of log x_opt; NaN with exactly 3 runs
  double loss_opt = 0;      // the parabola's minimum
  double curvature = 0;     // a in L = a·u² + b·u + c
};

struct Isoflop {
  Axis x = Axis::N;
  std::vector<BudgetFit> budgets;  // smallest compute first
  double exponent = 0, coefficient = 0;  // x_opt = coefficient · C^exponent
  double rss = 0;                   // sum of squared parabola residuals over all runs
  double r2 = 0;                    // of the parabolas, on the loss
  std::vector<double> residuals;    // parabola - observed loss, per run in input order
};

// Throws std::invalid_argument naming the budget when one has fewer than 3 runs or its parabola has
// no minimum, and when there are fewer than 2 budgets.
Isoflop fit_isoflop(std::span<const Observation> obs, const IsoflopOptions& opt);

// The power law's optimum at compute C, and what follows from it at C when x is N or D:
// a, b (N_opt ∝ C^a, D_opt ∝ C^b under C = 6ND), N_opt, D_opt, tokens_per_param.
std::vector<std::pair<std::string, double>> isoflop_derived(const Isoflop& f, double C);

// Resamples runs within each budget; intervals for exponent, coefficient, then isoflop_derived.
Bootstrap bootstrap_isoflop(const Isoflop& fit, std::span<const Observation> obs,
                            const IsoflopOptions& opt, const BootstrapOptions& boot, double c_ref);

// Fits the power law without the largest budget and predicts that budget's optimum.
struct IsoflopHoldout {
  double budget = 0;
  double predicted = 0, fitted = 0;  // x_opt from the power law, and from the budget's own parabola
  double rel_error = 0;
};
IsoflopHoldout isoflop_holdout(const Isoflop& fit);

}  // namespace dlcm::fitting
