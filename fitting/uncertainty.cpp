#include "fitting/uncertainty.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include "fitting/parallel.hpp"

namespace dlcm::fitting {
namespace {

// Linear interpolation between order statistics (numpy's default percentile).
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

std::mt19937_64 replicate_rng(std::uint64_t seed, int replicate) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(replicate)};
  return std::mt19937_64(seq);
}

}  // namespace

// mt19937_64 and seed_seq are fully specified by the standard (distributions are not), so a seed
// gives the same resamples everywhere; the modulo bias is below 1e-15 for any table of runs.
std::vector<std::size_t> resample_indices(std::size_t n, std::uint64_t seed, int replicate) {
  auto rng = replicate_rng(seed, replicate);
  std::vector<std::size_t> rows(n);
  for (auto& r : rows) r = rng() % n;
  return rows;
}

std::vector<std::size_t> resample_within(const std::vector<std::vector<std::size_t>>& groups,
                                         std::uint64_t seed, int replicate) {
  auto rng = replicate_rng(seed, replicate);
  std::vector<std::size_t> rows;
  for (const auto& g : groups)
    for (std::size_t k = 0; k < g.size(); ++k) rows.push_back(g[rng() % g.size()]);
  return rows;
}

std::vector<Interval> summarize(const std::vector<std::string>& names,
                                const std::vector<double>& estimates,
                                const std::vector<std::vector<double>>& samples, double level) {
  std::vector<Interval> out;
  for (std::size_t k = 0; k < names.size(); ++k) {
    Interval iv{names[k], estimates[k], NAN, NAN, NAN};
    std::vector<double> v;
    for (const auto& s : samples) v.push_back(s[k]);
    if (v.size() >= 2) {
      double mean = 0, ss = 0;
      for (double x : v) mean += x / static_cast<double>(v.size());
      for (double x : v) ss += (x - mean) * (x - mean);
      iv.se = std::sqrt(ss / static_cast<double>(v.size() - 1));
      iv.low = quantile(v, (1 - level) / 2);
      iv.high = quantile(v, 1 - (1 - level) / 2);
    }
    out.push_back(iv);
  }
  return out;
}

std::vector<std::vector<double>> spread_starts(const std::vector<std::vector<double>>& grid,
                                               const std::vector<double>& from, int k) {
  if (grid.empty() || k <= 0) return {};
  const std::size_t dim = from.size();
  std::vector<double> lo(dim, INFINITY), hi(dim, -INFINITY);
  for (const auto& s : grid)
    for (std::size_t d = 0; d < dim; ++d) {
      lo[d] = std::min(lo[d], s[d]);
      hi[d] = std::max(hi[d], s[d]);
    }
  auto distance = [&](const std::vector<double>& a, const std::vector<double>& b) {
    double sum = 0;
    for (std::size_t d = 0; d < dim; ++d)
      if (hi[d] > lo[d]) sum += std::pow((a[d] - b[d]) / (hi[d] - lo[d]), 2);
    return sum;
  };
  std::vector<double> nearest(grid.size());  // squared distance to the closest pick so far
  for (std::size_t i = 0; i < grid.size(); ++i) nearest[i] = distance(grid[i], from);
  std::vector<std::vector<double>> picks;
  while (static_cast<int>(picks.size()) < k && picks.size() < grid.size()) {
    const std::size_t far = std::max_element(nearest.begin(), nearest.end()) - nearest.begin();
    picks.push_back(grid[far]);
    for (std::size_t i = 0; i < grid.size(); ++i) nearest[i] = std::min(nearest[i], distance(grid[i], grid[far]));
  }
  return picks;
}

