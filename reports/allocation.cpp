#include "reports/allocation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/flops.hpp"

namespace dlcm::reports {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double finite_or_inf(double x) { return std::isfinite(x) ? x : kInf; }

Allocation evaluate(const fitting::DlcmParams& law, double C, double N, double P, double R, double corr) {
  Allocation a{N, P, R, 0, corr * approx_n_eff(N, P, R), 0};
  a.D = C / (6 * a.n_eff);
  a.loss = finite_or_inf(fitting::dlcm_loss(law, N, P, R, a.D));
  return a;
}

// Best (log N, P) at a fixed R: a coarse grid, then grids of the neighbourhood of the best point,
// each round shrinking the box to two steps either side (about 5x per round).
Allocation best_at_ratio(const fitting::DlcmParams& law, double C, double R, const SearchSpace& s,
                         const NeffCorrection& correction) {
  const double corr = correction.at(R);
  double u_lo = std::log(s.n_min), u_hi = std::log(C / (6 * s.min_tokens));
  double p_lo = s.p_min, p_hi = s.p_max;
  Allocation best{.loss = kInf};
  int nu = 81, np = 65;
  for (int round = 0; round < 40; ++round) {
    const double du = (u_hi - u_lo) / (nu - 1), dp = (p_hi - p_lo) / (np - 1);
    for (int i = 0; i < nu; ++i)
      for (int j = 0; j < np; ++j) {
        const auto a = evaluate(law, C, std::exp(u_lo + i * du), p_lo + j * dp, R, corr);
        if (a.loss < best.loss) best = a;
      }
    if (best.loss == kInf) break;
    if (du < 1e-12 && dp < 1e-12) break;
    const double u = std::log(best.N);
    u_lo = std::max(std::log(s.n_min), u - 2 * du);
    u_hi = std::min(std::log(C / (6 * s.min_tokens)), u + 2 * du);
    p_lo = std::max(s.p_min, best.P - 2 * dp);
    p_hi = std::min(s.p_max, best.P + 2 * dp);
    nu = np = 21;
  }
  return best;
}

}  // namespace

double approx_n_eff(double N, double P, double R) { return N * (1 - P) + N * P / R; }

double NeffCorrection::at(double R) const {
  if (points.empty()) return 1;
  if (R <= points.front().first) return points.front().second;
  if (R >= points.back().first) return points.back().second;
  const auto hi = std::lower_bound(points.begin(), points.end(), std::pair{R, -kInf});
  const auto lo = hi - 1;
  const double t = std::log(R / lo->first) / std::log(hi->first / lo->first);
  return lo->second + t * (hi->second - lo->second);
}

std::vector<double> scanned_ratios(const SearchSpace& s) {
  if (!s.ratio_range) return s.ratios;
  const double lo = std::log(s.ratio_range->first), hi = std::log(s.ratio_range->second);
  std::vector<double> out;
  for (int k = 0; k < 17; ++k) out.push_back(std::exp(lo + (hi - lo) * k / 16));
  return out;
}

Allocation optimise(const fitting::DlcmParams& law, double C, const SearchSpace& s, const NeffCorrection& corr) {
  if (!(C > 0) || C / (6 * s.min_tokens) <= s.n_min)
    throw std::invalid_argument(fmt::format("budget {:g} FLOPs is too small to search (needs > {:g})", C,
                                            6 * s.min_tokens * s.n_min));
  Allocation best{.loss = kInf};
  const auto ratios = scanned_ratios(s);
  std::size_t k_best = 0;
  for (std::size_t k = 0; k < ratios.size(); ++k) {
    const auto a = best_at_ratio(law, C, ratios[k], s, corr);
    if (a.loss < best.loss) best = a, k_best = k;
  }
  if (s.ratio_range) {
    // Then golden-section search in log R between the best scan point's neighbours.
    double a = std::log(ratios[k_best > 0 ? k_best - 1 : 0]);
    double b = std::log(ratios[std::min(k_best + 1, ratios.size() - 1)]);
    const double g = (std::sqrt(5.0) - 1) / 2;
    auto at = [&](double v) { return best_at_ratio(law, C, std::exp(v), s, corr); };
    double x1 = b - g * (b - a), x2 = a + g * (b - a);
    Allocation f1 = at(x1), f2 = at(x2);
    for (int it = 0; it < 60 && b - a > 1e-9; ++it) {
      if (f1.loss < f2.loss) b = x2, x2 = x1, f2 = f1, x1 = b - g * (b - a), f1 = at(x1);
      else a = x1, x1 = x2, f1 = f2, x2 = a + g * (b - a), f2 = at(x2);
    }
    for (const auto& f : {f1, f2})
      if (f.loss < best.loss) best = f;
  }
  if (best.loss == kInf) throw std::runtime_error(fmt::format("the fitted law has no finite value at budget {:g}", C));
  return best;
}

