#include "fitting/profile.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

#include "fitting/parallel.hpp"

namespace dlcm::fitting {
namespace {

template <int M>
using Square = Eigen::Matrix<double, M, M>;
template <int M>
using Vec = Eigen::Matrix<double, M, 1>;

// argmin_{c >= 0} cᵀGc - 2gᵀc: the unconstrained solution when it is nonnegative, else the best
// nonnegative solution over the supports (at most 15 of them). Jacobi-scaled first, as the features
// differ by decades; a support whose scaled matrix is near singular (two equal features, e.g. an
// exponent of 0 beside E) is skipped. False when no support gives a solution.
template <int M>
bool nonnegative_least_squares(const Square<M>& G, const Vec<M>& g, Vec<M>& c) {
  Vec<M> s;
  for (int k = 0; k < M; ++k) s[k] = G(k, k) > 0 ? 1 / std::sqrt(G(k, k)) : 0;
  const Square<M> Gs = s.asDiagonal() * G * s.asDiagonal();
  const Vec<M> gs = s.cwiseProduct(g);
  using Sub = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, 0, M, M>;
  using SubVec = Eigen::Matrix<double, Eigen::Dynamic, 1, 0, M, 1>;
  double best = std::numeric_limits<double>::infinity();
  for (int mask = (1 << M) - 1; mask > 0; --mask) {  // the full support first
    std::array<int, M> idx{};
    int m = 0;
    for (int k = 0; k < M; ++k)
      if (mask >> k & 1 && s[k] > 0) idx[m++] = k;
    if (m != std::popcount(static_cast<unsigned>(mask))) continue;
    Sub A(m, m);
    SubVec b(m);
    for (int p = 0; p < m; ++p) {
      b[p] = gs[idx[p]];
      for (int q = 0; q < m; ++q) A(p, q) = Gs(idx[p], idx[q]);
    }
    const Eigen::LDLT<Sub> ldlt(A);
    if (ldlt.info() != Eigen::Success || !(ldlt.vectorD().minCoeff() > 1e-12)) continue;
    const SubVec x = ldlt.solve(b);
    if (!(x.minCoeff() >= 0)) continue;
    const double q = -b.dot(x);  // the objective at the support's solution, less a constant
    if (q < best) {
      best = q;
      c.setZero();
      for (int p = 0; p < m; ++p) c[idx[p]] = x[p] * s[idx[p]];
    }
    if (mask == (1 << M) - 1) break;  // unconstrained solution feasible: the global one
  }
  return std::isfinite(best);
}

}  // namespace

template <int M>
double solve_amplitudes(std::span<const double> z, std::span<const double> loss, double delta, double* c,
                        int iterations) {
  const std::size_t n = loss.size();
  Vec<M> x = Eigen::Map<Vec<M>>(c);
  bool weighted = x.maxCoeff() > 0;  // a warm start: weights from its residuals
  // Huber's majoriser at r is w·r²/2 with w = min(1, delta/|r|): each step minimises it over c >= 0,
  // so the relative-residual objective never rises.
  for (int it = 0; it < iterations; ++it) {
    Square<M> G = Square<M>::Zero();
    Vec<M> g = Vec<M>::Zero();
    for (std::size_t i = 0; i < n; ++i) {
      const Vec<M> u = Eigen::Map<const Vec<M>>(z.data() + i * M) / loss[i];
      double w = 1;
      if (weighted) {
        const double r = std::abs(u.dot(x) - 1);
        if (r > delta) w = delta / r;
      }
      G.template selfadjointView<Eigen::Lower>().rankUpdate(u, w);
      g += w * u;
    }
    G.template triangularView<Eigen::StrictlyUpper>() = G.transpose();
    Vec<M> next;
    if (!nonnegative_least_squares<M>(G, g, next)) break;
    const double change = (next - x).cwiseAbs().maxCoeff() / std::max(next.cwiseAbs().maxCoeff(), 1e-300);
    x = next;
    weighted = true;
    if (change < 1e-9) break;
  }
  std::copy(x.data(), x.data() + M, c);
  double f = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double pred = Eigen::Map<const Vec<M>>(z.data() + i * M).dot(x);
    if (!(pred > 0)) return std::numeric_limits<double>::infinity();
    f += huber(std::log(pred / loss[i]), delta);
  }
  return f;
}

