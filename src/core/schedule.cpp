#include "core/schedule.hpp"

#include <algorithm>
#include <cmath>

namespace dlcm {

double lr_factor(const TrainConfig& t, int64_t step) {
  if (step < t.warmup_steps) return static_cast<double>(step + 1) / static_cast<double>(t.warmup_steps);
  const double lo = t.min_lr_ratio;
  if (t.schedule == Schedule::cosine) {
    const double span = std::max<double>(1.0, static_cast<double>(t.steps - t.warmup_steps));
    const double progress = std::clamp((step - t.warmup_steps) / span, 0.0, 1.0);
    return lo + (1.0 - lo) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  const auto decay_steps = static_cast<int64_t>(std::round(t.decay_fraction * static_cast<double>(t.steps)));
  const int64_t decay_start = t.steps - decay_steps;
  if (step < decay_start || decay_steps == 0) return 1.0;
  const double progress = std::clamp(static_cast<double>(step - decay_start + 1) / decay_steps, 0.0, 1.0);
  return 1.0 - (1.0 - lo) * progress;
}

}  // namespace dlcm