std::vector<std::string> bounds_hit(const Allocation& a, const SearchSpace& s, double C) {
  // A zoomed grid lands within a hair of a bound it presses against, never on a rounding of it.
  constexpr double kTol = 1e-3;
  std::vector<std::string> hit;
  const double n_max = C / (6 * s.min_tokens);
  if (std::log(a.N / s.n_min) < kTol) hit.push_back("N");
  if (std::log(n_max / a.N) < kTol || a.D <= s.min_tokens * (1 + kTol)) hit.push_back("D");
  if (a.P - s.p_min < kTol || s.p_max - a.P < kTol) hit.push_back("P");
  const double r_lo = s.ratio_range ? s.ratio_range->first : *std::min_element(s.ratios.begin(), s.ratios.end());
  const double r_hi = s.ratio_range ? s.ratio_range->second : *std::max_element(s.ratios.begin(), s.ratios.end());
  // R = 1 (no compression) is where ratios end, not where the search stopped looking.
  if (r_hi > r_lo && ((r_lo > 1 && std::log(a.R / r_lo) < kTol) || std::log(r_hi / a.R) < kTol)) hit.push_back("R");
  return hit;
}

namespace {

// A stack's width and depth and its parameters.
struct Stack {
  int d = 0, layers = 0;
  double params = 0;
};

int head_dim(int d, int heads) {
  const int dh = d / std::max(1, heads);
  return dh > 0 && 64 % dh == 0 ? dh : 64;
}

constexpr int kMaxWidth = 32768;
constexpr double kMinAspect = 16, kMaxAspect = 256;

// Widths a stack may take: multiples of the head size up to 512 (proxies live at 24–256), then
// multiples of 64.
std::vector<int> widths(int head) {
  std::vector<int> w;
  for (int d = head; d <= kMaxWidth; d += d < 512 ? head : 64) w.push_back(d);
  return w;
}

// The `keep` stacks whose parameters are nearest `target` (in log), over widths(head) and depths
// with width/depth in [kMinAspect, kMaxAspect] (at least one layer); `depth_per_layer` layers count
// per unit of depth.
template <typename Params>
std::vector<Stack> nearest_stacks(double target, int head, int depth_per_layer, std::size_t keep, Params params) {
  std::vector<Stack> all;
  for (const int d : widths(head)) {
    const int l_min = std::max(1, static_cast<int>(std::ceil(d / (kMaxAspect * depth_per_layer))));
    const int l_max = std::max(l_min, static_cast<int>(std::floor(d / (kMinAspect * depth_per_layer))));
    if (params(d, l_min) > 8 * target && !all.empty()) break;
    for (int l = l_min; l <= l_max; ++l) all.push_back({d, l, params(d, l)});
  }
  auto dist = [target](const Stack& s) { return std::abs(std::log(s.params / target)); };
  const auto n = std::min(keep, all.size());
  std::partial_sort(all.begin(), all.begin() + n, all.end(),
                    [&](const Stack& a, const Stack& b) { return dist(a) < dist(b); });
  all.resize(n);
  return all;
}

}  // namespace

