#include "fitting/identification.hpp"

#include <fmt/format.h>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <set>

namespace dlcm::fitting {

namespace {
bool fixed_offset(const Model& m, std::size_t i) {
  return !m.offsets && m.law == Law::dlcm &&
         std::find(kDlcmOffsetParams.begin(), kDlcmOffsetParams.end(), static_cast<int>(i)) != kDlcmOffsetParams.end();
}
}  // namespace

std::vector<std::string> flat_parameters(const Model& m, std::span<const Observation> obs) {
  const auto names = param_names(m.law);
  std::vector<std::size_t> free;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (!fixed_offset(m, i)) free.push_back(i);
  const auto k = static_cast<Eigen::Index>(free.size());
  if (obs.size() < free.size()) return {};
  Eigen::MatrixXd J(static_cast<Eigen::Index>(obs.size()), k);
  std::vector<double> grad(names.size());
  for (std::size_t r = 0; r < obs.size(); ++r) {
    if (m.law == Law::chinchilla) chinchilla_log_loss(m.theta.data(), chinchilla_inputs(obs[r]), grad.data());
    else dlcm_log_loss(m.theta.data(), dlcm_inputs(obs[r]), m.offsets, grad.data());
    for (Eigen::Index c = 0; c < k; ++c) J(static_cast<Eigen::Index>(r), c) = grad[free[c]];
  }
  for (Eigen::Index c = 0; c < k; ++c) {
    const double norm = J.col(c).norm();
    if (norm > 0) J.col(c) /= norm;
  }
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(J.transpose() * J);
  std::set<std::string> flat;
  for (Eigen::Index e = 0; e < k; ++e) {
    if (eig.eigenvalues()(e) >= kFlatEigenvalue) continue;
    for (Eigen::Index c = 0; c < k; ++c)
      if (std::abs(eig.eigenvectors()(c, e)) > 0.3) flat.insert(std::string(names[free[c]]));
  }
  return {flat.begin(), flat.end()};
}

std::vector<ParamIdentification> identify(const Fit& fit, const Bootstrap& boot, std::span<const Observation> obs) {
  const Law law = fit.model.law;
  const auto names = param_names(law);
  const auto flat = obs.empty() ? std::vector<std::string>{} : flat_parameters(fit.model, obs);
  std::vector<ParamIdentification> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (fixed_offset(fit.model, i)) continue;
    ParamIdentification p{std::string(names[i]), false, ""};
    const auto iv = std::find_if(boot.intervals.begin(), boot.intervals.end(),
                                 [&](const Interval& v) { return v.name == p.name; });
    const bool bounded = std::find(fit.active_bounds.begin(), fit.active_bounds.end(), p.name) != fit.active_bounds.end();
    if (bounded) {
      p.why = "on its bound";
    } else if (std::find(flat.begin(), flat.end(), p.name) != flat.end()) {
      p.why = "along a flat direction of the fit (the runs cannot tell it from another parameter)";
    } else if (iv == boot.intervals.end() || !std::isfinite(iv->low) || !std::isfinite(iv->high)) {
      p.why = "no bootstrap interval";
    } else if (is_log_param(law, i)) {
      const double span = iv->low > 0 ? iv->high / iv->low : INFINITY;
      const double limit = i == 0 ? kMaxIrreducibleSpan : kMaxAmplitudeSpan;  // E and E0 come first
      p.spread = std::log(span) / std::log(limit);
      if (!(span <= limit)) p.why = fmt::format("interval [{:.3g}, {:.3g}] spans {:.3g}x", iv->low, iv->high, span);
    } else {
      const bool is_gamma = p.name == "gamma";
      const double width = iv->high - iv->low;
      p.spread = width / kMaxExponentWidth;
      if (!is_gamma && iv->low <= 0)
        p.why = fmt::format("interval [{:.3g}, {:.3g}] reaches 0", iv->low, iv->high);
      else if (!(width < kMaxExponentWidth))
        p.why = fmt::format("interval [{:.3g}, {:.3g}] is {:.3g} wide", iv->low, iv->high, width);
    }
    p.identified = p.why.empty();
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> unidentified(const std::vector<ParamIdentification>& report) {
  std::vector<std::string> out;
  for (const auto& p : report)
    if (!p.identified) out.push_back(p.name);
  return out;
}

}  // namespace dlcm::fitting
