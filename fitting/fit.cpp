#include "fitting/fit.hpp"

#include <ceres/ceres.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <functional>
#include <memory>
#include <stdexcept>

#include "fitting/parallel.hpp"
#include "fitting/profile.hpp"

namespace dlcm::fitting {
namespace {

// Every log input of a law, less its mean over the runs. Shifting an input by c and compensating in
// theta (an amplitude by exponent·c, an offset's log by c) is an exact change of coordinates that
// removes most of the correlation between amplitudes and exponents (log N is ~20, not ~0): BFGS
// then needs about a third fewer iterations and more starts reach the best optimum.
struct Centring {
  std::array<double, 4> shift{};  // chinchilla: log N, log D; dlcm: log N(1-P), log NP, log R, log D
};

template <typename Inputs>
// Over finite values only: a baseline's log N·P is -inf (no concept term) and stays so.
double centre(std::vector<Inputs>& x, double Inputs::*field) {
  const auto n = static_cast<double>(std::count_if(x.begin(), x.end(), [&](const Inputs& v) {
    return std::isfinite(v.*field);
  }));
  double mean = 0;
  for (const auto& v : x)
    if (std::isfinite(v.*field)) mean += v.*field / n;
  for (auto& v : x) v.*field -= mean;
  return mean;
}

// theta in the original coordinates to centred ones (sign = +1), or back (sign = -1).
void recentre(Law law, const Centring& c, double* th, double sign) {
  const auto& s = c.shift;
  if (law == Law::chinchilla) {
    th[1] -= sign * th[3] * s[0];
    th[2] -= sign * th[4] * s[1];
  } else {
    th[1] -= sign * th[3] * s[0];
    th[2] -= sign * s[0];
    th[4] += sign * (th[5] * s[2] - th[7] * s[1]);
    th[6] -= sign * s[1];
    th[8] -= sign * th[10] * s[3];
    th[9] -= sign * s[3];
  }
}

// The objective Σ_runs Huber_δ(log L_predicted − log L_observed) over centred inputs, with its
// exact gradient. LogLoss is the law: double(const double* theta, const Inputs&, double* grad).
template <int K, typename Inputs, typename LogLoss>
class HuberObjective final : public ceres::FirstOrderFunction {
 public:
  HuberObjective(std::vector<Inputs> x, std::vector<double> log_loss, double delta, LogLoss law)
      : x_(std::move(x)), log_loss_(std::move(log_loss)), delta_(delta), law_(law) {}

  bool Evaluate(const double* theta, double* cost, double* gradient) const override {
    // With bisection, Ceres' line search asks for one point twice about once a start in eight.
    if (last_.valid && std::equal(theta, theta + K, last_.theta.begin())) {
      *cost = last_.cost;
      if (gradient) std::copy(last_.gradient.begin(), last_.gradient.end(), gradient);
      return std::isfinite(last_.cost);
    }
    double f = 0;
    std::array<double, K> g{}, sum{};
    for (std::size_t i = 0; i < x_.size(); ++i) {
      const double r = law_(theta, x_[i], gradient ? g.data() : nullptr) - log_loss_[i];
      f += huber(r, delta_);
      if (gradient) {
        const double slope = huber_slope(r, delta_);
        for (int k = 0; k < K; ++k) sum[k] += slope * g[k];
      }
    }
    if (gradient) std::copy(sum.begin(), sum.end(), gradient);
    *cost = f;
    last_ = {gradient != nullptr, {}, f, sum};
    std::copy(theta, theta + K, last_.theta.begin());
    return std::isfinite(f);
  }
  int NumParameters() const override { return K; }

 private:
  std::vector<Inputs> x_;
  std::vector<double> log_loss_;
  double delta_;
  LogLoss law_;
  struct Cache {
    bool valid = false;  // holds a gradient
    std::array<double, K> theta{};
    double cost = 0;
    std::array<double, K> gradient{};
  };
  mutable Cache last_;  // each thread owns its problem
};

// One run's log L_predicted - log L_observed with its exact gradient: a residual block of the
// bounded solve, which Ceres sums under a HuberLoss into the same objective.
template <int K, typename Inputs, typename LogLoss>
class LogResidual final : public ceres::SizedCostFunction<1, K> {
 public:
  LogResidual(Inputs x, double log_loss, LogLoss law) : x_(x), log_loss_(log_loss), law_(law) {}
  bool Evaluate(double const* const* theta, double* r, double** jacobian) const override {
    r[0] = law_(theta[0], x_, jacobian && jacobian[0] ? jacobian[0] : nullptr) - log_loss_;
    return std::isfinite(r[0]);
  }

