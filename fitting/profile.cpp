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
double solve_amplitudes(std::span<const double> z, std::span<const double> loss, double delta, double* c) {
  const std::size_t n = loss.size();
  Vec<M> x = Eigen::Map<Vec<M>>(c);
  bool weighted = x.maxCoeff() > 0;  // a warm start: weights from its residuals
  // Huber's majoriser at r is w·r²/2 with w = min(1, delta/|r|): each step minimises it over c >= 0,
  // so the relative-residual objective never rises.
  for (int it = 0; it < 50; ++it) {
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

template double solve_amplitudes<3>(std::span<const double>, std::span<const double>, double, double*);

namespace {

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// log of an amplitude for a start: one the solve set to 0 (its term switched off) becomes a term of
// at most 1e-6 of the smallest loss, small but with a gradient.
double log_amplitude(const std::vector<double>& z, const double* c, int k, std::span<const double> loss) {
  if (c[k] > 0) return std::log(c[k]);
  double top = 0;
  for (std::size_t i = 0; i < loss.size(); ++i) top = std::max(top, z[3 * i + k]);
  return std::log(1e-6 * *std::min_element(loss.begin(), loss.end()) / top);
}

}  // namespace

std::vector<std::vector<double>> profile_starts(std::span<const Observation> obs, const FitOptions& opt) {
  const std::size_t n = obs.size();
  std::vector<double> ln, ld, loss;
  for (const auto& o : obs) {
    const auto x = chinchilla_inputs(o);
    ln.push_back(x.log_n);
    ld.push_back(x.log_d);
    loss.push_back(o.loss);
  }
  // Centred, so the features stay near 1 whatever the exponent; the amplitudes absorb the shift.
  const double mn = mean(ln), md = mean(ld);
  const int k = static_cast<int>(std::lround(kMaxExponent / kProfileStep)) + 1;
  auto exponent = [](int j) { return j * kProfileStep; };
  std::vector<double> fn(k * n), fd(k * n);
  for (int j = 0; j < k; ++j)
    for (std::size_t i = 0; i < n; ++i) {
      fn[j * n + i] = std::exp(-exponent(j) * (ln[i] - mn));
      fd[j * n + i] = std::exp(-exponent(j) * (ld[i] - md));
    }
  auto features = [&](int ja, int jb, std::vector<double>& z) {  // (1, N^-alpha, D^-beta), centred
    for (std::size_t i = 0; i < n; ++i) {
      z[3 * i] = 1;
      z[3 * i + 1] = fn[ja * n + i];
      z[3 * i + 2] = fd[jb * n + i];
    }
  };
  std::vector<double> value(k * k), amps(3 * k * k);
  // One row of alpha per item, beta in turn, each solve warm-started from its neighbour's amplitudes.
  parallel_for(k, opt.threads, [&] {
    return [&, z = std::vector<double>(3 * n)](int ja) mutable {
      std::array<double, 3> c{};
      for (int jb = 0; jb < k; ++jb) {
        features(ja, jb, z);
        const int cell = ja * k + jb;
        value[cell] = solve_amplitudes<3>(z, loss, opt.huber_delta, c.data());
        if (!std::isfinite(value[cell])) c = {};
        std::copy(c.begin(), c.end(), amps.begin() + 3 * cell);
      }
    };
  });

  std::vector<int> minima;
  for (int ja = 0; ja < k; ++ja)
    for (int jb = 0; jb < k; ++jb) {
      const double v = value[ja * k + jb];
      bool lowest = std::isfinite(v);
      for (int da = -1; da <= 1 && lowest; ++da)
        for (int db = -1; db <= 1; ++db) {
          const int a = ja + da, b = jb + db;
          if (a >= 0 && a < k && b >= 0 && b < k && value[a * k + b] < v) lowest = false;
        }
      if (lowest) minima.push_back(ja * k + jb);
    }
  std::stable_sort(minima.begin(), minima.end(), [&](int a, int b) { return value[a] < value[b]; });
  if (minima.size() > kProfileStarts) minima.resize(kProfileStarts);

  if (minima.empty()) return chinchilla_start_grid();  // no finite profile: search as Hoffmann did

  std::vector<std::vector<double>> starts;
  std::vector<double> z(3 * n);
  for (int cell : minima) {
    const double alpha = exponent(cell / k), beta = exponent(cell % k);
    features(cell / k, cell % k, z);
    const double* c = amps.data() + 3 * cell;
    starts.push_back({log_amplitude(z, c, 0, loss), log_amplitude(z, c, 1, loss) + alpha * mn,
                      log_amplitude(z, c, 2, loss) + beta * md, alpha, beta});
  }
  return starts;
}

}  // namespace dlcm::fitting
