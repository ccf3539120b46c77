#include <gtest/gtest.h>

#include "core/schedule.hpp"

using namespace dlcm;

TEST(Schedule, CosineWarmsUpThenDecaysToTheFloor) {
  TrainConfig t;
  t.steps = 110;
  t.warmup_steps = 10;
  t.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(lr_factor(t, 0), 0.1);
  EXPECT_DOUBLE_EQ(lr_factor(t, 9), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(t, 10), 1.0);
  EXPECT_NEAR(lr_factor(t, 60), 0.55, 1e-12);  // halfway: (1 + 0.1) / 2
  EXPECT_NEAR(lr_factor(t, 110), 0.1, 1e-12);
}

TEST(Schedule, WarmupStableDecayHoldsThenDecaysLinearly) {
  TrainConfig t;
  t.schedule = Schedule::wsd;
  t.steps = 100;
  t.warmup_steps = 10;
  t.decay_fraction = 0.2;
  t.min_lr_ratio = 0.0;
  EXPECT_DOUBLE_EQ(lr_factor(t, 50), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(t, 79), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(t, 80), 1.0 - 1.0 / 20);
  EXPECT_DOUBLE_EQ(lr_factor(t, 89), 0.5);
  EXPECT_DOUBLE_EQ(lr_factor(t, 99), 0.0);
}
