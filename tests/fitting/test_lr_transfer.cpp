// Learning-rate transfer, the fit: each width's optimum from its losses over the rate grid (a
// diverged rate left out), how the optimum was found at the grid's edges and gaps, the shift
// across widths, the base widths' optimum, and the JSON keys `sweeps::resolve_lr_from` reads.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "fitting/lr_transfer.hpp"

namespace dlcm::fitting {
namespace {

using nlohmann::json;

const std::vector<double> kLrs = {1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2};

// A curve whose loss is a parabola in log2(lr) with its vertex at `vertex`.
TransferResult curve(const std::string& axis, int width_token, int width_concept, double vertex) {
  TransferResult r;
  r.parametrisation = Parametrisation::mup;
  r.axis = axis;
  r.width_token = width_token;
  r.width_concept = width_concept;
  r.lrs = kLrs;
  for (double lr : kLrs) r.losses.push_back(2.0 + 0.3 * (std::log2(lr) - vertex) * (std::log2(lr) - vertex));
  return r;
}

// A study named "t" over every group's rate, at base widths (32, 64).
TransferCurves empty_study() {
  TransferCurves c;
  c.name = "t";
  c.rate = "all";
  c.d_token_base = 32;
  c.d_concept_base = 64;
  return c;
}

// Two axes × two widths from the base widths: the optimum at 2^-8 for d_token 32 and 2^-7.5 at 64,
// where the largest rate diverged.
TransferCurves study() {
  TransferCurves c = empty_study();
  for (const std::string axis : {"token", "both"})
    for (int d : {32, 64}) {
      auto r = curve(axis, d, axis == "token" ? 64 : 2 * d, d == 32 ? -8.0 : -7.5);
      if (d == 64) {
        r.losses.back() = std::nullopt;
        r.notes.push_back("lr 0.016 seed 1: diverged");
      }
      c.curves.push_back(r);
    }
  return c;
}

TEST(LrTransferAnalysis, FindsEachWidthsOptimumWithoutTheDivergedRateAndMeasuresTheShift) {
  const auto a = analyse_lr_transfer(study());
  ASSERT_EQ(a.results.size(), 4u);
  for (const auto& r : a.results) {
    SCOPED_TRACE(r.axis + " d" + std::to_string(r.width_token));
    ASSERT_TRUE(r.best_lr);
    EXPECT_NEAR(std::log2(*r.best_lr), r.width_token == 32 ? -8.0 : -7.5, 1e-9);
    EXPECT_EQ(r.method, "parabola");  // 4–5 points: the fit's covariance gives the interval
    EXPECT_LE(*r.best_lr_lo, *r.best_lr);
    EXPECT_GE(*r.best_lr_hi, *r.best_lr);
    EXPECT_EQ(r.points_fitted, r.width_token == 32 ? 5 : 4);  // two each side of the minimum, as trained
  }
  ASSERT_EQ(a.shifts.size(), 2u);
  EXPECT_EQ(a.shifts[0].axis, "token");
  EXPECT_EQ(a.shifts[1].axis, "both");
  for (const auto& s : a.shifts) {
    EXPECT_EQ(s.widths, 2);
    EXPECT_NEAR(s.log2_shift, 0.5, 1e-9);
    EXPECT_NEAR(s.grid_steps, 0.5, 1e-9);  // the grid doubles the rate each step
  }
  ASSERT_TRUE(a.best_base_lr_mup);
  EXPECT_NEAR(std::log2(*a.best_base_lr_mup), -8.0, 1e-9);
  EXPECT_EQ(a.base_method_mup, "parabola");
  EXPECT_FALSE(a.best_base_lr_standard);
  const auto j = json::parse(to_json(a));
  for (const char* k : {"name", "rate", "base_widths", "base_method_mup", "results", "shifts", "best_base_lr"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["rate"], "all");
  EXPECT_EQ(j["base_widths"], json({{"d_token", 32}, {"d_concept", 64}}));
  EXPECT_EQ(j["best_base_lr"]["mup"].get<double>(), *a.best_base_lr_mup);
  for (const char* k : {"parametrisation", "axis", "width_token", "width_concept", "lrs", "losses", "best_lr",
                        "best_lr_lo", "best_lr_hi", "method", "points_fitted", "notes"})
    EXPECT_TRUE(j["results"][0].contains(k)) << k;
  EXPECT_TRUE(j["results"][3]["losses"][4].is_null());
  EXPECT_EQ(j["results"][3]["notes"][0], "lr 0.016 seed 1: diverged");
}

TEST(LrTransferAnalysis, EdgesAndGapsOfTheGridSayHowTheOptimumWasFound) {
  TransferCurves c = empty_study();
  c.curves.push_back(curve("token", 32, 64, -11));  // falling to the smallest rate
  c.curves.push_back(curve("token", 64, 64, -8));
  c.curves.back().losses[0] = c.curves.back().losses[4] = std::nullopt;  // 3 points left
  c.curves.push_back(curve("token", 128, 64, -8));
  for (auto& l : c.curves.back().losses) l = std::nullopt;  // nothing trained
  const auto a = analyse_lr_transfer(c);
  const auto& edge = a.results[0];
  EXPECT_EQ(edge.method, "grid-edge");
  EXPECT_EQ(*edge.best_lr, 1e-3);
  EXPECT_EQ(*edge.best_lr_lo, 1e-3);
  EXPECT_EQ(*edge.best_lr_hi, 2e-3);  // the optimum may lie beyond: bounded by the next rate only
  const auto& three = a.results[1];
  EXPECT_EQ(three.method, "parabola-bracket");
  EXPECT_EQ(three.points_fitted, 3);
  EXPECT_NEAR(std::log2(*three.best_lr), -8.0, 1e-9);
  EXPECT_EQ(*three.best_lr_lo, 2e-3);
  EXPECT_EQ(*three.best_lr_hi, 8e-3);
  EXPECT_EQ(a.results[2].method, "none");
  EXPECT_FALSE(a.results[2].best_lr);
  ASSERT_EQ(a.shifts.size(), 1u);
  EXPECT_EQ(a.shifts[0].widths, 2);
  EXPECT_EQ(a.base_method_mup, "grid-edge");  // what sweeps::resolve_lr_from refuses
}

}  // namespace
}  // namespace dlcm::fitting
