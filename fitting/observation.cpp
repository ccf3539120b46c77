#include "fitting/observation.hpp"

#include <algorithm>
#include <numeric>

namespace dlcm::fitting {

std::vector<std::vector<std::size_t>> group_by_budget(std::span<const Observation> obs,
                                                      double rel_tol) {
  std::vector<std::size_t> order(obs.size());
  std::iota(order.begin(), order.end(), 0);
  const bool labelled =
      !obs.empty() && std::all_of(obs.begin(), obs.end(), [](const Observation& o) { return o.budget > 0; });
  if (labelled) {
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t i, std::size_t j) { return obs[i].budget < obs[j].budget; });
    std::vector<std::vector<std::size_t>> groups;
    for (std::size_t i : order) {
      if (groups.empty() || obs[i].budget != obs[groups.back()[0]].budget) groups.emplace_back();
      groups.back().push_back(i);
    }
    return groups;
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t i, std::size_t j) { return compute(obs[i]) < compute(obs[j]); });
  std::vector<std::vector<std::size_t>> groups;
  double first = 0;
  for (std::size_t i : order) {
    const double c = compute(obs[i]);
    if (groups.empty() || c > first * (1 + rel_tol)) {
      groups.emplace_back();
      first = c;
    }
    groups.back().push_back(i);
  }
  return groups;
}

std::vector<Observation> select(std::span<const Observation> obs, std::span<const std::size_t> rows) {
  std::vector<Observation> out;
  out.reserve(rows.size());
  for (std::size_t i : rows) out.push_back(obs[i]);
  return out;
}

}  // namespace dlcm::fitting
