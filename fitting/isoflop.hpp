#pragma once
// Hoffmann et al. (2022) Approach 2: per compute budget, a parabola of loss in u = log x (x the swept
// variable, N by default) gives that budget's optimum; a power law x_opt = k·C^e then ties the optima
// to compute.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fitting/laws.hpp"
#include "fitting/observation.hpp"
#include "fitting/uncertainty.hpp"

namespace dlcm::fitting {

enum class Axis { N, D, P, R };
std::string_view axis_name(Axis x);
double axis_value(const Observation& o, Axis x);

struct IsoflopOptions {
  Axis x = Axis::N;
  double budget_tol = 0.05;  // see group_by_budget
  // Leave out a budget whose parabola's minimum lies outside its runs' range of x: an unbracketed
  // optimum is an extrapolation (DESIGN §9). false keeps such budgets.
  bool bracketed = true;
};

struct BudgetFit {
  double C = 0;  // geometric mean of its runs' compute
  std::size_t n_runs = 0;
  double x_opt = 0;         // argmin of the parabola
  double log_x_opt_se = 0;  // delta-method standard error of log x_opt; NaN with exactly 3 runs
  double loss_opt = 0;      // the parabola's minimum
  double curvature = 0;     // a in L = a·u² + b·u + c
  std::vector<std::size_t> rows;  // its runs, as indices into the fit's input
};

// A budget fit_isoflop left out, and why.
struct SkippedBudget {
  double C = 0;
  std::size_t n_runs = 0;
  std::string reason;
};

struct Isoflop {
  Axis x = Axis::N;
  std::vector<BudgetFit> budgets;  // smallest compute first
  std::vector<SkippedBudget> skipped;
  double exponent = 0, coefficient = 0;  // x_opt = coefficient · C^exponent
  double rss = 0;                   // sum of squared parabola residuals over all runs
  double r2 = 0;                    // of the parabolas (budgets kept), on the loss
  std::vector<double> residuals;    // parabola - observed loss, per run in input order; 0 if skipped
};

// Whether runs of one architecture family trace an isoFLOP curve: some budget holds >= 2 distinct
// N (at two, a curve short of its third size). A DLCM ratio at one size per budget beside a ratio
// that traces one is a probe (one model moved along R), not a curve to bracket. With min_sizes 3:
// whether some budget holds a parabola's worth of sizes.
bool isoflop_family(std::span<const Observation> obs, std::size_t min_sizes = 2);

// Leaves out, with a SkippedBudget, each budget with fewer than 3 runs, fewer than 3 distinct x,
// a parabola that opens downward (curvature <= 0) or, with opt.bracketed, a minimum outside its
// runs' range of x. Fits the power law on the rest; throws std::invalid_argument naming the skipped
// budgets when fewer than 2 remain.
Isoflop fit_isoflop(std::span<const Observation> obs, const IsoflopOptions& opt);

// The power law's optimum at compute C, and what follows from it at C when x is N or D, under
// C = 6·map.n_eff(N)·D: a, b (N_opt ∝ C^a, D_opt ∝ C^b), N_opt, D_opt, tokens_per_param.
std::vector<std::pair<std::string, double>> isoflop_derived(const Isoflop& f, double C,
                                                            const ComputeMap& map = {});

// Resamples runs within each budget the fit kept; intervals for exponent, coefficient, then
// isoflop_derived(·, c_ref, map). A budget a replicate cannot fit is left out of that replicate;
// a replicate left with fewer than 2 budgets fails.
Bootstrap bootstrap_isoflop(const Isoflop& fit, std::span<const Observation> obs,
                            const IsoflopOptions& opt, const BootstrapOptions& boot, double c_ref,
                            const ComputeMap& map = {});

// Fits the power law without the largest budget and predicts that budget's optimum (x_opt itself:
// no compute map is involved).
struct IsoflopHoldout {
  double budget = 0;
  double predicted = 0, fitted = 0;  // x_opt from the power law, and from the budget's own parabola
  double rel_error = 0;
};
IsoflopHoldout isoflop_holdout(const Isoflop& fit);

}  // namespace dlcm::fitting
