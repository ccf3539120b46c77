#include "fitting/isoflop.hpp"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <stdexcept>

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

Isoflop fit_isoflop(std::span<const Observation> obs, const IsoflopOptions& opt) {
  const auto groups = group_by_budget(obs, opt.budget_tol);
  if (groups.size() < 2)
    throw std::invalid_argument(
        fmt::format("isoflop: {} compute budget(s); the power law needs at least 2", groups.size()));
  Isoflop f;
  f.x = opt.x;
  f.residuals.assign(obs.size(), 0);
  double ss_tot = 0, mean_loss = 0;
  for (const auto& o : obs) mean_loss += o.loss / static_cast<double>(obs.size());
  for (const auto& o : obs) ss_tot += (o.loss - mean_loss) * (o.loss - mean_loss);

  for (const auto& g : groups) {
    const auto n = static_cast<Eigen::Index>(g.size());
    // Geometric mean of the budget's C, relative to its first run so equal C's come back exactly.
    const double c0 = compute(obs[g[0]]);
    double log_c = 0, u_mean = 0;
    for (std::size_t i : g) {
      log_c += std::log(compute(obs[i]) / c0) / static_cast<double>(n);
      u_mean += std::log(axis_value(obs[i], opt.x)) / static_cast<double>(n);
    }
    const double C = c0 * std::exp(log_c);
    if (n < 3)
      throw std::invalid_argument(fmt::format(
          "isoflop: budget C={:.3g} has {} run(s); a parabola needs at least 3", C, n));
    std::vector<double> us;
    for (std::size_t i : g) us.push_back(std::log(axis_value(obs[i], opt.x)));
    std::sort(us.begin(), us.end());
    if (std::unique(us.begin(), us.end()) - us.begin() < 3)
      throw std::invalid_argument(fmt::format(
          "isoflop: budget C={:.3g} has fewer than 3 distinct values of {}", C, axis_name(opt.x)));
    // Centred u keeps the normal equations well conditioned (log N is ~20).
    Eigen::MatrixXd X(n, 3);
    Eigen::VectorXd y(n);
    for (Eigen::Index k = 0; k < n; ++k) {
      const auto& o = obs[g[k]];
      const double u = std::log(axis_value(o, opt.x)) - u_mean;
      X.row(k) << u * u, u, 1.0;
      y(k) = o.loss;
    }
    const Eigen::Vector3d q = X.colPivHouseholderQr().solve(y);
    const double a = q(0), b = q(1), c = q(2);
    if (!(a > 0))
      throw std::invalid_argument(fmt::format(
          "isoflop: budget C={:.3g}: loss against log {} has no minimum (parabola curvature {:.3g})",
          C, axis_name(opt.x), a));
    const Eigen::VectorXd res = X * q - y;
    for (Eigen::Index k = 0; k < n; ++k) f.residuals[g[k]] = res(k);
    const double rss = res.squaredNorm();
    f.rss += rss;

    BudgetFit bf;
    bf.C = C;
    bf.n_runs = g.size();
    bf.curvature = a;
    bf.x_opt = std::exp(u_mean - b / (2 * a));
    bf.loss_opt = c - b * b / (4 * a);
    bf.log_x_opt_se = NAN;
    if (n > 3) {
      const Eigen::Matrix3d cov = (rss / static_cast<double>(n - 3)) * (X.transpose() * X).inverse();
      const Eigen::Vector3d grad(b / (2 * a * a), -1 / (2 * a), 0);  // ∂u*/∂(a, b, c), u* = -b/2a
      bf.log_x_opt_se = std::sqrt(grad.dot(cov * grad));
    }
    f.budgets.push_back(bf);
  }
  f.r2 = 1 - f.rss / ss_tot;
  fit_power_law(f, f.budgets);
  return f;
}

std::vector<std::pair<std::string, double>> isoflop_derived(const Isoflop& f, double C) {
  const double x_opt = f.coefficient * std::pow(C, f.exponent);
  if (f.x == Axis::N) {
    const double D = C / (6 * x_opt);
    return {{"a", f.exponent}, {"b", 1 - f.exponent}, {"N_opt", x_opt}, {"D_opt", D},
            {"tokens_per_param", D / x_opt}};
  }
  if (f.x == Axis::D) {
    const double N = C / (6 * x_opt);
    return {{"a", 1 - f.exponent}, {"b", f.exponent}, {"N_opt", N}, {"D_opt", x_opt},
            {"tokens_per_param", x_opt / N}};
  }
  return {{std::string(axis_name(f.x)) + "_opt", x_opt}};
}

Bootstrap bootstrap_isoflop(const Isoflop& fit, std::span<const Observation> obs,
                            const IsoflopOptions& opt, const BootstrapOptions& boot, double c_ref) {
  auto values = [&](const Isoflop& f) {
    std::vector<double> v{f.exponent, f.coefficient};
    for (const auto& [name, x] : isoflop_derived(f, c_ref)) v.push_back(x);
    return v;
  };
  std::vector<std::string> names{"exponent", "coefficient"};
  for (const auto& [name, x] : isoflop_derived(fit, c_ref)) names.push_back(name);

  // Cheap linear fits: no threads needed. A replicate whose parabola loses its minimum fails.
  const auto groups = group_by_budget(obs, opt.budget_tol);
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
