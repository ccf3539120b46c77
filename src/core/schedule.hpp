#pragma once
#include <cstdint>

#include "core/config.hpp"

namespace dlcm {
// Learning-rate multiplier at `step` (0-based): linear warmup, then cosine to min_lr_ratio, or
// warmup-stable-decay with a linear decay over the last decay_fraction of the steps.
double lr_factor(const TrainConfig& t, int64_t step);
}  // namespace dlcm
