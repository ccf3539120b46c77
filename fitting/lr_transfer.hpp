#pragma once
// μP learning-rate transfer, the fit (DESIGN §5): each width's final loss against log2(lr) gives its
// optimal rate, a parabola through the minimum and up to two trained neighbours on each side; the
// spread of those optima across widths says whether the rate transfers. The grid, its runs and the
// losses they left are sweeps/lr_transfer.hpp's.
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace dlcm::fitting {

// One width's curve: its losses over the rate grid, and the optimum analyse_lr_transfer finds.
struct TransferResult {
  Parametrisation parametrisation;
  std::string axis;
  int width_token = 0, width_concept = 0;
  std::vector<double> lrs;                    // ascending
  std::vector<std::optional<double>> losses;  // mean over seeds of the final validation loss; none:
                                              // diverged (or not finished) at some seed
  std::vector<std::string> notes;             // why a point is missing
  std::optional<double> best_lr, best_lr_lo, best_lr_hi;
  std::string method;  // "parabola" (±1 standard error), "parabola-bracket" (3 points: the
                       // neighbours bound it), "grid-edge" (minimum at the edge: no vertex),
                       // "grid-min" (no upward parabola), "none"
  int points_fitted = 0;
  bool operator==(const TransferResult&) const = default;
};

struct TransferShift {
  Parametrisation parametrisation;
  std::string axis;
  double log2_shift = 0;  // max − min of log2(best lr) over the axis's widths
  double grid_steps = 0;  // the same in steps of the lr grid (its median log2 ratio)
  int widths = 0;         // widths with an optimum
  bool operator==(const TransferShift&) const = default;
};

// A study's curves as its runs left them: lrs, losses and notes of each; no optimum yet.
struct TransferCurves {
  std::string name;
  std::string rate;  // which base rate the grid varied (the spec's `rate`)
  int d_token_base = 0, d_concept_base = 0;
  std::vector<TransferResult> curves;  // parametrisation, then axis, then width
};

struct TransferAnalysis {
  std::string name;
  std::string rate;
  std::vector<TransferResult> results;
  std::vector<TransferShift> shifts;  // one per parametrisation and axis, in the curves' order
  std::optional<double> best_base_lr_mup, best_base_lr_standard;  // at (d_token_base, d_concept_base)
  std::string base_method_mup;    // how the μP optimum at the base widths was found (TransferResult::method)
  int d_token_base = 0, d_concept_base = 0;
  bool operator==(const TransferAnalysis&) const = default;
};

TransferAnalysis analyse_lr_transfer(TransferCurves c);
// The stored and printed JSON (keys: name, rate, base_widths, base_method_mup, results, shifts,
// best_base_lr); transfer_analysis_from_json reads it back for sweeps' lr_from, recommend and the
// report. Rows older than a key read it as its default (rate "all"); text that is not a study's
// JSON throws.
std::string to_json(const TransferAnalysis& a);
TransferAnalysis transfer_analysis_from_json(const std::string& text);
// A readable table of the same.
std::string format_table(const TransferAnalysis& a);

}  // namespace dlcm::fitting