Architecture snap(const fitting::DlcmParams& law, double C, const Allocation& opt, const ModelConfig& proxy,
                  const BoundaryConfig& proxy_boundary) {
  const int dh_tok = head_dim(proxy.d_token, proxy.n_heads_token);
  const int dh_con = head_dim(proxy.d_concept, proxy.n_heads_concept);
  ModelConfig base = proxy;
  base.arch = Arch::dlcm;
  base.n_kv_heads_token = base.n_kv_heads_concept = 0;
  BoundaryConfig boundary = proxy_boundary;
  boundary.ratio = opt.R;
  boundary.d_scan = 0;
  auto with_token = [&](ModelConfig m, int d, int layers) {
    m.d_token = d;
    m.n_heads_token = d / dh_tok;
    m.encoder_layers = m.decoder_layers = layers;
    return m;
  };
  auto with_concept = [&](ModelConfig m, int d, int layers) {
    m.d_concept = d;
    m.n_heads_concept = d / dh_con;
    m.concept_layers = layers;
    return m;
  };
  // Token side: everything but the backbone and the joining matrices, which depend on both widths.
  const auto tokens = nearest_stacks(opt.N * (1 - opt.P), dh_tok, 2, 6, [&](int d, int l) {
    const auto p = count_params(with_token(base, d, l), boundary);
    return static_cast<double>(p.non_embedding() - p.backbone - p.joining);
  });
  const auto concepts = nearest_stacks(opt.N * opt.P, dh_con, 1, 6, [&](int d, int l) {
    return static_cast<double>(count_params(with_concept(base, d, l), boundary).backbone);
  });
  Architecture best;
  best.loss = kInf;
  for (const auto& t : tokens)
    for (const auto& c : concepts) {
      Architecture a;
      a.model = with_concept(with_token(base, t.d, t.layers), c.d, c.layers);
      a.boundary = boundary;
      const auto acc = account(a.model, boundary, opt.R, 0);
      a.N = acc.N;
      a.P = acc.P;
      a.R = acc.R;
      a.n_eff = acc.n_eff;
      a.flops_per_token = 6 * acc.n_eff;
      a.D = C / a.flops_per_token;
      a.loss = finite_or_inf(fitting::dlcm_loss(law, a.N, a.P, a.R, a.D));
      if (a.loss < best.loss) best = a;
    }
  if (best.loss == kInf) throw std::runtime_error("no candidate architecture has a finite predicted loss");
  return best;
}

Allocated allocate(const fitting::DlcmParams& law, double C, const SearchSpace& space, const ModelConfig& proxy,
                   const BoundaryConfig& proxy_boundary) {
  constexpr int kMaxRounds = 6;
  auto same_shape = [](const Architecture& a, const Architecture& b) {
    return a.model.d_token == b.model.d_token && a.model.d_concept == b.model.d_concept &&
           a.model.encoder_layers == b.model.encoder_layers && a.model.concept_layers == b.model.concept_layers;
  };
  // One fixed point per ratio: the approximation's error depends on R (the backbone's share of
  // N_eff), so a single factor would price one ratio right and the others wrong.
  auto ratios = scanned_ratios(space);
  std::sort(ratios.begin(), ratios.end());
  Allocated out;
  for (double R : ratios) {
    SearchSpace one = space;
    one.ratio_range.reset();
    one.ratios = {R};
    NeffCorrection corr;
    Architecture arch;
    int rounds = 1;
    for (;; ++rounds) {
      const auto best = optimise(law, C, one, corr);
      const auto next = snap(law, C, best, proxy, proxy_boundary);
      const bool settled = rounds > 1 && same_shape(next, arch);
      arch = next;
      if (settled || rounds == kMaxRounds) break;
      corr.points = {{R, next.n_eff / approx_n_eff(next.N, next.P, R)}};
    }
    out.n_eff_correction.points.emplace_back(R, corr.at(R));
    out.rounds = std::max(out.rounds, rounds);
  }
  out.best = optimise(law, C, space, out.n_eff_correction);
  out.architecture = snap(law, C, out.best, proxy, proxy_boundary);
  out.n_eff_error = out.n_eff_correction.at(out.architecture.R) *
                        approx_n_eff(out.architecture.N, out.architecture.P, out.architecture.R) /
                        out.architecture.n_eff -
                    1;
  return out;
}

double baseline_optimal_loss(const fitting::ChinchillaParams& law, double C, const fitting::ComputeMap& map) {
  const auto o = fitting::chinchilla_compute_optimal(law, C, map);
  return fitting::chinchilla_loss(law, o.N, o.D);
}

std::optional<double> baseline_compute_for_loss(const fitting::ChinchillaParams& law, double loss, double C_hint,
                                                const fitting::ComputeMap& map) {
  if (!(loss > law.E)) return std::nullopt;
  // The compute-optimal loss falls with C towards E: bracket the root in log C, then bisect.
  auto gap = [&](double log_c) { return baseline_optimal_loss(law, std::exp(log_c), map) - loss; };
  double lo = std::log(C_hint), hi = lo;
  for (int i = 0; i < 200 && gap(lo) < 0; ++i) lo -= std::log(10.0);
  for (int i = 0; i < 200 && gap(hi) > 0; ++i) hi += std::log(10.0);
  if (!(gap(lo) >= 0 && gap(hi) <= 0)) return std::nullopt;
  for (int i = 0; i < 200 && hi - lo > 1e-13 * std::max(1.0, std::abs(hi)); ++i) {
    const double mid = 0.5 * (lo + hi);
    (gap(mid) > 0 ? lo : hi) = mid;
  }
  return std::exp(0.5 * (lo + hi));
}

}  // namespace dlcm::reports
