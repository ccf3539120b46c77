#include "fitting/isoflop.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "fitting/quadratic.hpp"

namespace dlcm::fitting {
namespace {

struct Line {
  double slope, intercept;
};

Line fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    mx += x[i] / static_cast<double>(x.size());
    my += y[i] / static_cast<double>(x.size());
  }
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  const double slope = sxy / sxx;
  return {slope, my - slope * mx};
}

// log x_opt = log k + e·log C over the budgets given.
void fit_power_law(Isoflop& f, std::span<const BudgetFit> budgets) {
  std::vector<double> lc, lx;
  for (const auto& b : budgets) {
    lc.push_back(std::log(b.C));
    lx.push_back(std::log(b.x_opt));
  }
  const Line l = fit_line(lc, lx);
  f.exponent = l.slope;
  f.coefficient = std::exp(l.intercept);
}

}  // namespace

std::string_view axis_name(Axis x) {
  switch (x) {
    case Axis::N: return "N";
    case Axis::D: return "D";
    case Axis::P: return "P";
    case Axis::R: return "R";
  }
  return "N";
}

double axis_value(const Observation& o, Axis x) {
  switch (x) {
    case Axis::N: return o.N;
    case Axis::D: return o.D;
    case Axis::P: return o.P;
    case Axis::R: return o.R;
  }
  return o.N;
}

bool isoflop_family(std::span<const Observation> obs, std::size_t min_sizes) {
  std::map<double, std::set<double>> sizes;
  for (const auto& o : obs) sizes[o.budget].insert(o.N);
  return std::any_of(sizes.begin(), sizes.end(), [&](const auto& b) { return b.second.size() >= min_sizes; });
}

Isoflop fit_isoflop(std::span<const Observation> obs, const IsoflopOptions& opt) {
  const auto groups = group_by_budget(obs, opt.budget_tol);
  const std::string_view x = axis_name(opt.x);
  Isoflop f;
  f.x = opt.x;
  f.residuals.assign(obs.size(), 0);
  std::vector<std::size_t> kept_rows;

  for (const auto& g : groups) {
    // Geometric mean of the budget's C, relative to its first run so equal C's come back exactly.
    const double c0 = compute(obs[g[0]]);
    double log_c = 0;
    for (std::size_t i : g) log_c += std::log(compute(obs[i]) / c0) / static_cast<double>(g.size());
    const double C = c0 * std::exp(log_c);
    auto skip = [&](std::string reason) { f.skipped.push_back({C, g.size(), std::move(reason)}); };
    if (g.size() < 3) {
      skip("a parabola needs at least 3 runs");
      continue;
    }
    std::vector<double> us, losses;
    for (std::size_t i : g) {
      us.push_back(std::log(axis_value(obs[i], opt.x)));
      losses.push_back(obs[i].loss);
    }
    std::vector<double> sorted = us;
    std::sort(sorted.begin(), sorted.end());
    if (std::unique(sorted.begin(), sorted.end()) - sorted.begin() < 3) {
      skip(fmt::format("fewer than 3 distinct values of {}", x));
      continue;
    }
    const Quadratic q = fit_quadratic(us, losses);
    if (!(q.a > 0)) {
      skip(fmt::format("loss against log {} has no minimum (parabola curvature {:.3g})", x, q.a));
      continue;
    }
    if (opt.bracketed && (q.vertex < sorted.front() || q.vertex > sorted.back())) {
      skip(fmt::format("minimum at {} = {:.3g}, outside the runs' range [{:.3g}, {:.3g}]", x,
                       std::exp(q.vertex), std::exp(sorted.front()), std::exp(sorted.back())));
      continue;
    }
    for (std::size_t k = 0; k < g.size(); ++k) f.residuals[g[k]] = q.residuals[k];
    f.rss += q.rss;
    kept_rows.insert(kept_rows.end(), g.begin(), g.end());

    BudgetFit bf;
    bf.C = C;
    bf.n_runs = g.size();
    bf.rows = g;
    bf.curvature = q.a;
    bf.x_opt = std::exp(q.vertex);
    bf.loss_opt = q.extremum;
    bf.log_x_opt_se = q.vertex_se;
    f.budgets.push_back(bf);
  }
  if (f.budgets.size() < 2) {
    std::string why;
    for (const auto& s : f.skipped)
      why += fmt::format("{}C={:.3g} ({} runs): {}", why.empty() ? "" : "; ", s.C, s.n_runs, s.reason);
    throw std::invalid_argument(fmt::format(
        "isoflop: {} usable compute budget(s) of {}; the power law needs at least 2{}", f.budgets.size(),
        groups.size(), why.empty() ? "" : " (skipped " + why + ")"));
  }
  double ss_tot = 0, mean_loss = 0;
  for (std::size_t i : kept_rows) mean_loss += obs[i].loss / static_cast<double>(kept_rows.size());
  for (std::size_t i : kept_rows) ss_tot += (obs[i].loss - mean_loss) * (obs[i].loss - mean_loss);
  f.r2 = 1 - f.rss / ss_tot;
  fit_power_law(f, f.budgets);
  return f;
}

