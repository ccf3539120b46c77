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

// Which boundaries the widths pool with. fixed: one every round(R) tokens at every width, so the
// concept side of every width sees the same concepts. sampled: the config's own boundary mode;
// the detector's p = (1 − cos)/2 of random features concentrates around its mean as 1/sqrt(d), so
// the sharpened samples, hence the segment lengths, then differ between widths from the start
// (pooling slope −0.2 at initialisation) and the concept-side slopes carry that too.
enum class CoordSegmentation { fixed, sampled };

struct CoordCheckOptions {
  // Widths to compare. Only token widths: d_concept stays as configured (and vice versa); both
  // lists: paired entry by entry (same length) and scaled together, slopes against log d_token.
  std::vector<int> widths_token, widths_concept;
  int steps = 4;   // optimizer steps (constant learning rates = the config's, no clipping)
  int seeds = 3;   // each width is run with seeds 1..seeds (initialisation and boundary samples)
  int threads = 0; // 0: leave LibTorch's default
  CoordSegmentation segmentation = CoordSegmentation::fixed;
  double band = 0.25; // a family passes when |its seed-averaged slope after the last step| <= band
};

struct CoordPoint {
  std::string family;
  int width_token = 0, width_concept = 0;
  int step = 0;           // optimizer updates applied before this forward (0: initialisation)
  double mean_abs = 0;    // geometric mean over seeds of the family's mean |activation|
};

struct CoordCheck {
  std::string axis;                    // "token", "concept" or "both": which width the slopes use
  std::vector<int> widths_token, widths_concept;  // one entry per width point
  std::vector<double> realised_ratio;  // per width point: tokens per concept in its training
                                       // forwards, mean over seeds and steps (1 for a baseline)
  std::vector<CoordPoint> curves;
  // family → slope of log mean|act| against log width, one per step 0..steps: each seed's own
  // slope, then their mean (= the slope of `curves`) and standard deviation.
  std::map<std::string, std::vector<double>> slopes, slope_sd;
  double band = 0;
  std::map<std::string, bool> pass;    // family → |slope after the last step| <= band
};

// Throws std::runtime_error for widths the model cannot take (heads must divide them).
CoordCheck coord_check(const RunConfig& cfg, const CoordCheckOptions& opt);

// Least-squares slope of y against x.
double fit_slope(const std::vector<double>& x, const std::vector<double>& y);

const char* name(CoordSegmentation s);

}  // namespace dlcm::train
