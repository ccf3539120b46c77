#include "fitting/laws.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace dlcm::fitting {

double chinchilla_loss(const ChinchillaParams& p, double N, double D) {
  return p.E + p.A / std::pow(N, p.alpha) + p.B / std::pow(D, p.beta);
}

ComputeMap fit_compute_map(std::span<const Observation> obs) {
  // y = log(N_eff/N) against centred log N: the intercept and slope are log k + (e-1)·mean, e - 1.
  std::vector<double> x, y;
  for (const auto& o : obs)
    if (o.C > 0) {
      x.push_back(std::log(o.N));
      y.push_back(std::log(o.C / (6 * o.D)) - std::log(o.N));
    }
  ComputeMap map;
  if (x.empty()) return map;
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    mx += x[i] / n;
    my += y[i] / n;
  }
  double sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
  }
  const double slope = sxx > 0 ? sxy / sxx : 0;  // one N: a constant ratio
  map.e = 1 + slope;
  map.log_k = my - slope * mx;
  map.log_n_lo = *std::min_element(x.begin(), x.end());
  map.log_n_hi = *std::max_element(x.begin(), x.end());
  for (const auto& o : obs)
    if (o.C > 0)
      map.max_rel_error = std::max(map.max_rel_error, std::abs(map.n_eff(o.N) / (o.C / (6 * o.D)) - 1));
  return map;
}

namespace {
// The power-law closed form (valid where the map is k·N^e).
ComputeOptimal closed_form_optimum(const ChinchillaParams& p, double C, const ComputeMap& map) {
  const double e = map.e, Ck = C / (6 * std::exp(map.log_k));
  const double s = p.alpha + e * p.beta;
  const double a = p.beta / s, b = p.alpha / s;
  const double G = std::pow(p.alpha * p.A / (e * p.beta * p.B), 1 / s);
  return {a, b, G * std::pow(Ck, a), std::pow(Ck, b) / std::pow(G, e)};
}

// The loss along the budget is unimodal in log N (both terms monotone): golden section.
double numeric_optimal_n(const ChinchillaParams& p, double C, const ComputeMap& map) {
  auto f = [&](double u) {
    const double N = std::exp(u);
    return p.A * std::exp(-p.alpha * u) + p.B * std::pow(6 * map.n_eff(N) / C, p.beta);
  };
  double lo = -5, hi = std::log(C / 6) + 5;
  const double g = (std::sqrt(5.0) - 1) / 2;
  double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo), f1 = f(x1), f2 = f(x2);
  for (int it = 0; it < 200 && hi - lo > 1e-13; ++it) {
    if (f1 < f2) hi = x2, x2 = x1, f2 = f1, x1 = hi - g * (hi - lo), f1 = f(x1);
    else lo = x1, x1 = x2, f1 = f2, x2 = lo + g * (hi - lo), f2 = f(x2);
  }
  return std::exp(0.5 * (lo + hi));
}
}  // namespace

ComputeOptimal chinchilla_compute_optimal(const ChinchillaParams& p, double C, const ComputeMap& map) {
  const auto closed = closed_form_optimum(p, C, map);
  const double u = std::log(closed.N);
  if (!std::isfinite(u) || (u >= map.log_n_lo && u <= map.log_n_hi)) return closed;
  const double N = numeric_optimal_n(p, C, map);
  constexpr double h = 0.01;  // local slopes over ±1% in C
  const double n_up = numeric_optimal_n(p, C * std::exp(h), map), n_dn = numeric_optimal_n(p, C * std::exp(-h), map);
  auto d_of = [&](double c, double n) { return c / (6 * map.n_eff(n)); };
  return {std::log(n_up / n_dn) / (2 * h),
          std::log(d_of(C * std::exp(h), n_up) / d_of(C * std::exp(-h), n_dn)) / (2 * h), N, d_of(C, N)};
}

double dlcm_loss(const DlcmParams& p, double N, double P, double R, double D) {
  const double con = P > 0 ? p.A_con * std::pow(R, p.gamma) / std::pow(N * P + p.t_con, p.delta2) : 0;
  return p.E0 + p.A_tok / std::pow(N * (1 - P) + p.t_tok, p.delta1) + con +
         p.A_data / std::pow(D + p.t_data, p.alpha);
}