std::vector<std::pair<std::string, double>> isoflop_derived(const Isoflop& f, double C, const ComputeMap& map) {
  const double x_opt = f.coefficient * std::pow(C, f.exponent);
  // C = 6·k·N^e·D: N_opt ∝ C^a gives D_opt ∝ C^(1 - e·a); D_opt ∝ C^b gives N_opt ∝ C^((1 - b)/e).
  if (f.x == Axis::N) {
    const double D = C / (6 * map.n_eff(x_opt));
    return {{"a", f.exponent}, {"b", 1 - map.e * f.exponent}, {"N_opt", x_opt}, {"D_opt", D},
            {"tokens_per_param", D / x_opt}};
  }
  if (f.x == Axis::D) {
    const double N = std::pow(C / (6 * std::exp(map.log_k) * x_opt), 1 / map.e);
    return {{"a", (1 - f.exponent) / map.e}, {"b", f.exponent}, {"N_opt", N}, {"D_opt", x_opt},
            {"tokens_per_param", x_opt / N}};
  }
  return {{std::string(axis_name(f.x)) + "_opt", x_opt}};
}

Bootstrap bootstrap_isoflop(const Isoflop& fit, std::span<const Observation> obs,
                            const IsoflopOptions& opt, const BootstrapOptions& boot, double c_ref,
                            const ComputeMap& map) {
  auto values = [&](const Isoflop& f) {
    std::vector<double> v{f.exponent, f.coefficient};
    for (const auto& [name, x] : isoflop_derived(f, c_ref, map)) v.push_back(x);
    return v;
  };
  std::vector<std::string> names{"exponent", "coefficient"};
  for (const auto& [name, x] : isoflop_derived(fit, c_ref, map)) names.push_back(name);

  // Cheap linear fits: no threads needed. Only the budgets the fit kept are resampled.
  std::vector<std::vector<std::size_t>> groups;
  for (const auto& b : fit.budgets) groups.push_back(b.rows);
  Bootstrap b;
  b.replicates = boot.replicates;
  std::vector<std::vector<double>> samples;
  for (int r = 0; r < boot.replicates; ++r) {
    const auto sample = select(obs, resample_within(groups, boot.seed, r));
    try {
      samples.push_back(values(fit_isoflop(sample, opt)));
    } catch (const std::invalid_argument&) {
      ++b.failed;
    }
  }
  b.intervals = summarize(names, values(fit), samples, boot.level);
  return b;
}

IsoflopHoldout isoflop_holdout(const Isoflop& fit) {
  if (fit.budgets.size() < 3)
    throw std::invalid_argument("isoflop holdout: needs 3 or more budgets (2 to fit, 1 to predict)");
  Isoflop train = fit;
  fit_power_law(train, std::span(fit.budgets).first(fit.budgets.size() - 1));
  const BudgetFit& last = fit.budgets.back();
  IsoflopHoldout h;
  h.budget = last.C;
  h.fitted = last.x_opt;
  h.predicted = train.coefficient * std::pow(last.C, train.exponent);
  h.rel_error = std::abs(h.predicted - h.fitted) / h.fitted;
  return h;
}

}  // namespace dlcm::fitting