template double solve_amplitudes<3>(std::span<const double>, std::span<const double>, double, double*, int);
template double solve_amplitudes<4>(std::span<const double>, std::span<const double>, double, double*, int);

namespace {

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// n points evenly spaced over [lo, hi], both ends included.
std::vector<double> axis(double lo, double hi, int n) {
  std::vector<double> v(n);
  for (int j = 0; j < n; ++j) v[j] = n == 1 ? lo : lo + (hi - lo) * j / (n - 1);
  return v;
}

// The profile on a regular grid of a law's nonlinear parameters: per cell, the amplitudes that
// solve_amplitudes finds and the exact objective there (infinity: none). Cells are numbered with
// the last axis fastest; fill(cell, z) writes the M features of every run for that cell. Each line
// along the last axis is one work item, each solve warm-started from its neighbour's amplitudes.
template <int M>
struct ProfileMap {
  std::vector<int> shape;
  std::vector<double> value, amps;
};

template <int M, typename Fill>
ProfileMap<M> scan_profile(std::vector<int> shape, std::span<const double> loss, const FitOptions& opt, Fill fill,
                           int iterations = 50) {
  const int last = shape.back();
  int lines = 1;
  for (std::size_t a = 0; a + 1 < shape.size(); ++a) lines *= shape[a];
  ProfileMap<M> map{std::move(shape), std::vector<double>(lines * last), std::vector<double>(M * lines * last)};
  parallel_for(lines, opt.threads, [&] {
    return [&, z = std::vector<double>(M * loss.size())](int line) mutable {
      std::array<double, M> c{};
      for (int j = 0; j < last; ++j) {
        const int cell = line * last + j;
        fill(cell, z);
        map.value[cell] = solve_amplitudes<M>(z, loss, opt.huber_delta, c.data(), iterations);
        if (!std::isfinite(map.value[cell])) c = {};
        std::copy(c.begin(), c.end(), map.amps.begin() + M * cell);
      }
    };
  });
  return map;
}

// The cells of a profile map with no lower neighbour (of the 3^d - 1 around them), lowest first
// (ties: the earlier cell), at most k, one per plateau: adjacent minima have equal values (else the
// higher one has a lower neighbour) and are one minimum, as where a term is switched off and its
// exponent does not matter.
std::vector<int> profile_minima(const std::vector<int>& shape, const std::vector<double>& value, int k) {
  const int d = static_cast<int>(shape.size());
  const int cells = static_cast<int>(value.size());
  auto coords = [&](int cell) {
    std::vector<int> x(d);
    for (int a = d - 1; a >= 0; --a) {
      x[a] = cell % shape[a];
      cell /= shape[a];
    }
    return x;
  };
  // Calls f(neighbour) for every cell adjacent to `cell`; stops when f returns false.
  auto neighbours = [&](int cell, auto f) {
    const auto x = coords(cell);
    int offsets = 1;
    for (int a = 0; a < d; ++a) offsets *= 3;
    for (int o = 0; o < offsets; ++o) {
      int code = o, nb = 0;
      bool inside = true, self = true;
      for (int a = 0; a < d; ++a) {
        const int step = code % 3 - 1;
        code /= 3;
        const int y = x[a] + step;
        if (step != 0) self = false;
        if (y < 0 || y >= shape[a]) inside = false;
        nb = nb * shape[a] + y;
      }
      if (inside && !self && !f(nb)) return;
    }
  };
  std::vector<char> is_min(cells, 0);
  std::vector<int> minima;
  for (int cell = 0; cell < cells; ++cell) {
    if (!std::isfinite(value[cell])) continue;
    bool lowest = true;
    neighbours(cell, [&](int nb) { return !(value[nb] < value[cell]) || (lowest = false); });
    if (lowest) {
      is_min[cell] = 1;
      minima.push_back(cell);
    }
  }
  std::stable_sort(minima.begin(), minima.end(), [&](int a, int b) { return value[a] < value[b]; });
  std::vector<int> kept;
  std::vector<char> seen(cells, 0);
  for (int cell : minima) {
    if (seen[cell]) continue;
    kept.push_back(cell);
    if (static_cast<int>(kept.size()) == k) break;
    std::vector<int> stack{cell};  // mark its plateau
    seen[cell] = 1;
    while (!stack.empty()) {
      const int c = stack.back();
      stack.pop_back();
      neighbours(c, [&](int nb) {
        if (is_min[nb] && !seen[nb]) {
          seen[nb] = 1;
          stack.push_back(nb);
        }
        return true;
      });
    }
  }
  return kept;
}

// log of amplitude k of M for a start: one the solve set to 0 (its term switched off) becomes a
// term of at most 1e-6 of the smallest loss, small but with a gradient.
template <int M>
double log_amplitude(std::span<const double> z, const double* c, int k, std::span<const double> loss) {
  if (c[k] > 0) return std::log(c[k]);
  double top = 0;
  for (std::size_t i = 0; i < loss.size(); ++i) top = std::max(top, z[M * i + k]);
  return std::log(1e-6 * *std::min_element(loss.begin(), loss.end()) / top);
}

std::vector<double> losses(std::span<const Observation> obs) {
  std::vector<double> loss;
  for (const auto& o : obs) loss.push_back(o.loss);
  return loss;
}

}  // namespace

