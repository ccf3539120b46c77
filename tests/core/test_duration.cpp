// Seconds as text (core/duration.hpp): the trainer's ETA and the sweep's ETA and estimate read alike.
#include <gtest/gtest.h>

#include "core/duration.hpp"

using namespace dlcm;

TEST(Duration, MinutesAndSecondsBelowAnHourHoursAndMinutesFromIt) {
  EXPECT_EQ(format_duration(0), "0m00s");
  EXPECT_EQ(format_duration(65.9), "1m05s");
  EXPECT_EQ(format_duration(3599), "59m59s");
  EXPECT_EQ(format_duration(3600), "1h00m");
  EXPECT_EQ(format_duration(7322), "2h02m");
  EXPECT_EQ(format_duration(1e8), "27777h46m");  // no cap: a sweep's estimate may be long
}