 private:
  Inputs x_;
  double log_loss_;
  LogLoss law_;
};

// A law's objective over the runs, posed in centred coordinates twice: as one function for BFGS
// (fast, unbounded) and as Huber-weighted residuals with bounds on the exponents (Ceres' line
// search takes no bounds; its trust region does).
struct Problem {
  Law law;
  Centring centring;
  std::unique_ptr<ceres::GradientProblem> problem;
  std::unique_ptr<ceres::LossFunction> huber;     // shared by the residual blocks
  std::unique_ptr<double[]> block;                // the bounded problem's parameters
  std::unique_ptr<ceres::Problem> bounded;
  std::vector<int> held;  // parameters the law holds fixed (dlcm's offsets at 0)
  // The BFGS problem with `held` and these parameters too held where they are (the active set).
  std::function<std::unique_ptr<ceres::GradientProblem>(const std::vector<int>&)> holding;
};

template <int K, typename Inputs, typename LogLoss>
void pose(Problem& p, std::vector<Inputs> x, std::vector<double> y, const FitOptions& opt, LogLoss law,
          ceres::Manifold* manifold) {
  p.huber = std::make_unique<ceres::HuberLoss>(opt.huber_delta);
  p.block = std::make_unique<double[]>(K);
  ceres::Problem::Options po;
  po.loss_function_ownership = ceres::DO_NOT_TAKE_OWNERSHIP;
  p.bounded = std::make_unique<ceres::Problem>(po);
  for (std::size_t i = 0; i < x.size(); ++i)
    p.bounded->AddResidualBlock(new LogResidual<K, Inputs, LogLoss>(x[i], y[i], law), p.huber.get(),
                                p.block.get());
  for (int i = 0; i < K; ++i) {
    const auto [lo, hi] = param_bounds(p.law, i);
    if (std::isfinite(lo)) p.bounded->SetParameterLowerBound(p.block.get(), i, lo);
    if (std::isfinite(hi)) p.bounded->SetParameterUpperBound(p.block.get(), i, hi);
  }
  p.holding = [x, y, delta = opt.huber_delta, law, held = p.held](const std::vector<int>& more) {
    std::vector<int> fixed = held;
    fixed.insert(fixed.end(), more.begin(), more.end());
    auto* fn = new HuberObjective<K, Inputs, LogLoss>(x, y, delta, law);
    return fixed.empty() ? std::make_unique<ceres::GradientProblem>(fn)
                         : std::make_unique<ceres::GradientProblem>(fn, new ceres::SubsetManifold(K, fixed));
  };
  auto* fn = new HuberObjective<K, Inputs, LogLoss>(std::move(x), std::move(y), opt.huber_delta, law);
  p.problem = manifold ? std::make_unique<ceres::GradientProblem>(fn, manifold)
                       : std::make_unique<ceres::GradientProblem>(fn);
}

Problem make_problem(Law law, std::span<const Observation> obs, const FitOptions& opt) {
  Problem p{law, {}, nullptr, nullptr, nullptr, nullptr, {}, {}};
  auto& s = p.centring.shift;
  std::vector<double> y;
  for (const auto& o : obs) y.push_back(std::log(o.loss));
  if (law == Law::chinchilla) {
    std::vector<ChinchillaInputs> x;
    for (const auto& o : obs) x.push_back(chinchilla_inputs(o));
    s = {centre(x, &ChinchillaInputs::log_n), centre(x, &ChinchillaInputs::log_d), 0, 0};
    auto log_loss = [](const double* th, const ChinchillaInputs& v, double* g) {
      return chinchilla_log_loss(th, v, g);
    };
    pose<5>(p, std::move(x), std::move(y), opt, log_loss, nullptr);
    return p;
  }
  std::vector<DlcmInputs> x;
  for (const auto& o : obs) x.push_back(dlcm_inputs(o));
  s = {centre(x, &DlcmInputs::log_ntok), centre(x, &DlcmInputs::log_ncon), centre(x, &DlcmInputs::log_r),
       centre(x, &DlcmInputs::log_d)};
  auto log_loss = [offsets = opt.offsets](const double* th, const DlcmInputs& v, double* g) {
    return dlcm_log_loss(th, v, offsets, g);
  };
  // Fixed offsets have a zero gradient: BFGS holds them with a manifold, the trust region's damping
  // leaves them where they are.
  const std::vector<int> offsets(kDlcmOffsetParams.begin(), kDlcmOffsetParams.end());
  if (!opt.offsets) p.held = offsets;
  pose<11>(p, std::move(x), std::move(y), opt, log_loss,
           opt.offsets ? nullptr : new ceres::SubsetManifold(11, offsets));
  return p;
}

// Ceres' own gradient rule is absolute; this one stops when the gradient is small next to f.
class RelativeGradient final : public ceres::IterationCallback {
 public:
  explicit RelativeGradient(double tol) : tol_(tol) {}
  ceres::CallbackReturnType operator()(const ceres::IterationSummary& s) override {
    return s.gradient_max_norm <= tol_ * s.cost ? ceres::SOLVER_TERMINATE_SUCCESSFULLY
                                                : ceres::SOLVER_CONTINUE;
  }

