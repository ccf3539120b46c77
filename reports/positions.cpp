#include "reports/positions.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "reports/html.hpp"
#include "reports/report.hpp"

namespace dlcm::reports {

std::optional<storage::RunRow> position_run(const Study& study) {
  if (!study.proxy) return std::nullopt;
  for (const auto& r : study.runs)
    if (r.label == study.proxy_label && r.run_dir == study.proxy_run_dir) return r;
  return std::nullopt;
}

std::optional<storage::RunRow> matched_baseline(const Study& study, const storage::RunRow& dlcm) {
  std::optional<storage::RunRow> best;
  for (const auto& r : study.runs) {
    const bool same_budget = std::abs(r.budget - dlcm.budget) <= 1e-9 * std::abs(dlcm.budget);
    if (r.arch != "baseline" || r.status != "completed" || !same_budget || !r.final_val_loss ||
        !std::isfinite(*r.final_val_loss))
      continue;
    if (!best || *r.final_val_loss < *best->final_val_loss) best = r;
  }
  return best;
}

namespace {

std::string loss_cell(const PositionLoss& r, const PositionCell& c) {
  if (c.count == 0) return "–";
  if (!r.has_baseline()) return num(c.loss());
  return fmt::format("{} ({}{})", num(c.loss()), c.loss() >= c.baseline_loss() ? "+" : "", num(c.loss() - c.baseline_loss(), 2));
}

}  // namespace

std::string position_section(const PositionAnalysis& a) {
  std::string h = "<h2 id=positions>Loss by position inside a concept</h2>\n";
  if (!a.result) return h + fmt::format("<p class=note>Not computed: {}</p>\n", html_escape(a.note));
  const auto& r = *a.result;
  h += fmt::format(
      "<p>Validation loss of run “{}” on {} targets ({} windows per domain of {} tokens, the evaluator's windows; "
      "realised R = {}), each target's loss bucketed by that target's place in the concept the DLCM put it in "
      "(thresholded boundaries). <i>open</i>: tokens of a window's last concept, whose end lies past the window.",
      html_escape(a.run_label), r.all.count, r.windows, r.seq_len, num(r.ratio(), 3));
  h += r.has_baseline() ? fmt::format(" Baseline: run “{}”, the best completed baseline of the same budget (matched "
                                      "compute), on the same tokens, bucketed by the DLCM's concepts; in brackets "
                                      "DLCM − baseline. The paper's claim: the concept model gains most at concept "
                                      "boundaries and least (or loses) at internal positions.</p>\n",
                                      html_escape(a.baseline_label))
                          : fmt::format(" No baseline: {}.</p>\n", html_escape(a.note));
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, c] : position_classes(r)) {
    std::vector<std::string> row{name, num(c->count, 7), num(100 * c->count / std::max(1.0, r.all.count), 3), num(c->loss())};
    if (r.has_baseline()) row.insert(row.end(), {num(c->baseline_loss()), num(c->loss() - c->baseline_loss(), 3)});
    rows.push_back(row);
  }
  std::vector<std::string> head{"position", "targets", "share %", "DLCM loss"};
  if (r.has_baseline()) head.insert(head.end(), {"baseline loss", "DLCM − baseline"});
  h += table(head, rows);

  // Loss by position class, DLCM against the baseline; and the gap by position for each length.
  Plot classes = plot("Loss by position class", "position of the target in its concept", "mean loss (nats)");
  classes.x_tics = {{1, "single"}, {2, "first"}, {3, "internal"}, {4, "last"}};
  auto ours = series("DLCM " + a.run_label), theirs = series("baseline " + a.baseline_label);
  int x = 0;
  for (const auto* c : {&r.single, &r.first, &r.internal, &r.last}) {
    ++x;
    if (c->count == 0) continue;
    ours.x.push_back(x), ours.y.push_back(c->loss());
    theirs.x.push_back(x), theirs.y.push_back(c->baseline_loss());
  }
  classes.series.push_back(ours);
  if (r.has_baseline()) classes.series.push_back(theirs);
  Plot by_pos = plot(r.has_baseline() ? "DLCM - baseline by position, per concept length" : "Loss by position, per concept length",
                     "position in the concept (1 = first)", r.has_baseline() ? "loss difference (nats)" : "mean loss (nats)");
  for (int L = 2; L <= r.max_length; ++L) {
    const auto& row = r.by_length[L - 1];
    if (row.back().count < 10) continue;  // too few concepts of this length for a mean worth drawing
    auto s = series(fmt::format("L = {}", L));
    for (int k = 0; k < L; ++k)
      if (row[k].count > 0)
        s.x.push_back(k + 1), s.y.push_back(r.has_baseline() ? row[k].loss() - row[k].baseline_loss() : row[k].loss());
    by_pos.series.push_back(s);
  }
  h += "<div class=grid>" + figure(classes) + (by_pos.series.empty() ? "" : figure(by_pos)) + "</div>\n";

  std::vector<std::string> lhead{"concept length", "concepts"};
  for (int k = 1; k <= r.max_length; ++k) lhead.push_back(fmt::format("position {}", k));
  std::vector<std::vector<std::string>> lrows;
  for (int L = 1; L <= r.max_length; ++L) {
    const auto& row = r.by_length[L - 1];
    std::vector<std::string> cells{std::to_string(L), num(row.back().count, 7)};
    for (int k = 0; k < r.max_length; ++k) cells.push_back(k < L ? loss_cell(r, row[k]) : "");
    lrows.push_back(cells);
  }
  std::vector<std::string> longer{fmt::format("&gt; {}", r.max_length), num(r.longer[2].count, 7),
                                  "first " + loss_cell(r, r.longer[0]), "internal " + loss_cell(r, r.longer[1]),
                                  "last " + loss_cell(r, r.longer[2])};
  if (longer.size() < lhead.size()) longer.resize(lhead.size());
  lrows.push_back(longer);
  return h + "<p>By concept length: mean DLCM loss at each position" +
         (r.has_baseline() ? std::string(" (DLCM − baseline)") : "") + ".</p>\n" + table(lhead, lrows);
}

}  // namespace dlcm::reports
