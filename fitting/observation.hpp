#pragma once
// One finished training run, as the fits see it: sizes, tokens, compute and final loss.
#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

namespace dlcm::fitting {

struct Observation {
  double N = 0;     // total parameters
  double D = 0;     // training tokens
  double loss = 0;  // final (validation) loss, nats per token
  double P = 0;     // backbone share of N (dlcm law only)
  double R = 1;     // realised compression ratio (dlcm law only)
  double C = 0;     // training FLOPs; 0 means 6·N·D
  int line = 0;     // where the run came from (CSV line), for messages; 0 if unknown
  double budget = 0;  // the planned compute budget of a sweep run (its label); 0 if none
};

// Training compute of a run: its C when given, else 6·N·D.
inline double compute(const Observation& o) { return o.C > 0 ? o.C : 6.0 * o.N * o.D; }

// The largest training compute among runs (0 for none).
inline double largest_compute(std::span<const Observation> obs) {
  double c = 0;
  for (const auto& o : obs) c = std::max(c, compute(o));
  return c;
}

// Groups runs into compute budgets, smallest first. When every run carries a budget label, runs with
// the same label form a budget: realised compute differs from the plan by up to ~10% (realised R,
// batch rounding), which must not split a budget or merge two. Otherwise by C: a budget takes every
// run within rel_tol of its smallest run's C.
std::vector<std::vector<std::size_t>> group_by_budget(std::span<const Observation> obs,
                                                      double rel_tol = 0.05);

// The runs at `rows`, in that order (bootstrap resamples, held-out splits).
std::vector<Observation> select(std::span<const Observation> obs, std::span<const std::size_t> rows);

}  // namespace dlcm::fitting