std::vector<std::optional<Model>> bootstrap_models(const Fit& fit, std::span<const Observation> obs,
                                                   const FitOptions& opt, const BootstrapOptions& boot) {
  // The replicates' starts: the best fit, then spread starts of the grid the fit used.
  FitOptions one = opt;
  one.threads = 1;  // replicates run in parallel, each one's starts in turn
  one.offsets = fit.model.offsets;
  one.starts = {fit.model.theta};
  const auto grid = opt.starts.empty() ? default_starts(fit.model.law, obs) : opt.starts;
  for (auto& s : spread_starts(grid, fit.model.theta, boot.starts)) one.starts.push_back(std::move(s));

  std::vector<std::optional<Model>> models(boot.replicates);
  parallel_for(boot.replicates, opt.threads, [&] {
    return [&](int r) {
      const auto sample = select(obs, resample_indices(obs.size(), boot.seed, r));
      try {
        Fit f = fit_law(fit.model.law, sample, one);
        if (converged(f.outcomes[f.best].termination)) models[r] = std::move(f.model);
      } catch (const std::runtime_error&) {  // no start reached a finite objective
      }
    };
  });
  return models;
}

Bootstrap bootstrap_fit(const Fit& fit, std::span<const Observation> obs, const FitOptions& opt,
                        const BootstrapOptions& boot, double c_ref, const ComputeMap& map) {
  auto values = [&](const Model& m) {
    auto v = natural_params(m);
    for (const auto& [name, x] : derived_quantities(m, c_ref, map)) v.push_back(x);
    return v;
  };
  const auto params = param_names(fit.model.law);
  std::vector<std::string> names(params.begin(), params.end());
  for (const auto& [name, x] : derived_quantities(fit.model, c_ref, map)) names.push_back(name);

  Bootstrap b;
  b.replicates = boot.replicates;
  std::vector<std::vector<double>> good;
  for (const auto& m : bootstrap_models(fit, obs, opt, boot)) {
    auto v = m ? values(*m) : std::vector<double>{};
    if (m && std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); }))
      good.push_back(std::move(v));
    else
      ++b.failed;
  }
  b.intervals = summarize(names, values(fit.model), good, boot.level);
  return b;
}

Holdout holdout_largest_budget(Law law, std::span<const Observation> obs, const FitOptions& opt,
                               double budget_tol) {
  auto groups = group_by_budget(obs, budget_tol);
  if (groups.size() < 2)
    throw std::invalid_argument("holdout: needs runs at two or more compute budgets");
  const auto test_rows = groups.back();
  groups.pop_back();
  std::vector<std::size_t> train_rows;
  for (const auto& g : groups) train_rows.insert(train_rows.end(), g.begin(), g.end());

  const auto train = select(obs, train_rows);
  const Fit fit = fit_law(law, train, opt);
  Holdout h;
  h.n_train = train.size();
  for (std::size_t i : test_rows) {
    const auto& o = obs[i];
    const double pred = predict_loss(fit.model, o);
    h.runs.push_back({o.line, o.loss, pred, std::abs(pred - o.loss) / o.loss});
    h.budget = std::max(h.budget, compute(o));
    h.mean_rel_error += h.runs.back().rel_error / static_cast<double>(test_rows.size());
    h.max_rel_error = std::max(h.max_rel_error, h.runs.back().rel_error);
  }
  return h;
}

double r_squared(std::span<const double> observed, std::span<const double> predicted) {
  double mean = 0;
  for (double y : observed) mean += y / static_cast<double>(observed.size());
  double ss_res = 0, ss_tot = 0;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    ss_res += (observed[i] - predicted[i]) * (observed[i] - predicted[i]);
    ss_tot += (observed[i] - mean) * (observed[i] - mean);
  }
  return 1 - ss_res / ss_tot;
}

std::vector<double> log_residuals(const Model& m, std::span<const Observation> obs) {
  std::vector<double> r;
  for (const auto& o : obs) r.push_back(predict_log_loss(m, o) - std::log(o.loss));
  return r;
}

double r_squared(const Model& m, std::span<const Observation> obs) {
  std::vector<double> y, p;
  for (const auto& o : obs) {
    y.push_back(o.loss);
    p.push_back(predict_loss(m, o));
  }
  return r_squared(y, p);
}

}  // namespace dlcm::fitting
