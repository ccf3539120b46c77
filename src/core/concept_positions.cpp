#include "core/concept_positions.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace dlcm {
namespace {

using nlohmann::json;

json cell_json(const PositionLoss& r, const PositionCell& c) {
  json j = {{"count", c.count}, {"loss", c.loss()}};  // NaN (an empty bucket) dumps as null
  if (r.has_baseline()) j.update({{"baseline_loss", c.baseline_loss()}, {"delta", c.loss() - c.baseline_loss()}});
  return j;
}

const json& field(const json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key))
    throw std::runtime_error(fmt::format("loss by position: {}{} is missing", where, key));
  return j.at(key);
}

double number(const json& j, const char* key, const std::string& where) {
  const auto& v = field(j, key, where);
  if (!v.is_number()) throw std::runtime_error(fmt::format("loss by position: {}{} is not a number", where, key));
  return v.get<double>();
}

// An empty bucket's means are null: its sums are 0.
PositionCell cell_from_json(const json& j, bool baseline, const std::string& where) {
  PositionCell c;
  c.count = number(j, "count", where);
  if (c.count == 0) return c;
  c.loss_sum = number(j, "loss", where) * c.count;
  if (baseline) c.baseline_loss_sum = number(j, "baseline_loss", where) * c.count;
  return c;
}

}  // namespace

json to_json(const PositionLoss& r) {
  json classes;
  for (const auto& [name, c] : position_classes(r)) classes[name] = cell_json(r, *c);
  json by_length = json::array();
  for (int L = 1; L <= r.max_length; ++L) {
    json cells = json::array();
    for (const auto& c : r.by_length[L - 1]) cells.push_back(cell_json(r, c));
    by_length.push_back({{"length", L}, {"concepts", r.by_length[L - 1].back().count}, {"positions", cells}});
  }
  return {{"run_dir", r.run_dir},
          {"baseline_run_dir", r.has_baseline() ? json(r.baseline_run_dir) : json()},
          {"bucketed_by", "target"},
          {"seq_len", r.seq_len},
          {"windows_per_domain", r.windows},
          {"targets", r.all.count},
          {"concepts", r.concepts},
          {"ratio", r.ratio()},
          {"classes", classes},
          {"by_length", by_length},
          {"longer",
           {{"than", r.max_length},
            {"concepts", r.longer[2].count},
            {"first", cell_json(r, r.longer[0])},
            {"internal", cell_json(r, r.longer[1])},
            {"last", cell_json(r, r.longer[2])}}}};
}

PositionLoss position_loss_from_json(const json& j) {
  PositionLoss r;
  const auto& run_dir = field(j, "run_dir", "");
  const auto& baseline = field(j, "baseline_run_dir", "");
  if (!run_dir.is_string()) throw std::runtime_error("loss by position: run_dir is not a string");
  r.run_dir = run_dir.get<std::string>();
  if (baseline.is_string()) r.baseline_run_dir = baseline.get<std::string>();
  const bool b = r.has_baseline();
  r.seq_len = static_cast<int64_t>(number(j, "seq_len", ""));
  r.windows = static_cast<int>(number(j, "windows_per_domain", ""));
  r.concepts = number(j, "concepts", "");
  const auto& classes = field(j, "classes", "");
  PositionCell* cells[] = {&r.all, &r.single, &r.first, &r.internal, &r.last, &r.open};
  const char* names[] = {"all", "single", "first", "internal", "last", "open"};
  for (int i = 0; i < 6; ++i) *cells[i] = cell_from_json(field(classes, names[i], "classes."), b, fmt::format("classes.{}.", names[i]));
  const auto& by_length = field(j, "by_length", "");
  if (!by_length.is_array()) throw std::runtime_error("loss by position: by_length is not an array");
  r.max_length = static_cast<int>(by_length.size());
  for (int L = 1; L <= r.max_length; ++L) {
    const std::string where = fmt::format("by_length[{}].", L - 1);
    const auto& positions = field(by_length[L - 1], "positions", where);
    if (!positions.is_array() || static_cast<int>(positions.size()) != L)
      throw std::runtime_error(fmt::format("loss by position: {}positions does not hold {} cells", where, L));
    auto& row = r.by_length.emplace_back();
    for (const auto& c : positions) row.push_back(cell_from_json(c, b, where + "positions."));
  }
  const auto& longer = field(j, "longer", "");
  const char* parts[] = {"first", "internal", "last"};
  for (int i = 0; i < 3; ++i) r.longer[i] = cell_from_json(field(longer, parts[i], "longer."), b, fmt::format("longer.{}.", parts[i]));
  return r;
}

}  // namespace dlcm
