#include "fitting/lr_transfer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "fitting/quadratic.hpp"

namespace dlcm::fitting {
namespace {

using nlohmann::json;

double median_log2_step(std::vector<double> lrs) {
  std::sort(lrs.begin(), lrs.end());
  std::vector<double> steps;
  for (size_t i = 1; i < lrs.size(); ++i) steps.push_back(std::log2(lrs[i] / lrs[i - 1]));
  if (steps.empty()) return 1.0;
  std::nth_element(steps.begin(), steps.begin() + steps.size() / 2, steps.end());
  return steps[steps.size() / 2];
}

// The optimum of one width's loss curve (lrs ascending).
void find_optimum(TransferResult& r) {
  std::vector<size_t> valid;
  for (size_t i = 0; i < r.losses.size(); ++i)
    if (r.losses[i]) valid.push_back(i);
  if (valid.empty()) {
    r.method = "none";
    return;
  }
  size_t at = 0;  // position of the minimum within `valid`
  for (size_t j = 1; j < valid.size(); ++j)
    if (*r.losses[valid[j]] < *r.losses[valid[at]]) at = j;
  const size_t i = valid[at];
  const auto bracket = [&] {
    r.best_lr_lo = r.lrs[i > 0 ? i - 1 : i];
    r.best_lr_hi = r.lrs[i + 1 < r.lrs.size() ? i + 1 : i];
  };
  r.best_lr = r.lrs[i];
  // Minimum at the edge of what trained: the optimum may lie beyond, bounded by the next grid point.
  if (at == 0 || at + 1 == valid.size()) {
    r.method = "grid-edge";
    r.points_fitted = 1;
    bracket();
    return;
  }
  std::vector<double> x, y;
  for (size_t j = at >= 2 ? at - 2 : 0; j < std::min(valid.size(), at + 3); ++j) {
    x.push_back(std::log2(r.lrs[valid[j]]));
    y.push_back(*r.losses[valid[j]]);
  }
  r.points_fitted = static_cast<int>(x.size());
  const Quadratic p = fit_quadratic(x, y);
  if (!(p.a > 0)) {
    r.method = "grid-min";
    bracket();
    return;
  }
  // The vertex stays between the minimum's trained neighbours.
  const double v = std::clamp(p.vertex, std::log2(r.lrs[valid[at - 1]]), std::log2(r.lrs[valid[at + 1]]));
  r.best_lr = std::exp2(v);
  if (std::isfinite(p.vertex_se)) {
    r.method = "parabola";
    r.best_lr_lo = std::exp2(v - p.vertex_se);
    r.best_lr_hi = std::exp2(v + p.vertex_se);
  } else {
    r.method = "parabola-bracket";
    r.best_lr_lo = r.lrs[valid[at - 1]];
    r.best_lr_hi = r.lrs[valid[at + 1]];
  }
}

}  // namespace

TransferAnalysis analyse_lr_transfer(TransferCurves c) {
  TransferAnalysis out;
  out.name = std::move(c.name);
  out.rate = std::move(c.rate);
  out.d_token_base = c.d_token_base;
  out.d_concept_base = c.d_concept_base;
  out.results = std::move(c.curves);
  for (auto& r : out.results) find_optimum(r);
  // One shift per parametrisation and axis, in the curves' order; they share the study's rate grid.
  for (const auto& r : out.results)
    if (std::none_of(out.shifts.begin(), out.shifts.end(),
                     [&](const auto& s) { return s.parametrisation == r.parametrisation && s.axis == r.axis; }))
      out.shifts.push_back({r.parametrisation, r.axis, 0, 0, 0});
  const double grid_step = out.results.empty() ? 1.0 : median_log2_step(out.results.front().lrs);
  for (auto& sh : out.shifts) {
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& r : out.results)
      if (r.parametrisation == sh.parametrisation && r.axis == sh.axis && r.best_lr) {
        lo = std::min(lo, std::log2(*r.best_lr));
        hi = std::max(hi, std::log2(*r.best_lr));
        sh.widths += 1;
      }
    if (sh.widths > 0) sh.log2_shift = hi - lo, sh.grid_steps = sh.log2_shift / grid_step;
  }
  for (const auto& r : out.results)
    if (r.width_token == out.d_token_base && r.width_concept == out.d_concept_base && r.best_lr) {
      (r.parametrisation == Parametrisation::mup ? out.best_base_lr_mup : out.best_base_lr_standard) = r.best_lr;
      if (r.parametrisation == Parametrisation::mup) out.base_method_mup = r.method;
    }
  return out;
}