std::vector<std::vector<double>> profile_starts(std::span<const Observation> obs, const FitOptions& opt) {
  const std::size_t n = obs.size();
  std::vector<double> ln, ld;
  for (const auto& o : obs) {
    const auto x = chinchilla_inputs(o);
    ln.push_back(x.log_n);
    ld.push_back(x.log_d);
  }
  const auto loss = losses(obs);
  // Centred, so the features stay near 1 whatever the exponent; the amplitudes absorb the shift.
  const double mn = mean(ln), md = mean(ld);
  const int k = static_cast<int>(std::lround(kMaxExponent / kProfileStep)) + 1;
  const auto exponent = axis(0, kMaxExponent, k);
  std::vector<double> fn(k * n), fd(k * n);
  for (int j = 0; j < k; ++j)
    for (std::size_t i = 0; i < n; ++i) {
      fn[j * n + i] = std::exp(-exponent[j] * (ln[i] - mn));
      fd[j * n + i] = std::exp(-exponent[j] * (ld[i] - md));
    }
  auto features = [&](int cell, std::span<double> z) {  // (1, N^-alpha, D^-beta), centred
    const int ja = cell / k, jb = cell % k;
    for (std::size_t i = 0; i < n; ++i) {
      z[3 * i] = 1;
      z[3 * i + 1] = fn[ja * n + i];
      z[3 * i + 2] = fd[jb * n + i];
    }
  };
  const auto map = scan_profile<3>({k, k}, loss, opt, features);
  const auto minima = profile_minima(map.shape, map.value, kProfileStarts);
  if (minima.empty()) return chinchilla_start_grid();  // no finite profile: search as Hoffmann did

  std::vector<std::vector<double>> starts;
  std::vector<double> z(3 * n);
  for (int cell : minima) {
    const double alpha = exponent[cell / k], beta = exponent[cell % k];
    features(cell, z);
    const double* c = map.amps.data() + 3 * cell;
    starts.push_back({log_amplitude<3>(z, c, 0, loss), log_amplitude<3>(z, c, 1, loss) + alpha * mn,
                      log_amplitude<3>(z, c, 2, loss) + beta * md, alpha, beta});
  }
  return starts;
}

