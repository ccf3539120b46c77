#include "core/duration.hpp"

#include <fmt/format.h>

#include <cstdint>

namespace dlcm {

std::string format_duration(double seconds) {
  const auto v = static_cast<int64_t>(seconds);
  return v >= 3600 ? fmt::format("{}h{:02d}m", v / 3600, v / 60 % 60) : fmt::format("{}m{:02d}s", v / 60, v % 60);
}

}  // namespace dlcm