 private:
  double tol_;
};

template <typename Summary>
Termination termination_of(const Summary& s) {
  if (!std::isfinite(s.final_cost)) return Termination::failed;
  switch (s.termination_type) {
    case ceres::USER_SUCCESS:
      return Termination::gradient_tolerance;
    case ceres::CONVERGENCE:
      // Ceres names the rule that fired only in its message; "Gradient tolerance" here means an
      // exactly zero gradient (a plateau), since its absolute rule is switched off.
      if (s.message.starts_with("Function")) return Termination::function_tolerance;
      if (s.message.starts_with("Parameter")) return Termination::parameter_tolerance;
      return Termination::gradient_tolerance;
    case ceres::NO_CONVERGENCE:
      return Termination::max_iterations;
    default:
      return Termination::failed;
  }
}

// The stopping rules both solvers share (Tolerances); the gradient rule is a RelativeGradient
// callback, which the caller owns.
template <typename Options>
void set_stopping(Options& o, const Tolerances& tol) {
  o.max_num_iterations = tol.max_iterations;
  o.function_tolerance = tol.function;
  o.gradient_tolerance = 0;  // replaced by RelativeGradient
  o.parameter_tolerance = tol.parameter;
  o.logging_type = ceres::SILENT;
}

// BFGS on the summed Huber loss, unbounded. A least-squares solve with one ceres::HuberLoss block
// per run minimises the same sum, but took ~2x the iterations and ~8x the time (fitting/README.md),
// so it only runs where BFGS leaves the exponents' range.
StartOutcome solve_bfgs_on(const ceres::GradientProblem& problem, double* theta, const Tolerances& tol) {
  ceres::GradientProblemSolver::Options o;
  o.line_search_direction_type = ceres::BFGS;
  o.use_approximate_eigenvalue_bfgs_scaling = true;
  // Polynomial interpolation logs a glog warning on every flat line search (plateau starts are
  // common in the grids); bisection costs about as many evaluations and stays quiet.
  o.line_search_interpolation_type = ceres::BISECTION;
  set_stopping(o, tol);
  RelativeGradient relative_gradient(tol.gradient);
  o.callbacks.push_back(&relative_gradient);
  ceres::GradientProblemSolver::Summary s;
  ceres::Solve(o, problem, theta, &s);
  return {s.final_cost, termination_of(s), static_cast<int>(s.iterations.size())};
}
StartOutcome solve_bfgs(const Problem& p, double* theta, const Tolerances& tol) {
  return solve_bfgs_on(*p.problem, theta, tol);
}

// Levenberg-Marquardt on the Huber-weighted residuals, with the exponents' bounds.
StartOutcome solve_bounded(const Problem& p, double* theta, const Tolerances& tol) {
  ceres::Solver::Options o;
  o.linear_solver_type = ceres::DENSE_QR;
  set_stopping(o, tol);
  RelativeGradient relative_gradient(tol.gradient);
  o.callbacks.push_back(&relative_gradient);
  const int k = p.problem->NumParameters();
  std::copy(theta, theta + k, p.block.get());
  ceres::Solver::Summary s;
  ceres::Solve(o, p.bounded.get(), &s);
  std::copy(p.block.get(), p.block.get() + k, theta);
  return {s.final_cost, termination_of(s), static_cast<int>(s.iterations.size()), true};
}

bool within_bounds(Law law, const double* theta, int k) {
  for (int i = 0; i < k; ++i) {
    const auto [lo, hi] = param_bounds(law, i);
    if (!(theta[i] >= lo && theta[i] <= hi)) return false;
  }
  return true;
}

// A local fit from theta (original coordinates, updated in place). BFGS first: an end point inside
// the bounds is a local optimum of the bounded problem too. A start that BFGS takes outside them
// (alpha = -182 happens) is solved again, clamped into the bounds, by the bounded solver.
StartOutcome solve(const Problem& p, double* theta, const Tolerances& tol) {
  const int k = p.problem->NumParameters();
  recentre(p.law, p.centring, theta, +1);
  const std::vector<double> start(theta, theta + k);
  StartOutcome out = solve_bfgs(p, theta, tol);
  if (!std::isfinite(out.objective) || !within_bounds(p.law, theta, k)) {
    for (int i = 0; i < k; ++i) {
      const auto [lo, hi] = param_bounds(p.law, i);
      theta[i] = std::clamp(start[i], lo, hi);
    }
    out = solve_bounded(p, theta, tol);
  }
  recentre(p.law, p.centring, theta, -1);
  return out;
}

// A local fit from theta (original coordinates, updated in place) by BFGS with an active set: the
// parameters on a bound are held there and BFGS moves the rest. A step that leaves the bounds is cut
// where it first meets one (that parameter joins the set); a held parameter whose gradient points
// into the bounds is released. Ends at a point that satisfies the bounds' optimality conditions (or
// after 10 rounds), the lowest point seen. Used for the profile search's few starts, which often end
// on a bound, where the bounded Levenberg-Marquardt path stalls (fitting/README.md).
StartOutcome solve_active_set(const Problem& p, double* theta, const Tolerances& tol) {
  const int k = p.problem->NumParameters();
  recentre(p.law, p.centring, theta, +1);
  std::vector<double> x(theta, theta + k);
  std::vector<Bounds> bounds;
  for (int i = 0; i < k; ++i) bounds.push_back(param_bounds(p.law, i));
  std::vector<int> active;
  for (int i = 0; i < k; ++i) {
    x[i] = std::clamp(x[i], bounds[i].lower, bounds[i].upper);
    if (x[i] == bounds[i].lower || x[i] == bounds[i].upper) active.push_back(i);
  }
  const auto free_problem = p.holding({});
  auto value = [&](const std::vector<double>& at, double* grad) {
    double f = INFINITY;
    if (!free_problem->Evaluate(at.data(), &f, grad)) f = INFINITY;
    return f;
  };
  std::vector<double> best = x;
  double f_best = value(x, nullptr);
  StartOutcome out{f_best, Termination::failed, 0, !active.empty()};
  for (int round = 0; round < 10; ++round) {
    std::vector<double> y = x;
    const StartOutcome step = solve_bfgs_on(*p.holding(active), y.data(), tol);
    out.termination = step.termination;
    out.iterations += step.iterations;
    if (!std::isfinite(step.objective)) break;
    // Cut a step that leaves the bounds where it first meets one.
    double t = 1;
    int hit = -1;
    for (int i = 0; i < k; ++i) {
      const double d = y[i] - x[i];
      if (y[i] > bounds[i].upper && (bounds[i].upper - x[i]) / d < t) t = (bounds[i].upper - x[i]) / d, hit = i;
      if (y[i] < bounds[i].lower && (bounds[i].lower - x[i]) / d < t) t = (bounds[i].lower - x[i]) / d, hit = i;
    }
    for (int i = 0; i < k; ++i) x[i] = hit < 0 ? y[i] : std::clamp(x[i] + t * (y[i] - x[i]), bounds[i].lower, bounds[i].upper);
    if (hit >= 0) {
      x[hit] = y[hit] > bounds[hit].upper ? bounds[hit].upper : bounds[hit].lower;
      active.push_back(hit);
    }
    std::vector<double> g(k);
    const double f = value(x, g.data());
    if (f < f_best) best = x, f_best = f;
    if (hit >= 0) continue;
    // Inside the bounds: release a held parameter whose gradient points into them.
    const auto released = std::erase_if(active, [&](int i) {
      const double slope = g[i];
      return std::abs(slope) > tol.gradient * f &&
             ((x[i] == bounds[i].lower && slope < 0) || (x[i] == bounds[i].upper && slope > 0));
    });
    if (released == 0) break;
  }
  std::copy(best.begin(), best.end(), theta);
  out.objective = f_best;
  out.bounded = out.bounded || !active.empty();
  recentre(p.law, p.centring, theta, -1);
  return out;
}

void check_input(Law law, std::span<const Observation> obs) {
  if (obs.empty()) throw std::invalid_argument(fmt::format("{} fit: no runs", law_name(law)));
}

}  // namespace

std::string_view termination_name(Termination t) {
  switch (t) {
    case Termination::function_tolerance: return "function_tolerance";
    case Termination::gradient_tolerance: return "gradient_tolerance";
    case Termination::parameter_tolerance: return "parameter_tolerance";
    case Termination::max_iterations: return "max_iterations";
    case Termination::failed: return "failed";
  }
  return "failed";
}

int Fit::converged_starts() const {
  return static_cast<int>(std::count_if(outcomes.begin(), outcomes.end(),
                                        [](const StartOutcome& s) { return converged(s.termination); }));
}

namespace {

// Every start run to convergence, the lowest objective kept. ends (when given) gets every start's
// end point (fitting space, original coordinates).
Fit fit_starts(Law law, std::span<const Observation> obs, const FitOptions& opt,
               const std::vector<std::vector<double>>& starts, std::vector<std::vector<double>>* ends_out = nullptr,
               bool active_set = false) {
  if (starts.empty()) throw std::invalid_argument(fmt::format("{} fit: no starts", law_name(law)));
  const std::size_t k = param_names(law).size();
  for (const auto& s : starts)
    if (s.size() != k)
      throw std::invalid_argument(
          fmt::format("{} fit: a start has {} values, the law has {}", law_name(law), s.size(), k));

  const int n = static_cast<int>(starts.size());
  std::vector<StartOutcome> outcomes(n);
  std::vector<std::vector<double>> ends(starts);
  parallel_for(n, opt.threads, [&] {
    return [&, problem = make_problem(law, obs, opt)](int i) {
      outcomes[i] = active_set ? solve_active_set(problem, ends[i].data(), opt.tol)
                               : solve(problem, ends[i].data(), opt.tol);
    };
  });

  int best = -1;  // lowest objective; ties go to the earlier start, so any thread count agrees
  for (int i = 0; i < n; ++i)
    if (std::isfinite(outcomes[i].objective) &&
        (best < 0 || outcomes[i].objective < outcomes[best].objective))
      best = i;
  if (best < 0)
    throw std::runtime_error(fmt::format("{} fit: no start reached a finite objective", law_name(law)));
  Fit fit{Model{law, ends[best], opt.offsets}, 0, std::move(outcomes), 0, {}};
  fit.objective = huber_objective(fit.model, obs, opt.huber_delta);
  fit.best = static_cast<std::size_t>(best);
  fit.active_bounds = active_bounds(fit.model);
  if (ends_out) *ends_out = std::move(ends);
  return fit;
}

// Whether a chinchilla fit is an optimum the profile search can vouch for: reached by BFGS, both
// exponents at least half a profile step inside their bounds, and every term at least 1e-3 of the
// loss of some run. At a bound, or with a term switched off (its exponent then free), the local
// fits stop short on a flat face and the grid's many starts did better (fitting/README.md).
bool interior_optimum(const Fit& fit, std::span<const Observation> obs) {
  if (fit.outcomes[fit.best].bounded) return false;
  for (int i : {3, 4}) {
    const auto [lo, hi] = param_bounds(Law::chinchilla, i);
    const double x = fit.model.theta[i];
    if (x < lo + kProfileStep / 2 || x > hi - kProfileStep / 2) return false;
  }
  std::array<double, 3> largest{};
  std::array<double, 5> share;  // ∂log L/∂(e, a, b) are the terms' shares of L
  for (const auto& o : obs) {
    chinchilla_log_loss(fit.model.theta.data(), chinchilla_inputs(o), share.data());
    for (int t = 0; t < 3; ++t) largest[t] = std::max(largest[t], share[t]);
  }
  return *std::min_element(largest.begin(), largest.end()) >= 1e-3;
}

// Two searches as one fit: the starts of `first`, then those of `second`, and the lower objective's
// model (ties: first's).
Fit merge(Fit first, Fit second) {
  const std::size_t shift = first.outcomes.size();
  first.outcomes.insert(first.outcomes.end(), second.outcomes.begin(), second.outcomes.end());
  if (second.objective < first.objective) {
    first.model = std::move(second.model);
    first.objective = second.objective;
    first.best = shift + second.best;
    first.active_bounds = std::move(second.active_bounds);
  }
  return first;
}

// Whether a dlcm fit with offsets can stand without the grid: each offset negligible (below 1e-6 of
// the smallest value it offsets), so the law is the zero-offset law, which the profile searched, and
// raising any offset from 0 does not lower the objective (∂f/∂t >= 0 at t = 0: an optimum of the
// bounded problem t >= 0, as the local fits in log t cannot tell, their gradient vanishing there).
// Baselines have no concept term, so t_con neither offsets nor moves them.
bool zero_offsets_optimal(const Fit& fit, std::span<const Observation> obs, double delta) {
  const auto p = natural_params(fit.model);
  std::array<double, 3> smallest{INFINITY, INFINITY, INFINITY}, slope{};
  std::array<double, 11> g;
  for (const auto& o : obs) {
    const auto x = dlcm_inputs(o);
    const std::array<double, 3> v{std::exp(x.log_ntok), std::exp(x.log_ncon), o.D};
    const double r = dlcm_log_loss(fit.model.theta.data(), x, false, g.data()) - std::log(o.loss);
    // ∂log L/∂t = -exponent · (the term's share of L) / (input + t), at t = 0.
    const std::array<double, 3> d{-p[3] * g[1] / v[0], -p[7] * g[4] / v[1], -p[10] * g[8] / v[2]};
    for (int k = 0; k < 3; ++k) {
      if (!(v[k] > 0)) continue;  // a baseline's N·P
      smallest[k] = std::min(smallest[k], v[k]);
      slope[k] += huber_slope(r, delta) * d[k];
    }
  }
  for (int k = 0; k < 3; ++k)
    if (!(p[kDlcmOffsetParams[k]] < 1e-6 * smallest[k]) || slope[k] * smallest[k] < -1e-10 * fit.objective) return false;
  return true;
}

// dlcm's profile search (fitting/README.md): the zero-offset profile's minima, polished with offsets
// fixed at 0, then polished again from any lower point that switching on a term the polish left off
// reaches (dlcm_switch_on_starts); with offsets, those ends with each offset set from a few candidates (amplitudes solved
// again), polished with offsets free. Every polish by active set. Falls back to the grid (both
// searches' starts, the lower objective kept) when the answer's polish did not converge or, with
// offsets, when they are not ~0 at an optimum of the zero-offset law.
Fit fit_dlcm_profile(std::span<const Observation> obs, const FitOptions& opt) {
  FitOptions zero = opt;
  zero.offsets = false;
  std::vector<std::vector<double>> ends;
  Fit fit = fit_starts(Law::dlcm, obs, zero, dlcm_profile_starts(obs, opt), &ends, true);
  if (const auto more = dlcm_switch_on_starts(obs, opt, ends); !more.empty()) {
    std::vector<std::vector<double>> more_ends;
    fit = merge(std::move(fit), fit_starts(Law::dlcm, obs, zero, more, &more_ends, true));
    ends.insert(ends.end(), more_ends.begin(), more_ends.end());
  }
  if (opt.offsets) {
    Fit with = fit_starts(Law::dlcm, obs, opt, dlcm_offset_starts(obs, opt, ends), nullptr, true);
    // The zero-offset polishes count as starts of the search; its answer has offsets.
    with.outcomes.insert(with.outcomes.begin(), fit.outcomes.begin(), fit.outcomes.end());
    with.best += fit.outcomes.size();
    fit = std::move(with);
  }
  const bool safe = converged(fit.outcomes[fit.best].termination) &&
                    (!opt.offsets || zero_offsets_optimal(fit, obs, opt.huber_delta));
  if (safe) return fit;
  return merge(std::move(fit), fit_starts(Law::dlcm, obs, opt, default_starts(Law::dlcm, obs)));
}

}  // namespace

Fit fit_law(Law law, std::span<const Observation> obs, const FitOptions& opt) {
  check_input(law, obs);
  if (!opt.starts.empty()) return fit_starts(law, obs, opt, opt.starts);
  if (opt.search == Search::grid) return fit_starts(law, obs, opt, default_starts(law, obs));
  if (law == Law::dlcm) return fit_dlcm_profile(obs, opt);
  Fit fit = fit_starts(law, obs, opt, profile_starts(obs, opt));
  if (interior_optimum(fit, obs)) return fit;
  Fit grid = fit_starts(law, obs, opt, default_starts(law, obs));
  return grid.objective <= fit.objective ? grid : fit;
}

StartOutcome refine(Model& model, std::span<const Observation> obs, const FitOptions& opt) {
  check_input(model.law, obs);
  FitOptions o = opt;
  o.offsets = model.offsets;
  return solve(make_problem(model.law, obs, o), model.theta.data(), opt.tol);
}

}  // namespace dlcm::fitting