namespace {

// The dlcm law's runs in logs, and the features (1, x_tok^-delta1, R^gamma·x_con^-delta2,
// x_data^-alpha) of its four linear terms, where x = input + offset, each log centred on a constant
// (its mean over the runs at offset 0) that the amplitudes absorb. A baseline (P = 0, log N·P =
// -inf) has no concept term: its concept feature is 0 whatever the parameters (concept_feature),
// and it is left out of that term's mean.
struct DlcmRuns {
  std::vector<DlcmInputs> x;
  std::vector<double> loss;
  double m_tok = 0, m_con = 0, m_r = 0, m_d = 0;
  explicit DlcmRuns(std::span<const Observation> obs) : loss(losses(obs)) {
    for (const auto& o : obs) x.push_back(dlcm_inputs(o));
    auto mean_of = [&](double DlcmInputs::*field) {
      double sum = 0;
      int n = 0;
      for (const auto& v : x)
        if (std::isfinite(v.*field)) sum += v.*field, ++n;
      return n > 0 ? sum / n : 0.0;
    };
    m_tok = mean_of(&DlcmInputs::log_ntok);
    m_con = mean_of(&DlcmInputs::log_ncon);
    m_r = mean_of(&DlcmInputs::log_r);
    m_d = mean_of(&DlcmInputs::log_d);
  }
  // R^gamma·x_con^-delta2, centred, at ℓ_con = log(N·P + t_con); 0 for a baseline.
  double concept_feature(std::size_t i, double gamma, double delta2, double l_con) const {
    return std::isfinite(x[i].log_ncon) ? std::exp(gamma * (x[i].log_r - m_r) - delta2 * (l_con - m_con)) : 0;
  }
  // Every run's four features at these nonlinear parameters and offsets tau (logs; -inf: none).
  void features(double d1, double gamma, double d2, double alpha, std::array<double, 3> tau,
                std::span<double> z) const {
    auto offset_log = [](double log_v, double t) {
      return t == -INFINITY ? log_v : std::max(log_v, t) + std::log1p(std::exp(-std::abs(log_v - t)));
    };
    for (std::size_t i = 0; i < x.size(); ++i) {
      z[4 * i] = 1;
      z[4 * i + 1] = std::exp(-d1 * (offset_log(x[i].log_ntok, tau[0]) - m_tok));
      z[4 * i + 2] = concept_feature(i, gamma, d2, offset_log(x[i].log_ncon, tau[1]));
      z[4 * i + 3] = std::exp(-alpha * (offset_log(x[i].log_d, tau[2]) - m_d));
    }
  }
  // theta (fitting space) from amplitudes c (at features centred as above) and the nonlinear
  // parameters; z: the features the amplitudes were solved at, for amplitudes of 0.
  std::vector<double> theta(std::span<const double> z, const double* c, double d1, double gamma, double d2,
                            double alpha, std::array<double, 3> tau) const {
    return {log_amplitude<4>(z, c, 0, loss),
            log_amplitude<4>(z, c, 1, loss) + d1 * m_tok,
            tau[0],
            d1,
            log_amplitude<4>(z, c, 2, loss) - gamma * m_r + d2 * m_con,
            gamma,
            tau[1],
            d2,
            log_amplitude<4>(z, c, 3, loss) + alpha * m_d,
            tau[2],
            alpha};
  }
};

}  // namespace