std::string to_json(const TransferAnalysis& a) {
  const auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json results = json::array(), shifts = json::array();
  for (const auto& r : a.results) {
    json losses = json::array();
    for (const auto& l : r.losses) losses.push_back(opt(l));
    results.push_back({{"parametrisation", name(r.parametrisation)}, {"axis", r.axis}, {"width_token", r.width_token},
                       {"width_concept", r.width_concept}, {"lrs", r.lrs}, {"losses", losses},
                       {"best_lr", opt(r.best_lr)}, {"best_lr_lo", opt(r.best_lr_lo)}, {"best_lr_hi", opt(r.best_lr_hi)},
                       {"method", r.method}, {"points_fitted", r.points_fitted}, {"notes", r.notes}});
  }
  for (const auto& s : a.shifts)
    shifts.push_back({{"parametrisation", name(s.parametrisation)}, {"axis", s.axis}, {"log2_shift", s.log2_shift},
                      {"grid_steps", s.grid_steps}, {"widths", s.widths}});
  const json out = {{"name", a.name},
                    {"rate", a.rate},
                    {"base_widths", {{"d_token", a.d_token_base}, {"d_concept", a.d_concept_base}}},
                    {"base_method_mup", a.base_method_mup},
                    {"results", results},
                    {"shifts", shifts},
                    {"best_base_lr", {{"mup", opt(a.best_base_lr_mup)}, {"standard", opt(a.best_base_lr_standard)}}}};
  return out.dump(2);
}

TransferAnalysis transfer_analysis_from_json(const std::string& text) {
  const auto j = json::parse(text);
  if (!j.is_object()) throw std::runtime_error("an lr-transfer study is a JSON object");
  const auto opt = [](const json& o, const char* key) {
    return o.contains(key) && o[key].is_number() ? std::optional<double>(o[key].get<double>()) : std::nullopt;
  };
  const auto parametrisation = [](const json& o) {
    return o.value("parametrisation", "") == name(Parametrisation::mup) ? Parametrisation::mup
                                                                        : Parametrisation::standard;
  };
  TransferAnalysis a;
  a.name = j.value("name", "");
  a.rate = j.value("rate", "all");
  const json widths = j.value("base_widths", json::object());
  a.d_token_base = widths.value("d_token", 0);
  a.d_concept_base = widths.value("d_concept", 0);
  a.base_method_mup = j.value("base_method_mup", "");
  for (const auto& r : j.value("results", json::array())) {
    TransferResult t;
    t.parametrisation = parametrisation(r);
    t.axis = r.value("axis", "");
    t.width_token = r.value("width_token", 0);
    t.width_concept = r.value("width_concept", 0);
    t.lrs = r.value("lrs", std::vector<double>{});
    for (const auto& l : r.value("losses", json::array()))
      t.losses.push_back(l.is_number() ? std::optional<double>(l.get<double>()) : std::nullopt);
    t.notes = r.value("notes", std::vector<std::string>{});
    t.best_lr = opt(r, "best_lr"), t.best_lr_lo = opt(r, "best_lr_lo"), t.best_lr_hi = opt(r, "best_lr_hi");
    t.method = r.value("method", "");
    t.points_fitted = r.value("points_fitted", 0);
    a.results.push_back(std::move(t));
  }
  for (const auto& s : j.value("shifts", json::array()))
    a.shifts.push_back({parametrisation(s), s.value("axis", ""), opt(s, "log2_shift").value_or(NAN),
                        opt(s, "grid_steps").value_or(NAN), s.value("widths", 0)});
  const json best = j.value("best_base_lr", json::object());
  if (best.is_object()) a.best_base_lr_mup = opt(best, "mup"), a.best_base_lr_standard = opt(best, "standard");
  return a;
}

std::string format_table(const TransferAnalysis& a) {
  std::string out = a.rate == "all" ? "" : fmt::format("the grid sets train.lr_{}; the other rates as the base config\n", a.rate);
  std::string last;
  for (const auto& r : a.results) {
    const std::string group = fmt::format("{} / axis {}", name(r.parametrisation), r.axis);
    if (group != last) {
      out += fmt::format("\n{}\n{:>7} {:>7}", group, "d_tok", "d_con");
      for (double lr : r.lrs) out += fmt::format(" {:>8.2g}", lr);
      out += fmt::format("  {:>9} {:>21}  {}\n", "best lr", "interval", "method");
      last = group;
    }
    out += fmt::format("{:>7} {:>7}", r.width_token, r.width_concept);
    // An empty loss is a diverged or an unfinished rate: the notes under the row say which.
    for (const auto& l : r.losses) out += l ? fmt::format(" {:>8.4f}", *l) : fmt::format(" {:>8}", "-");
    const auto num = [](const std::optional<double>& v) { return v ? fmt::format("{:.3g}", *v) : std::string("-"); };
    out += fmt::format("  {:>9} {:>21}  {}\n", num(r.best_lr), fmt::format("[{}, {}]", num(r.best_lr_lo), num(r.best_lr_hi)),
                       r.method);
    for (const auto& note : r.notes) out += fmt::format("{:>15} {}\n", "-", note);
  }
  out += "\nshift of the optimum across widths\n";
  for (const auto& s : a.shifts)
    out += fmt::format("  {:<8} {:<7} {:.2f} in log2(lr) = {:.2f} grid steps over {} widths\n", name(s.parametrisation),
                       s.axis, s.log2_shift, s.grid_steps, s.widths);
  const auto num = [](const std::optional<double>& v) { return v ? fmt::format("{:.3g}", *v) : std::string("none"); };
  out += fmt::format("best base learning rate{}: mup {}, standard {}\n", a.rate == "all" ? "" : " (" + a.rate + ")",
                     num(a.best_base_lr_mup), num(a.best_base_lr_standard));
  return out;
}

}  // namespace dlcm::fitting
