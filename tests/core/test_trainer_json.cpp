// The trainer's results as JSON (core/concept_positions.hpp, core/inspection.hpp): `dlcm report`
// reads them back from dlcm-train's output, so each reader inverts its writer, and a broken output
// fails in one line naming the field.
#include <gtest/gtest.h>

#include <cmath>

#include "core/concept_positions.hpp"
#include "core/inspection.hpp"
#include "test_util.hpp"

using namespace dlcm;

namespace {

// Two lengths tabulated, a baseline, one empty bucket (single): sums chosen so every mean is exact.
PositionLoss sample() {
  PositionLoss r;
  r.run_dir = "runs/d";
  r.baseline_run_dir = "runs/b";
  r.seq_len = 16;
  r.windows = 2;
  r.max_length = 2;
  r.concepts = 12;
  r.all = {32, 64, 72};
  r.first = {10, 25, 30};
  r.internal = {0, 0, 0};
  r.last = {10, 15, 17.5};
  r.open = {12, 24, 24.5};
  r.by_length = {{{0, 0, 0}}, {{4, 10, 12}, {4, 6, 7}}};
  r.longer = {PositionCell{6, 15, 18}, PositionCell{0, 0, 0}, PositionCell{6, 9, 10.5}};
  return r;
}

}  // namespace

TEST(TrainerJson, LossByPositionReadsBackWhatItWrote) {
  const auto r = sample();
  const auto j = nlohmann::json::parse(to_json(r).dump());  // as dlcm reads it from the trainer
  EXPECT_EQ(j["classes"]["first"]["loss"].get<double>(), 2.5);
  EXPECT_EQ(j["classes"]["first"]["delta"].get<double>(), -0.5);
  EXPECT_TRUE(j["classes"]["single"]["loss"].is_null());
  const auto back = position_loss_from_json(j);
  EXPECT_EQ(to_json(back).dump(), j.dump());
  EXPECT_EQ(back.max_length, 2);
  EXPECT_EQ(back.seq_len, 16);
  EXPECT_EQ(back.windows, 2);
  EXPECT_EQ(back.concepts, 12);
  EXPECT_EQ(back.last.baseline_loss_sum, 17.5);
  EXPECT_EQ(back.by_length[1][0].loss_sum, 10);
  EXPECT_EQ(back.longer[2].count, 6);
  EXPECT_EQ(back.single.loss_sum, 0);

  PositionLoss alone = r;  // without a baseline: no baseline sums, and the JSON says null
  alone.baseline_run_dir.clear();
  const auto a = position_loss_from_json(to_json(alone));
  EXPECT_FALSE(a.has_baseline());
  EXPECT_EQ(a.first.baseline_loss_sum, 0);
  EXPECT_EQ(a.first.loss_sum, 25);
}

TEST(TrainerJson, ABrokenOutputNamesTheField) {
  auto j = to_json(sample());
  j["classes"]["last"].erase("count");
  EXPECT_EQ(test::error_of([&] { position_loss_from_json(j); }), "loss by position: classes.last.count is missing");
  j = to_json(sample());
  j["by_length"][1]["positions"].erase(1);
  EXPECT_EQ(test::error_of([&] { position_loss_from_json(j); }),
            "loss by position: by_length[1].positions does not hold 2 cells");
  EXPECT_EQ(test::error_of([&] { position_loss_from_json(nlohmann::json::array()); }), "loss by position: run_dir is missing");
}

TEST(TrainerJson, InspectionReadsBackWhatItWrote) {
  const Inspection r{{72, 105}, {1, 0}, {-0.5}, {0.9, 0.25}};
  const auto back = inspection_from_json(nlohmann::json::parse(to_json(r).dump()));
  EXPECT_EQ(back.tokens, r.tokens);
  EXPECT_EQ(back.boundaries, r.boundaries);
  EXPECT_EQ(back.next_token_logprob, r.next_token_logprob);
  EXPECT_EQ(back.boundary_prob, r.boundary_prob);
  auto j = to_json(r);
  j["boundaries"] = "x";
  EXPECT_EQ(test::error_of([&] { inspection_from_json(j); }), "inspection: boundaries is missing or not a list of numbers");
}