std::vector<std::vector<double>> dlcm_profile_starts(std::span<const Observation> obs, const FitOptions& opt,
                                                     int points, int k) {
  const DlcmRuns runs(obs);
  // Only baselines: no concept term to profile; the grid's starts refuse them with the reason.
  if (std::none_of(runs.x.begin(), runs.x.end(), [](const DlcmInputs& x) { return std::isfinite(x.log_ncon); }))
    return dlcm_start_grid(obs);
  const std::size_t n = obs.size();
  const int p = points;
  const auto exponent = axis(0, kMaxExponent, p), gamma = axis(-kMaxExponent, kMaxExponent, p);
  // Features per axis value (the concept term's per (gamma, delta2)), computed once.
  std::vector<double> ftok(p * n), fcon(p * p * n), fd(p * n);
  for (int j = 0; j < p; ++j)
    for (std::size_t i = 0; i < n; ++i) {
      const auto& x = runs.x[i];
      ftok[j * n + i] = std::exp(-exponent[j] * (x.log_ntok - runs.m_tok));
      fd[j * n + i] = std::exp(-exponent[j] * (x.log_d - runs.m_d));
      for (int jd = 0; jd < p; ++jd) fcon[(j * p + jd) * n + i] = runs.concept_feature(i, gamma[j], exponent[jd], x.log_ncon);
    }
  // Axes (delta1, gamma, delta2, alpha), alpha fastest.
  auto index = [p](int cell) {
    return std::array<int, 4>{cell / (p * p * p), cell / (p * p) % p, cell / p % p, cell % p};
  };
  auto features = [&](int cell, std::span<double> z) {
    const auto [j1, jg, j2, ja] = index(cell);
    for (std::size_t i = 0; i < n; ++i) {
      z[4 * i] = 1;
      z[4 * i + 1] = ftok[j1 * n + i];
      z[4 * i + 2] = fcon[(jg * p + j2) * n + i];
      z[4 * i + 3] = fd[ja * n + i];
    }
  };
  const auto map = scan_profile<4>({p, p, p, p}, runs.loss, opt, features, kDlcmProfileReweights);
  const auto minima = profile_minima(map.shape, map.value, k);
  if (minima.empty()) return dlcm_start_grid(obs);  // no finite profile: the grid's starts

  std::vector<std::vector<double>> starts;
  std::vector<double> z(4 * n);
  for (int cell : minima) {
    const auto [j1, jg, j2, ja] = index(cell);
    features(cell, z);
    starts.push_back(runs.theta(z, map.amps.data() + 4 * cell, exponent[j1], gamma[jg], exponent[j2],
                                exponent[ja], {0, 0, 0}));
  }
  return starts;
}

std::vector<std::vector<double>> dlcm_switch_on_starts(std::span<const Observation> obs, const FitOptions& opt,
                                                       const std::vector<std::vector<double>>& ends, int points) {
  const DlcmRuns runs(obs);
  const auto exponent = axis(0, kMaxExponent, points), gamma = axis(-kMaxExponent, kMaxExponent, points);
  // Each term's amplitude and nonlinear parameters (theta indices), and the axes they are scanned on.
  struct Term {
    int amplitude;
    std::vector<int> params;
    std::vector<const std::vector<double>*> axes;
  };
  const std::array<Term, 3> terms{{{1, {3}, {&exponent}}, {4, {5, 7}, {&gamma, &exponent}}, {8, {10}, {&exponent}}}};
  std::vector<std::vector<double>> starts;
  std::vector<double> z(4 * obs.size());
  std::array<double, 11> g;
  for (const auto& end : ends) {
    double f_end = 0;
    std::array<double, 11> share{};  // largest ∂log L/∂amplitude over the runs: the term's share of L
    for (std::size_t i = 0; i < obs.size(); ++i) {
      f_end += huber(dlcm_log_loss(end.data(), runs.x[i], false, g.data()) - std::log(runs.loss[i]), opt.huber_delta);
      for (const auto& t : terms) share[t.amplitude] = std::max(share[t.amplitude], g[t.amplitude]);
    }
    for (const auto& t : terms) {
      if (share[t.amplitude] >= kSwitchedOffShare) continue;
      double best = f_end;
      std::vector<double> best_theta;
      int cells = 1;
      for (const auto* a : t.axes) cells *= static_cast<int>(a->size());
      for (int cell = 0; cell < cells; ++cell) {
        std::vector<double> th = end;
        for (int a = static_cast<int>(t.axes.size()) - 1, rest = cell; a >= 0; --a) {
          const int m = static_cast<int>(t.axes[a]->size());
          th[t.params[a]] = (*t.axes[a])[rest % m];
          rest /= m;
        }
        runs.features(th[3], th[5], th[7], th[10], {-INFINITY, -INFINITY, -INFINITY}, z);
        std::array<double, 4> c{};
        const double f = solve_amplitudes<4>(z, runs.loss, opt.huber_delta, c.data());
        if (f < best) best = f, best_theta = runs.theta(z, c.data(), th[3], th[5], th[7], th[10], {0, 0, 0});
      }
      if (best_theta.empty()) continue;
      // Ends in one basin tend to give one start: polish it once.
      const bool known = std::any_of(starts.begin(), starts.end(), [&](const std::vector<double>& s) {
        for (std::size_t j = 0; j < s.size(); ++j)
          if (std::abs(s[j] - best_theta[j]) > 1e-3 * std::max(1.0, std::abs(s[j]))) return false;
        return true;
      });
      if (!known) starts.push_back(std::move(best_theta));
    }
  }
  return starts;
}

