#pragma once
// Seconds as people read them, one format for every ETA and wall-time estimate dlcm prints.
#include <string>

namespace dlcm {

// "1h02m" from an hour up, "4m05s" below; whole seconds, truncated.
std::string format_duration(double seconds);

}  // namespace dlcm
