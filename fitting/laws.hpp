#pragma once
// The parametric scaling laws: plain predictions in natural parameters (for callers such as the
// allocation search), and the log-sum-exp forms the fits work in. Fitting space `theta` holds
// log(x) for every positive parameter and x for exponents, as in Hoffmann et al. (2022),
// Approach 3; its order matches param_names().
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fitting/observation.hpp"

namespace dlcm::fitting {

// ---- natural form ----

// L(N, D) = E + A/N^alpha + B/D^beta
struct ChinchillaParams {
  double E, A, B, alpha, beta;
};
double chinchilla_loss(const ChinchillaParams& p, double N, double D);

// Training compute is C = 6·N_eff·D (DESIGN §2), where N_eff (per-token forward multiply-adds,
// LM head and attention included) is not the N a law sees (non-embedding parameters).
// N_eff = k·N^e over a family of runs, fitted to each run's C/(6·D) against its N; identity when the
// runs carry no C. Beyond the fitted runs' N the ratio N_eff/N is held at its value at the nearest
// end: a power law extrapolated decades past its runs would, for a baseline, price N_eff below the
// non-embedding matmuls it contains.
struct ComputeMap {
  double log_k = 0, e = 1;
  double log_n_lo = -std::numeric_limits<double>::infinity();  // the fitted runs' range of log N
  double log_n_hi = std::numeric_limits<double>::infinity();
  double max_rel_error = 0;  // largest |n_eff(N_i) / (C_i/(6·D_i)) - 1| over the fitted runs
  double n_eff(double N) const {
    return N * std::exp(log_k + (e - 1) * std::clamp(std::log(N), log_n_lo, log_n_hi));  // exact for identity
  }
};
// Least squares of log(C/(6D)) on log N over the runs with C > 0; e = 1 when they share one N.
ComputeMap fit_compute_map(std::span<const Observation> obs);

// Compute-optimal allocation of C = 6·k·N^e·D under the Chinchilla law. Minimising
// E + A/N^alpha + B/D^beta along D = C/(6k·N^e) gives, with s = alpha + e·beta,
// N_opt = G·(C/6k)^a, D_opt = (C/6k)^b / G^e, G = (alpha·A / (e·beta·B))^(1/s), a = beta/s,
// b = alpha/s = d log D_opt / d log C. The identity map is Hoffmann's C = 6ND. When N_opt falls
// outside the map's fitted range, where the ratio is held, the optimum is found numerically
// (golden section in log N) and a, b are its local slopes in log C.
struct ComputeOptimal {
  double a, b, N, D;
};
ComputeOptimal chinchilla_compute_optimal(const ChinchillaParams& p, double C, const ComputeMap& map = {});

// The compression-aware law (DESIGN §3, paper Eq. 22); N total parameters, P the backbone's share,
// R the compression ratio, D tokens:
// L = E0 + A_tok/(N(1-P) + t_tok)^delta1 + A_con·R^gamma/(N·P + t_con)^delta2 + A_data/(D + t_data)^alpha
// P = 0 is a baseline: no backbone and no compression, so no concept term (not its P -> 0 limit).
struct DlcmParams {
  double E0, A_tok, t_tok, delta1, A_con, gamma, t_con, delta2, A_data, t_data, alpha;
};
double dlcm_loss(const DlcmParams& p, double N, double P, double R, double D);

// ---- fitting form ----

enum class Law { chinchilla, dlcm };

std::string_view law_name(Law law);
// Natural parameter names, in theta order: the keys of `params` in `dlcm fit --json`.
std::span<const std::string_view> param_names(Law law);
// Whether theta[i] is log(param i) (amplitudes, E, offsets) rather than param i itself (exponents).
bool is_log_param(Law law, std::size_t i);
// theta indices of dlcm's offsets t_tok, t_con, t_data (as log t).
inline constexpr std::array<int, 3> kDlcmOffsetParams{2, 6, 9};

// The fits keep every power-law exponent (chinchilla alpha, beta; dlcm delta1, delta2, alpha) in
// [0, kMaxExponent]: a negative one turns "more is better" into "more is worse" (an artefact of
// optimisation-limited runs, not scaling), and past 3 a term is a wall no scaling study has seen.
// dlcm's gamma (the compression penalty R^gamma) may take either sign, in [-kMaxExponent,
// kMaxExponent]. Amplitudes, E and offsets are logs and unbounded.
inline constexpr double kMaxExponent = 3;
struct Bounds {
  double lower, upper;
};
Bounds param_bounds(Law law, std::size_t i);  // in theta; ±infinity where unbounded

// A law with values for its fitting-space parameters. offsets=false fixes dlcm's t_* at 0; their
// theta entries are then ignored.
struct Model {
  Law law = Law::chinchilla;
  std::vector<double> theta;
  bool offsets = true;
};

Model chinchilla_model(const ChinchillaParams& p);
Model dlcm_model(const DlcmParams& p, bool offsets = true);
std::vector<double> natural_params(const Model& m);  // in param_names() order
ChinchillaParams chinchilla_params(const Model& m);
DlcmParams dlcm_params(const Model& m);

// log Σ exp(t_k), shifted by the largest term so nothing overflows (whose exp is 1: skipping it saves
// an eighth of a fit); p gets the softmax weights exp(t_k - LSE), which are ∂LSE/∂t_k.
template <std::size_t K>
double log_sum_exp(const std::array<double, K>& t, std::array<double, K>& p) {
  const std::size_t top = std::max_element(t.begin(), t.end()) - t.begin();
  double s = 0;
  for (std::size_t k = 0; k < K; ++k) s += (p[k] = k == top ? 1.0 : std::exp(t[k] - t[top]));
  const double inv = 1 / s;
  for (double& w : p) w *= inv;
  return t[top] + std::log(s);
}

// What each law reads off a run, in logs.
struct ChinchillaInputs {
  double log_n, log_d;
};
inline ChinchillaInputs chinchilla_inputs(const Observation& o) { return {std::log(o.N), std::log(o.D)}; }

struct DlcmInputs {
  double log_ntok, log_ncon, log_r, log_d;  // log N(1-P), log N·P, log R, log D
};
inline DlcmInputs dlcm_inputs(const Observation& o) {
  return {std::log(o.N * (1 - o.P)), std::log(o.N * o.P), std::log(o.R), std::log(o.D)};
}

// log L = LSE(e, a - alpha·log N, b - beta·log D) for theta = [e, a, b, alpha, beta]. With grad
// (5 values) also ∂log L/∂theta, which is exact: the fits use it instead of autodiff, at half the
// cost. Inline, as the fits' inner loop.
inline double chinchilla_log_loss(const double* th, const ChinchillaInputs& x, double* grad = nullptr) {
  std::array<double, 3> p;
  const double lse = log_sum_exp(std::array{th[0], th[1] - th[3] * x.log_n, th[2] - th[4] * x.log_d}, p);
  if (grad) {
    grad[0] = p[0];
    grad[1] = p[1];
    grad[2] = p[2];
    grad[3] = -p[1] * x.log_n;
    grad[4] = -p[2] * x.log_d;
  }
  return lse;
}

// log L = LSE(e0, a_tok - delta1·ℓ_tok, a_con + gamma·log R - delta2·ℓ_con, a_data - alpha·ℓ_data)
// for theta = [e0, a_tok, tau_tok, delta1, a_con, gamma, tau_con, delta2, a_data, tau_data, alpha],
// where ℓ = log(x + t) = LSE(log x, tau) with tau = log t, or log x when offsets is false (then
// the tau entries are ignored and their gradient is 0). grad: 11 values.
inline double dlcm_log_loss(const double* th, const DlcmInputs& x, bool offsets, double* grad = nullptr) {
  // ℓ = log(v + e^tau) and σ = ∂ℓ/∂tau = e^tau / (v + e^tau).
  auto offset_log = [offsets](double log_v, double tau, double& sigma) {
    if (!offsets) {
      sigma = 0;
      return log_v;
    }
    std::array<double, 2> q;
    const double l = log_sum_exp(std::array{log_v, tau}, q);
    sigma = q[1];
    return l;
  };
  double s_tok, s_con, s_data;
  const double l_tok = offset_log(x.log_ntok, th[2], s_tok);
  // A baseline (P = 0: no backbone, no compression) is the law without its concept term.
  const bool has_concepts = std::isfinite(x.log_ncon);
  const double l_con = has_concepts ? offset_log(x.log_ncon, th[6], s_con) : (s_con = 0, 0.0);
  const double l_data = offset_log(x.log_d, th[9], s_data);
  std::array<double, 4> p;
  const double lse = log_sum_exp(std::array{th[0], th[1] - th[3] * l_tok,
                                            has_concepts ? th[4] + th[5] * x.log_r - th[7] * l_con
                                                         : -std::numeric_limits<double>::infinity(),
                                            th[8] - th[10] * l_data},
                                 p);
  if (grad) {
    grad[0] = p[0];
    grad[1] = p[1];
    grad[2] = -p[1] * th[3] * s_tok;
    grad[3] = -p[1] * l_tok;
    grad[4] = p[2];
    grad[5] = p[2] * x.log_r;
    grad[6] = -p[2] * th[7] * s_con;
    grad[7] = -p[2] * l_con;
    grad[8] = p[3];
    grad[9] = -p[3] * th[10] * s_data;
    grad[10] = -p[3] * l_data;
  }
  return lse;
}

double predict_log_loss(const Model& m, const Observation& o);
inline double predict_loss(const Model& m, const Observation& o) {
  return std::exp(predict_log_loss(m, o));
}

// The fits' objective: the sum over runs of Huber_delta(log L_predicted - log L_observed), with
// Huber_delta(r) = r²/2 for |r| <= delta, delta·(|r| - delta/2) beyond.
inline double huber(double r, double delta) {
  const double a = std::abs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}
// dHuber_delta/dr: r clipped to [-delta, delta].
inline double huber_slope(double r, double delta) { return std::clamp(r, -delta, delta); }
double huber_objective(const Model& m, std::span<const Observation> obs, double delta);

// ---- start grids (fitting space) ----

// Every combination of the axes' values, the last axis varying fastest.
std::vector<std::vector<double>> cartesian_grid(const std::vector<std::vector<double>>& axes);
// Hoffmann et al.'s 4500 starts: e in {-1, -.5, .., 1}, a, b in {0, 5, .., 25}, alpha, beta in {0, .5, .., 2}.
std::vector<std::vector<double>> chinchilla_start_grid();
// 1296 starts scaled to the data; see fitting/README.md for why this grid.
std::vector<std::vector<double>> dlcm_start_grid(std::span<const Observation> obs);
std::vector<std::vector<double>> default_starts(Law law, std::span<const Observation> obs);

// Names of the parameters of m that sit on a bound of param_bounds (within 1e-6).
std::vector<std::string> active_bounds(const Model& m);

// Quantities derived from fitted parameters that get their own bootstrap intervals: for chinchilla
// the compute-optimal exponents a, b and, at compute c_ref (C = 6·map.n_eff(N)·D), N_opt, D_opt and
// tokens per parameter D_opt/N_opt.
std::vector<std::pair<std::string, double>> derived_quantities(const Model& m, double c_ref,
                                                               const ComputeMap& map = {});

}  // namespace dlcm::fitting