std::vector<std::vector<double>> dlcm_offset_starts(std::span<const Observation> obs, const FitOptions& opt,
                                                    const std::vector<std::vector<double>>& ends, int k) {
  const DlcmRuns runs(obs);
  const std::size_t n = obs.size();
  // Each offset's candidates, on the scale of what it offsets: from ~0 (1e-12 of the smallest value)
  // to 10x the largest.
  auto candidates = [&](double DlcmInputs::*field) {
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& x : runs.x)
      if (std::isfinite(x.*field)) lo = std::min(lo, x.*field), hi = std::max(hi, x.*field);  // not baselines
    return std::array<double, kDlcmOffsetValues>{lo - std::log(1e12), lo - std::log(10.0), 0.5 * (lo + hi), hi,
                                                 hi + std::log(10.0)};
  };
  const auto t_tok = candidates(&DlcmInputs::log_ntok), t_con = candidates(&DlcmInputs::log_ncon),
             t_d = candidates(&DlcmInputs::log_d);
  constexpr int v = kDlcmOffsetValues;
  const int per_end = v * v * v;
  const int items = static_cast<int>(ends.size()) * per_end;
  std::vector<double> value(items);
  std::vector<std::vector<double>> theta(items);
  parallel_for(static_cast<int>(ends.size()), opt.threads, [&] {
    return [&, z = std::vector<double>(4 * n)](int e) mutable {
      const auto& th = ends[e];
      const double d1 = th[3], gamma = th[5], d2 = th[7], alpha = th[10];
      for (int item = 0; item < per_end; ++item) {
        const std::array<double, 3> tau{t_tok[item / (v * v)], t_con[item / v % v], t_d[item % v]};
        runs.features(d1, gamma, d2, alpha, tau, z);
        std::array<double, 4> c{};
        const int at = e * per_end + item;
        value[at] = solve_amplitudes<4>(z, runs.loss, opt.huber_delta, c.data());
        if (std::isfinite(value[at])) theta[at] = runs.theta(z, c.data(), d1, gamma, d2, alpha, tau);
      }
    };
  });
  std::vector<int> order(items);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return value[a] < value[b]; });
  // First each end as it is, with offsets of ~0 (1e-12 of the smallest value), then the k best.
  std::vector<std::vector<double>> starts;
  for (auto th : ends) {
    th[2] = t_tok[0];
    th[6] = t_con[0];
    th[9] = t_d[0];
    starts.push_back(th);
  }
  for (int at : order) {
    if (static_cast<int>(starts.size()) == static_cast<int>(ends.size()) + k || !std::isfinite(value[at])) break;
    starts.push_back(theta[at]);
  }
  return starts;
}

}  // namespace dlcm::fitting
