#pragma once
// μP coordinate check (DESIGN §5, as in microsoft/mup): train copies of one config at several
// widths for a few steps on one fixed batch and record the mean |activation| of every module
// family. Under μP the curves do not move with width; under standard parametrisation the output
// and hidden families grow. Plain C++ interface: the CLI never includes LibTorch.
#include <map>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace dlcm::train {

struct CoordCheckOptions {
  // Widths to compare. Only token widths: d_concept stays as configured (and vice versa); both
  // lists: paired entry by entry (same length) and scaled together, slopes against log d_token.
  std::vector<int> widths_token, widths_concept;
  int steps = 4;   // optimizer steps (constant learning rate = the config's, no clipping)
  int seeds = 3;   // each width is averaged over seeds 1..seeds (initialisation and boundary samples)
  int threads = 0; // 0: leave LibTorch's default
};

struct CoordPoint {
  std::string family;
  int width_token = 0, width_concept = 0;
  int step = 0;           // optimizer updates applied before this forward (0: initialisation)
  double mean_abs = 0;    // mean over seeds of the family's mean |activation|
};

struct CoordCheck {
  std::string axis;                    // "token", "concept" or "both": which width the slopes use
  std::vector<int> widths_token, widths_concept;  // one entry per width point
  std::vector<CoordPoint> curves;
  // family → slope of log mean|act| against log width, one per step 0..steps.
  std::map<std::string, std::vector<double>> slopes;
};

// Throws std::runtime_error for widths the model cannot take (heads must divide them).
CoordCheck coord_check(const RunConfig& cfg, const CoordCheckOptions& opt);

// Least-squares slope of y against x.
double fit_slope(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace dlcm::train