namespace {
constexpr std::array<std::string_view, 5> kChinchillaNames{"E", "A", "B", "alpha", "beta"};
constexpr std::array<bool, 5> kChinchillaLog{true, true, true, false, false};
constexpr std::array<std::string_view, 11> kDlcmNames{"E0",  "A_tok", "t_tok",  "delta1",
                                                      "A_con", "gamma", "t_con",  "delta2",
                                                      "A_data", "t_data", "alpha"};
constexpr std::array<bool, 11> kDlcmLog{true, true, true, false, true, false,
                                        true, false, true, true, false};
bool is_offset(Law law, std::size_t i) {
  return law == Law::dlcm &&
         std::find(kDlcmOffsetParams.begin(), kDlcmOffsetParams.end(), static_cast<int>(i)) !=
             kDlcmOffsetParams.end();
}

Model model_from_natural(Law law, std::span<const double> natural, bool offsets) {
  Model m{law, std::vector<double>(natural.size()), offsets};
  for (std::size_t i = 0; i < natural.size(); ++i) {
    if (is_offset(law, i) && !offsets) m.theta[i] = 0;  // ignored
    else m.theta[i] = is_log_param(law, i) ? std::log(natural[i]) : natural[i];
  }
  return m;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}
}  // namespace

Bounds param_bounds(Law law, std::size_t i) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (is_log_param(law, i)) return {-inf, inf};
  if (law == Law::dlcm && i == 5) return {-kMaxExponent, kMaxExponent};  // gamma
  return {0, kMaxExponent};
}

std::vector<std::string> active_bounds(const Model& m) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < m.theta.size(); ++i) {
    const auto [lo, hi] = param_bounds(m.law, i);
    if (std::abs(m.theta[i] - lo) <= 1e-6 || std::abs(m.theta[i] - hi) <= 1e-6)
      out.emplace_back(param_names(m.law)[i]);
  }
  return out;
}

std::string_view law_name(Law law) { return law == Law::chinchilla ? "chinchilla" : "dlcm"; }

std::span<const std::string_view> param_names(Law law) {
  if (law == Law::chinchilla) return kChinchillaNames;
  return kDlcmNames;
}

bool is_log_param(Law law, std::size_t i) {
  return law == Law::chinchilla ? kChinchillaLog.at(i) : kDlcmLog.at(i);
}

Model chinchilla_model(const ChinchillaParams& p) {
  const std::array<double, 5> v{p.E, p.A, p.B, p.alpha, p.beta};
  return model_from_natural(Law::chinchilla, v, true);
}

Model dlcm_model(const DlcmParams& p, bool offsets) {
  const std::array<double, 11> v{p.E0, p.A_tok, p.t_tok, p.delta1, p.A_con, p.gamma,
                                 p.t_con, p.delta2, p.A_data, p.t_data, p.alpha};
  return model_from_natural(Law::dlcm, v, offsets);
}

std::vector<double> natural_params(const Model& m) {
  std::vector<double> v(m.theta.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (is_offset(m.law, i) && !m.offsets) v[i] = 0;
    else v[i] = is_log_param(m.law, i) ? std::exp(m.theta[i]) : m.theta[i];
  }
  return v;
}

ChinchillaParams chinchilla_params(const Model& m) {
  if (m.law != Law::chinchilla) throw std::logic_error("chinchilla_params: not a chinchilla model");
  const auto v = natural_params(m);
  return {v[0], v[1], v[2], v[3], v[4]};
}

DlcmParams dlcm_params(const Model& m) {
  if (m.law != Law::dlcm) throw std::logic_error("dlcm_params: not a dlcm model");
  const auto v = natural_params(m);
  return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]};
}

double predict_log_loss(const Model& m, const Observation& o) {
  if (m.law == Law::chinchilla) return chinchilla_log_loss(m.theta.data(), chinchilla_inputs(o));
  return dlcm_log_loss(m.theta.data(), dlcm_inputs(o), m.offsets);
}

