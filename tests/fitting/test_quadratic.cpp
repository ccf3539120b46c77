// The one parabola fit: exact coefficients and vertex, the vertex's standard error, and what it
// refuses.
#include <gtest/gtest.h>

#include <cmath>

#include "fitting/quadratic.hpp"

namespace dlcm::fitting {
namespace {

TEST(Quadratic, FindsTheExactVertexOfAKnownParabola) {
  // 2(x − 1.25)² + 3 = 2u² − u + 3.125 in u = x − 1, the mean of x.
  std::vector<double> x = {-1, 0, 1, 2, 3}, y;
  for (double v : x) y.push_back(2 * (v - 1.25) * (v - 1.25) + 3);
  const auto q = fit_quadratic(x, y);
  EXPECT_DOUBLE_EQ(q.mean, 1);
  EXPECT_NEAR(q.a, 2, 1e-12);
  EXPECT_NEAR(q.b, -1, 1e-12);
  EXPECT_NEAR(q.c, 3.125, 1e-12);
  EXPECT_NEAR(q.vertex, 1.25, 1e-12);
  EXPECT_NEAR(q.extremum, 3, 1e-12);
  EXPECT_NEAR(q.vertex_se, 0, 1e-6);  // an exact fit leaves no residual
  ASSERT_EQ(q.residuals.size(), 5u);
  for (double r : q.residuals) EXPECT_NEAR(r, 0, 1e-12);
}

TEST(Quadratic, VertexUncertaintyGrowsWithNoiseAndNeedsMoreThanThreePoints) {
  const std::vector<double> x = {0, 1, 2, 3, 4};
  const std::vector<double> y = {4.1, 0.9, 0.1, 1.05, 3.9};  // (x − 2)² with ±0.1 noise
  const auto q = fit_quadratic(x, y);
  EXPECT_NEAR(q.vertex, 2, 0.05);
  EXPECT_GT(q.vertex_se, 0.001);
  EXPECT_LT(q.vertex_se, 0.1);
  double rss = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double u = x[i] - q.mean, fitted = q.a * u * u + q.b * u + q.c;
    EXPECT_NEAR(q.residuals[i], fitted - y[i], 1e-12);
    rss += q.residuals[i] * q.residuals[i];
  }
  EXPECT_NEAR(q.rss, rss, 1e-12);
  const auto three = fit_quadratic(std::vector<double>{0, 1, 2}, std::vector<double>{1, 0, 1});
  EXPECT_NEAR(three.vertex, 1, 1e-12);
  EXPECT_TRUE(std::isnan(three.vertex_se));
}

TEST(Quadratic, NoSingleParabolaThroughFewerThanThreeDistinctPoints) {
  EXPECT_TRUE(std::isnan(fit_quadratic(std::vector<double>{0, 1}, std::vector<double>{1, 0}).a));
  EXPECT_TRUE(std::isnan(fit_quadratic(std::vector<double>{0, 1, 1, 0}, std::vector<double>{1, 0, 2, 3}).a));
  const auto line = fit_quadratic(std::vector<double>{0, 1, 2}, std::vector<double>{0, 1, 2});
  EXPECT_NEAR(line.a, 0, 1e-12);  // a line is the parabola with a = 0
}

}  // namespace
}  // namespace dlcm::fitting
