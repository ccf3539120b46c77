// dlcm inspect --positions: loss by position inside a concept as a table (its JSON: core/concept_positions.hpp).
#include <fmt/format.h>

#include <algorithm>

#include "commands.hpp"

namespace dlcm::cli {
namespace {

// "1.234" or, beside a baseline, "1.234 (-0.056)": the DLCM's mean loss and its gap to the baseline.
std::string cell_text(const PositionLoss& r, const PositionCell& c) {
  if (c.count == 0) return "-";
  if (!r.has_baseline()) return fmt::format("{:.3f}", c.loss());
  return fmt::format("{:.3f} ({:+.3f})", c.loss(), c.loss() - c.baseline_loss());
}

}  // namespace

void print_positions(const PositionLoss& r) {
  fmt::print("Loss by position inside a concept: {}{}\n", r.run_dir,
             r.has_baseline() ? fmt::format(" against baseline {}", r.baseline_run_dir) : "");
  fmt::print("{} targets ({} windows per domain of {}), realised R = {:.2f}; each target's loss is bucketed by "
             "that target's place in its concept\n\n",
             r.all.count, r.windows, r.seq_len, r.ratio());
  fmt::print("{:<9} {:>8} {:>7} {:>8}", "position", "targets", "share", "dlcm");
  if (r.has_baseline()) fmt::print(" {:>8} {:>9}", "baseline", "dlcm-base");
  fmt::print("\n");
  for (const auto& [name, c] : position_classes(r)) {
    fmt::print("{:<9} {:>8} {:>6.1f}% {:>8.4f}", name, c->count, 100 * c->count / std::max(1.0, r.all.count), c->loss());
    if (r.has_baseline()) fmt::print(" {:>8.4f} {:>+9.4f}", c->baseline_loss(), c->loss() - c->baseline_loss());
    fmt::print("\n");
  }
  fmt::print("\nBy concept length L and position in the concept (1 = first), mean loss{}:\n",
             r.has_baseline() ? " (dlcm - baseline)" : "");
  const int width = r.has_baseline() ? 16 : 7;
  fmt::print("{:<6} {:>8}", "L", "concepts");
  for (int k = 1; k <= r.max_length; ++k) fmt::print(" {:>{}}", k, width);
  fmt::print("\n");
  for (int L = 1; L <= r.max_length; ++L) {
    const auto& row = r.by_length[L - 1];
    fmt::print("{:<6} {:>8}", L, row.back().count);
    for (const auto& c : row) fmt::print(" {:>{}}", cell_text(r, c), width);
    fmt::print("\n");
  }
  fmt::print("{:<6} {:>8}  first {}  internal {}  last {}\n", fmt::format(">{}", r.max_length), r.longer[2].count,
             cell_text(r, r.longer[0]), cell_text(r, r.longer[1]), cell_text(r, r.longer[2]));
}

}  // namespace dlcm::cli
