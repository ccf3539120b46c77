#pragma once
// How far to trust a fit: bootstrap intervals, a held-out budget, R² and residuals.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fitting/fit.hpp"

namespace dlcm::fitting {

struct Interval {
  std::string name;
  double estimate = 0;  // from the fit to all runs
  double se = 0;        // standard deviation over replicates
  double low = 0, high = 0;  // percentile interval
};

struct BootstrapOptions {
  int replicates = 0;
  std::uint64_t seed = 0;
  double level = 0.95;
  // Each replicate refits from the best fit and from this many starts of the default grid, spread
  // over it (spread_starts), and keeps the best: a law the data cannot pin then lands somewhere else
  // on its ridge in each replicate, where refining the best fit alone stays put. 0: the best fit only.
  int starts = 12;
};

struct Bootstrap {
  std::vector<Interval> intervals;
  int replicates = 0;
  int failed = 0;  // replicates whose refit did not converge; left out of the intervals
};

// k starts of `grid` spread over it: farthest-point sampling in coordinates scaled to the grid's
// range, each pick the start farthest from `from` and from the picks before it (ties: earlier start).
std::vector<std::vector<double>> spread_starts(const std::vector<std::vector<double>>& grid,
                                               const std::vector<double>& from, int k);

// Resamples runs with replacement and refits replicate r from the best fit and boot.starts spread
// starts of the fit's grid (opt.starts, or the default grid of the law for all runs), keeping the
// best: models[r] is that fit, or empty when its best start did not converge. Replicate i draws from
// its own stream seeded by (seed, i), so results do not depend on the thread count. Callers that need
// more than parameter intervals (the allocation search re-optimises each replicate) start here.
std::vector<std::optional<Model>> bootstrap_models(const Fit& fit, std::span<const Observation> obs,
                                                   const FitOptions& opt, const BootstrapOptions& boot);

// Intervals over the replicates of bootstrap_models: the natural parameters, then
// derived_quantities(model, c_ref, map), each replicate's derived values from its own parameters.
Bootstrap bootstrap_fit(const Fit& fit, std::span<const Observation> obs, const FitOptions& opt,
                        const BootstrapOptions& boot, double c_ref, const ComputeMap& map = {});

// Indices of n runs drawn with replacement for replicate `replicate` of stream `seed`.
std::vector<std::size_t> resample_indices(std::size_t n, std::uint64_t seed, int replicate);
// As above, but within each group (runs of one compute budget stay in their budget).
std::vector<std::size_t> resample_within(const std::vector<std::vector<std::size_t>>& groups,
                                         std::uint64_t seed, int replicate);

// Estimates plus per-replicate samples (samples[r][k] for quantity k) to intervals.
std::vector<Interval> summarize(const std::vector<std::string>& names,
                                const std::vector<double>& estimates,
                                const std::vector<std::vector<double>>& samples, double level);

struct HeldOutRun {
  int line = 0;
  double loss = 0, predicted = 0, rel_error = 0;  // rel_error = |predicted - loss| / loss
};

struct Holdout {
  double budget = 0;  // compute of the held-out (largest) budget
  std::size_t n_train = 0;
  std::vector<HeldOutRun> runs;
  double mean_rel_error = 0, max_rel_error = 0;
};

// Refits with every start on all budgets but the largest, then predicts the largest.
Holdout holdout_largest_budget(Law law, std::span<const Observation> obs, const FitOptions& opt,
                               double budget_tol = 0.05);

// 1 - SS_res/SS_tot, on the loss itself (not its log).
double r_squared(std::span<const double> observed, std::span<const double> predicted);
// log L_predicted - log L_observed per run, in input order.
std::vector<double> log_residuals(const Model& m, std::span<const Observation> obs);
double r_squared(const Model& m, std::span<const Observation> obs);

}  // namespace dlcm::fitting
