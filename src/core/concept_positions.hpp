#pragma once
// The result of the loss-by-position analysis (train/positions.hpp computes it in dlcm-train; the
// CLI and the report show it): plain types with no LibTorch, in core so every layer above may read
// them, and their JSON, which carries them from the trainer's process to the report's.
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace dlcm {

// Nats summed over the targets of one bucket, for the DLCM and (when given) the baseline.
struct PositionCell {
  double count = 0, loss_sum = 0, baseline_loss_sum = 0;
  double loss() const { return count > 0 ? loss_sum / count : NAN; }
  double baseline_loss() const { return count > 0 ? baseline_loss_sum / count : NAN; }
  void add(double nats, double baseline_nats) { count += 1, loss_sum += nats, baseline_loss_sum += baseline_nats; }
};

// Every loss is that of a *target*: −log p(x_j | x_<j), bucketed by token j's place in its concept
// (the concept it belongs to under the thresholded boundaries of the DLCM's forward pass over the
// window). A window's first concept starts at its token 0, which is never a target; its last
// concept runs past the window's end, so its length and last token are unknown: its targets are
// `open`. Every other concept is closed, and its tokens are first / internal / last (L ≥ 2) or single.
struct PositionLoss {
  std::string run_dir, baseline_run_dir;  // baseline_run_dir empty: no baseline
  int64_t seq_len = 0;                    // T: targets per window
  int windows = 0;                        // windows per validation domain
  int max_length = 0;                     // by_length's longest row
  double concepts = 0;                    // boundaries over the windows' T inputs (the evaluator's count)
  PositionCell all;                       // every target: the evaluator's validation loss
  PositionCell single, first, internal, last, open;  // partition `all`
  // by_length[L-1][k]: the k-th token (0-based) of closed concepts of L tokens, L = 1..max_length.
  std::vector<std::vector<PositionCell>> by_length;
  std::array<PositionCell, 3> longer;  // first, internal, last tokens of closed concepts longer than that
  bool has_baseline() const { return !baseline_run_dir.empty(); }
  double ratio() const { return concepts > 0 ? all.count / concepts : 1; }  // evaluate()'s realised R
};

// The partition of `all` by position class, in reading order, with its names ("all" first).
inline std::vector<std::pair<const char*, const PositionCell*>> position_classes(const PositionLoss& r) {
  return {{"all", &r.all},     {"single", &r.single}, {"first", &r.first},
          {"internal", &r.internal}, {"last", &r.last},     {"open", &r.open}};
}

// `dlcm-train inspect --positions --json`: per bucket its count and mean losses (null for an empty
// bucket), and beside a baseline the gap. The report reads it back from the trainer's output.
nlohmann::json to_json(const PositionLoss& r);
// The inverse of to_json (sums from count × mean). Throws naming the missing or mistyped field.
PositionLoss position_loss_from_json(const nlohmann::json& j);

}  // namespace dlcm