double huber_objective(const Model& m, std::span<const Observation> obs, double delta) {
  double sum = 0;
  for (const auto& o : obs) sum += huber(predict_log_loss(m, o) - std::log(o.loss), delta);
  return sum;
}

std::vector<std::vector<double>> cartesian_grid(const std::vector<std::vector<double>>& axes) {
  std::vector<std::vector<double>> grid{{}};
  for (const auto& axis : axes) {
    std::vector<std::vector<double>> next;
    next.reserve(grid.size() * axis.size());
    for (const auto& prefix : grid)
      for (double v : axis) {
        next.push_back(prefix);
        next.back().push_back(v);
      }
    grid = std::move(next);
  }
  return grid;
}

std::vector<std::vector<double>> chinchilla_start_grid() {
  return cartesian_grid({{-1, -0.5, 0, 0.5, 1},
                         {0, 5, 10, 15, 20, 25},
                         {0, 5, 10, 15, 20, 25},
                         {0, 0.5, 1, 1.5, 2},
                         {0, 0.5, 1, 1.5, 2}});
}

// 3 (e0) × 2 (gamma) × 6^3 (exponent × starting size, per term) = 1296 starts. Eleven parameters
// rule out a grid over each like Hoffmann's, so each term's amplitude is tied to its exponent: the
// term starts at 0.1 or 1 nat at the median run, whatever its exponent. Offsets start at a tenth of
// the smallest value of what they offset, large enough for their gradient not to vanish.
std::vector<std::vector<double>> dlcm_start_grid(std::span<const Observation> obs) {
  if (obs.empty()) throw std::invalid_argument("dlcm_start_grid: no runs");
  std::vector<double> ltok, lcon, lr, ld;
  for (const auto& o : obs) {
    const auto x = dlcm_inputs(o);
    ltok.push_back(x.log_ntok);
    if (std::isfinite(x.log_ncon)) lcon.push_back(x.log_ncon);  // baselines have no backbone
    lr.push_back(x.log_r);
    ld.push_back(x.log_d);
  }
  if (lcon.empty()) throw std::invalid_argument("dlcm law: no DLCM run (P > 0) to fit its concept term to");
  auto tau = [](const std::vector<double>& logs) {
    return *std::min_element(logs.begin(), logs.end()) - std::log(10.0);
  };
  const double med_tok = median(ltok), med_con = median(lcon), med_r = median(lr), med_d = median(ld);
  const double tau_tok = tau(ltok), tau_con = tau(lcon), tau_d = tau(ld);

  const std::array<double, 3> exponents{0.25, 0.5, 1.0};
  const std::array<double, 2> log_sizes{std::log(0.1), 0.0};
  std::vector<std::pair<double, double>> term;  // (exponent, log size at the median run)
  for (double e : exponents)
    for (double s : log_sizes) term.emplace_back(e, s);

  std::vector<std::vector<double>> grid;
  for (double e0 : {-1.0, 0.0, 1.0})
    for (double gamma : {0.0, 0.5})
      for (auto [d1, s1] : term)
        for (auto [d2, s2] : term)
          for (auto [al, s3] : term)
            grid.push_back({e0, s1 + d1 * med_tok, tau_tok, d1, s2 + d2 * med_con - gamma * med_r,
                            gamma, tau_con, d2, s3 + al * med_d, tau_d, al});
  return grid;
}

std::vector<std::vector<double>> default_starts(Law law, std::span<const Observation> obs) {
  return law == Law::chinchilla ? chinchilla_start_grid() : dlcm_start_grid(obs);
}

std::vector<std::pair<std::string, double>> derived_quantities(const Model& m, double c_ref,
                                                               const ComputeMap& map) {
  if (m.law != Law::chinchilla) return {};
  const auto opt = chinchilla_compute_optimal(chinchilla_params(m), c_ref, map);
  return {{"a", opt.a}, {"b", opt.b}, {"N_opt", opt.N}, {"D_opt", opt.D},
          {"tokens_per_param", opt.D / opt.N}};
}

}  // namespace dlcm::fitting
