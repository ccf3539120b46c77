#include "fitting/quadratic.hpp"

#include <Eigen/Dense>
#include <algorithm>

namespace dlcm::fitting {

Quadratic fit_quadratic(std::span<const double> x, std::span<const double> y) {
  Quadratic q;
  const auto n = static_cast<Eigen::Index>(x.size());
  if (n < 3 || y.size() != x.size()) return q;
  double mean = 0;
  for (double v : x) mean += v / static_cast<double>(n);
  Eigen::MatrixXd X(n, 3);
  Eigen::VectorXd Y(n);
  for (Eigen::Index k = 0; k < n; ++k) {
    const double u = x[k] - mean;
    X.row(k) << u * u, u, 1.0;
    Y(k) = y[k];
  }
  const auto qr = X.colPivHouseholderQr();
  if (qr.rank() < 3) return q;
  const Eigen::Vector3d coef = qr.solve(Y);
  const Eigen::VectorXd res = X * coef - Y;
  q.mean = mean;
  q.a = coef(0), q.b = coef(1), q.c = coef(2);
  q.rss = res.squaredNorm();
  q.residuals.assign(res.data(), res.data() + n);
  if (q.a == 0) return q;
  q.vertex = mean - q.b / (2 * q.a);
  q.extremum = q.c - q.b * q.b / (4 * q.a);
  if (n > 3) {
    const Eigen::Matrix3d cov = (q.rss / static_cast<double>(n - 3)) * (X.transpose() * X).inverse();
    const Eigen::Vector3d grad(q.b / (2 * q.a * q.a), -1 / (2 * q.a), 0);  // ∂vertex/∂(a, b, c)
    q.vertex_se = std::sqrt(std::max(0.0, grad.dot(cov * grad)));
  }
  return q;
}

}  // namespace dlcm::fitting
