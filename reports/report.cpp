#include "reports/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "fitting/isoflop.hpp"
#include "fitting/lr_transfer.hpp"
#include "reports/analyses.hpp"
#include "fitting/uncertainty.hpp"
#include "reports/html.hpp"
#include "reports/plot.hpp"
#include "reports/positions.hpp"
#include "reports/recommend.hpp"
#include "reports/verify.hpp"
#include "sweeps/slurm.hpp"

namespace dlcm::reports {

using namespace dlcm::fitting;

std::string html_escape(const std::string& s) {
  std::string out;
  const std::string bad = "\xEF\xBF\xBD";  // U+FFFD
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c < 0x20 && c != '\n' && c != '\t' ? bad : std::string(1, static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence passes through; anything else becomes U+FFFD, one byte at a time.
    const int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len == 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);  // overlong, surrogates
    }
    if (ok && len == 4) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += bad;
      ++i;
    }
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>>& segmentation_samples() {
  static const std::vector<std::pair<std::string, std::string>> samples{
      {"tech-en", "The package manager resolves every dependency before it installs anything."},
      {"casual-en", "A closed mouth gathers no feet, but an open one catches flies."},
      {"code", "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }"},
      {"tech-zh", "软件包管理器在安装之前会先解决所有依赖关系。"},
      {"casual-zh", "千里之行，始于足下。"},
  };
  return samples;
}

namespace {

using reports::num;
std::string esc(const std::string& s) { return html_escape(s); }

const char* kStyle = R"(<style>
body{font-family:"DejaVu Sans",sans-serif;max-width:1150px;margin:1.5em auto;padding:0 1em;color:#222;background:#fff}
h1{font-size:1.6em}h2{border-bottom:2px solid #ccd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}th,td{border:1px solid #ccd;padding:.25em .5em;text-align:right}
th{background:#eef}td:first-child{text-align:left}tr.diverged td{background:#fdd}tr.pending td{color:#888}
.note{color:#744;font-style:italic}.summary{background:#f4f6ff;border:1px solid #ccd;padding:.6em 1em}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:.5em}figure{margin:.5em 0}svg{max-width:100%;height:auto}
.seg{font-family:"DejaVu Sans Mono",monospace;line-height:2;white-space:pre-wrap}
.seg span{padding:.15em .05em;border-radius:3px;margin-right:2px}.c0{background:#cde4ff}.c1{background:#ffe3b8}
.warn{color:#a40}
.answer{border:2px solid #446;background:#f7f8ff;padding:.3em 1em .6em;margin:1em 0}.answer h2{margin-top:.4em;border:none}
.answer table{font-size:.95em}.answer th{text-align:left;background:none}.answer td{text-align:left}
</style>)";

// The families isoFLOP curves are drawn for: the baseline, then DLCM per target ratio; a probe (a
// ratio run at one size per budget) is not a curve.
struct Family {
  std::string name;
  std::vector<Observation> obs;
};
std::vector<Family> isoflop_families(const Study& s) {
  std::vector<Family> out;
  if (!s.baseline.empty()) out.push_back({"the baseline", s.baseline});
  std::map<double, std::vector<Observation>> by_ratio;
  for (std::size_t i = 0; i < s.dlcm.size(); ++i) by_ratio[s.dlcm_target_R[i]].push_back(s.dlcm[i]);
  const bool curve = std::any_of(by_ratio.begin(), by_ratio.end(), [](const auto& f) { return isoflop_family(f.second); });
  for (auto& [R, obs] : by_ratio)
    if (!curve || isoflop_family(obs)) out.push_back({fmt::format("DLCM at target R = {:g}", R), std::move(obs)});
  return out;
}

// One family's isoFLOP fit, or why there is none: drawn under "Loss against compute", and its
// budgets left out (an unbracketed minimum) quoted in the answer box.
struct FamilyIsoflop {
  Family family;
  std::optional<Isoflop> fit;
  std::string error;
};
std::vector<FamilyIsoflop> fit_families(const Study& s) {
  std::vector<FamilyIsoflop> out;
  for (auto& f : isoflop_families(s)) {
    FamilyIsoflop fi{std::move(f), std::nullopt, ""};
    try {
      fi.fit = fit_isoflop(fi.family.obs, {});
    } catch (const std::exception& e) {
      fi.error = e.what();
    }
    out.push_back(std::move(fi));
  }
  return out;
}

struct Context {
  storage::Database& db;
  const Study& study;
  const ReportOptions& opt;
  std::optional<Laws> laws;
  std::string laws_error;
  std::vector<std::optional<Model>> replicates;
  std::vector<FamilyIsoflop> isoflop;
  Analyses analyses;  // the paper's ablations on this sweep (reports/analyses.hpp)
};

// A run's real tries, with how the last one ended (recorded since schema 6).
std::string attempts_cell(const storage::RunRow& r) {
  return std::to_string(r.attempts) + (r.last_reason.empty() ? "" : " (last: " + esc(r.last_reason) + ")");
}

std::string sweep_table(const Context& c) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> classes;
  // Fitted runs show what the fits see (realised R and compute, today's N); others their plan.
  for (const auto& r : c.study.runs) {
    const bool diverged = storage::is(r.status, storage::RunStatus::diverged);
    const auto it = c.study.by_hash.find(r.hash);
    const Observation* o = it == c.study.by_hash.end() ? nullptr : &it->second;
    rows.push_back({esc(r.label), esc(r.arch),
                    esc(r.status) + (diverged ? " (excluded from fits)" : ""), num(r.budget, 3),
                    num(o ? o->N : r.N), num(o ? o->P : r.P, 3), num(r.R, 3), o ? num(o->R, 3) : "–",
                    num(o ? o->D : r.D), r.epochs ? num(*r.epochs, 2) : "–", num(r.C), o ? num(o->C) : "–",
                    r.final_val_loss ? num(*r.final_val_loss) : "–", attempts_cell(r)});
    classes.push_back(diverged ? "diverged" : storage::is(r.status, storage::RunStatus::completed) ? "" : "pending");
  }
  std::string h = "<h2 id=runs>Runs</h2>\n";
  if (!c.study.excluded.empty())
    h += fmt::format("<p class=note>{} diverged run(s) are marked in red and left out of every fit.</p>\n",
                     c.study.excluded.size());
  h += "<p>N counts every parameter but the embedding and the LM head; compute is 6·N_eff·D at the ratio the "
       "run realised in training; realised R is that of the boundaries its validation loss was measured with.</p>\n";
  return h + table({"label", "arch", "status", "budget", "N", "P", "target R", "realised R (val)", "D", "epochs",
                    "planned C", "realised C", "final val loss", "attempts"},
                   rows, classes);
}

std::string compute_section(const Context& c) {
  std::string h = "<h2 id=compute>Loss against compute</h2>\n";
  // One line per configuration (its label without the budget), across budgets.
  std::map<std::string, Series> by_label;
  std::vector<std::string> labels = c.study.dlcm_labels;
  labels.insert(labels.end(), c.study.baseline_labels.begin(), c.study.baseline_labels.end());
  auto obs = c.study.dlcm;
  obs.insert(obs.end(), c.study.baseline.begin(), c.study.baseline.end());
  for (std::size_t i = 0; i < obs.size(); ++i) {
    auto& s = by_label[labels[i]];
    s.title = labels[i];
    s.x.push_back(compute(obs[i]));
    s.y.push_back(obs[i].loss);
  }
  Plot p = plot("Final validation loss per configuration", "training compute C (FLOPs)", "loss (nats/token)", true, false);
  for (auto& [label, s] : by_label) {
    std::vector<std::size_t> order(s.x.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return s.x[a] < s.x[b]; });
    Series sorted = series(s.title);
    for (auto k : order) sorted.x.push_back(s.x[k]), sorted.y.push_back(s.y[k]);
    p.series.push_back(sorted);
  }
  p.width = 1100;
  h += figure(p);
  // isoFLOP parabolas (Approach 2), one family at a time: the baseline, and DLCM runs of one target
  // ratio. A parabola through several architectures would mix curves that have different minima.
  for (const auto& fi : c.isoflop) {
    const auto& f = fi.family;
    if (fi.fit) {
      const auto& iso = *fi.fit;
      Plot q = plot(fmt::format("isoFLOP curves of {}: loss against N per budget", f.name), "non-embedding parameters N",
                    "loss (nats/token)", true, false);
      for (const auto& b : iso.budgets) {
        Series pts = series(fmt::format("C = {:.2g}", b.C), "points");
        double lo = 1e300, hi = 0;
        for (const auto& o : f.obs)
          if (std::abs(std::log(compute(o) / b.C)) < 0.2) {
            pts.x.push_back(o.N), pts.y.push_back(o.loss);
            lo = std::min(lo, o.N), hi = std::max(hi, o.N);
          }
        Series curve = series(fmt::format("parabola, N_opt = {:.3g}", b.x_opt), "lines");
        const double u0 = std::log(lo) - 0.3, u1 = std::log(hi) + 0.3, uo = std::log(b.x_opt);
        for (int k = 0; k <= 60; ++k) {
          const double u = u0 + (u1 - u0) * k / 60;
          curve.x.push_back(std::exp(u));
          curve.y.push_back(b.loss_opt + b.curvature * (u - uo) * (u - uo));
        }
        q.series.push_back(pts);
        q.series.push_back(curve);
      }
      h += figure(q);
      h += fmt::format("<p>{}: N_opt = {} · C<sup>{}</sup> over {} budgets (R² of the parabolas {}).</p>\n", esc(f.name),
                       num(iso.coefficient), num(iso.exponent, 3), iso.budgets.size(), num(iso.r2, 3));
      for (const auto& sk : iso.skipped)
        h += fmt::format("<p class=note>{}: budget C = {} left out ({} runs): {}</p>\n", esc(f.name), num(sk.C, 3),
                         sk.n_runs, esc(sk.reason));
    } else {
      h += fmt::format("<p class=note>No isoFLOP fit of {}: {}</p>\n", esc(f.name), esc(fi.error));
    }
  }
  return h;
}

// Training loss against tokens per run, one plot per budget: whether runs were still falling
// steeply at their end (optimisation-limited) is what a reader checks before trusting a fit.
std::string curves_section(const Context& c) {
  std::string h = "<h2 id=curves>Training curves</h2>\n";
  const auto curves = storage::metric_series(c.db, c.study.sweep, "train", "loss");
  std::map<double, Plot> by_budget;
  for (const auto& r : c.study.runs) {
    const auto it = curves.find(r.hash);
    if (it == curves.end() || it->second.empty()) continue;
    const auto cfg = parse_run_config(r.config, "run " + r.hash, "", false);
    const double tokens_per_step = static_cast<double>(cfg.train.batch_size) * cfg.model.seq_len;
    auto [p, fresh] = by_budget.try_emplace(r.budget);
    if (fresh) {
      p->second = plot(fmt::format("C = {:.3g}: training loss (mean of 10 steps)", r.budget), "tokens D",
                       "loss (nats/token)", true, false);
      p->second.width = 1100;  // the legend of a dozen labels needs the room
    }
    Series s = series(r.label, "lines");
    const auto& pts = it->second;
    const std::size_t every = std::max<std::size_t>(1, pts.size() / 60);  // ~60 points a curve
    for (std::size_t i = 0; i < pts.size(); i += every) {
      double sum = 0;
      std::size_t n = 0;
      for (std::size_t k = i >= 9 ? i - 9 : 0; k <= i; ++k) sum += pts[k].value, ++n;
      s.x.push_back(pts[i].step * tokens_per_step);
      s.y.push_back(sum / static_cast<double>(n));
    }
    p->second.series.push_back(std::move(s));
  }
  if (by_budget.empty()) return h + "<p class=note>No training curves recorded.</p>\n";
  for (auto& [budget, p] : by_budget) h += figure(p);
  return h;
}

std::string fit_section(const Context& c) {
  std::string h = "<h2 id=fit>Fitted law against observed losses</h2>\n";
  if (!c.laws) return h + fmt::format("<p class=note>No fit: {}</p>\n", esc(c.laws_error));
  const auto& m = c.laws->dlcm.model;
  const auto obs = law_runs(c.study);
  h += fmt::format("<p>Compression-aware law (docs/design.md §3) fitted to {} completed DLCM runs{}: R² = {}, "
                   "Huber objective {}.</p>\n",
                   c.study.dlcm.size(),
                   c.study.baselines_in_law
                       ? fmt::format(" and {} baseline runs as its P = 0 case (no concept term)", c.study.baseline.size())
                       : "",
                   num(r_squared(m, obs), 4), num(c.laws->dlcm.objective));
  std::vector<std::vector<std::string>> prow;
  const auto names = param_names(Law::dlcm);
  const auto values = natural_params(m);
  for (std::size_t i = 0; i < names.size(); ++i) prow.push_back({std::string(names[i]), num(values[i])});
  h += table({"parameter", "value"}, prow);
  Plot parity = plot("Parity: predicted against observed loss", "observed loss", "predicted loss");
  double lo = 1e300, hi = 0;
  // Baselines under the law they were fitted to: the dlcm law as its P = 0 case, else Chinchilla.
  const Model* base_law = c.study.baselines_in_law ? &m : c.laws->baseline ? &c.laws->baseline->model : nullptr;
  for (const auto* runs : {&c.study.dlcm, &c.study.baseline}) {
    const bool dl = runs == &c.study.dlcm;
    if (runs->empty() || (!dl && !base_law)) continue;
    Series s = series(dl ? "DLCM runs (dlcm law)"
                         : c.study.baselines_in_law ? "baseline runs (dlcm law, P = 0)" : "baseline runs (chinchilla)",
                      "points");
    for (const auto& o : *runs) {
      s.x.push_back(o.loss), s.y.push_back(predict_loss(dl ? m : *base_law, o));
      lo = std::min({lo, o.loss, s.y.back()}), hi = std::max({hi, o.loss, s.y.back()});
    }
    parity.series.push_back(s);
  }
  Series diag = series("y = x", "lines");
  diag.x = diag.y = {lo, hi};
  parity.series.push_back(diag);
  Plot resid = plot("Residuals: log predicted - log observed", "training compute C (FLOPs)", "log residual", true);
  Series rs = series(c.study.baselines_in_law ? "runs" : "DLCM runs", "points");
  const auto r = log_residuals(m, obs);
  for (std::size_t i = 0; i < obs.size(); ++i) rs.x.push_back(compute(obs[i])), rs.y.push_back(r[i]);
  resid.series.push_back(rs);
  parity.width = resid.width = 560;
  h += "<div class=grid>" + figure(parity) + figure(resid) + "</div>\n";
  try {
    const auto ho = holdout_largest_budget(Law::dlcm, obs, c.laws->dlcm_options);
    h += fmt::format("<p><b>Held-out budget</b>: fitted without C = {} ({} training runs), the law predicts its {} "
                     "runs with mean relative error {} (max {}).</p>\n",
                     num(ho.budget), ho.n_train, ho.runs.size(), num(ho.mean_rel_error, 3),
                     num(ho.max_rel_error, 3));
  } catch (const std::exception& e) {
    h += fmt::format("<p class=note>No held-out check: {}</p>\n", esc(e.what()));
  }
  h += c.laws->baseline ? fmt::format("<p>Baseline law (Chinchilla) fitted to {} baseline runs.</p>\n",
                                      c.study.baseline.size())
                        : fmt::format("<p class=note>{}</p>\n", esc(c.laws->baseline_note));
  return h;
}

std::string frontier_section(const Context& c) {
  std::string h = "<h2 id=frontier>Allocation frontier</h2>\n";
  if (!c.laws) return h + "<p class=note>No fitted law, no frontier.</p>\n";
  double c_lo = 1e300, c_hi = 0;
  for (const auto& o : c.study.dlcm) c_lo = std::min(c_lo, compute(o)), c_hi = std::max(c_hi, compute(o));
  const int n = 7;
  const double l0 = std::log(c_lo), l1 = std::log(100 * c_hi);
  const auto law = dlcm_params(c.laws->dlcm.model);
  const SearchSpace space;
  const char* names[] = {"N", "P", "R", "D"};
  Series est[4], band[4];
  std::vector<std::vector<std::string>> rows;
  for (int k = 0; k < n; ++k) {
    const double C = std::exp(l0 + (l1 - l0) * k / (n - 1));
    try {
      // Exact accounting at each budget: the correction measured at its snapped architecture.
      const auto corr = c.study.proxy ? allocate(law, C, space, c.study.proxy->model, c.study.proxy->boundary)
                                            .n_eff_correction
                                      : NeffCorrection{};
      const auto a = optimise(law, C, space, corr);
      std::vector<std::vector<double>> samples;
      for (const auto& m : c.replicates) {
        if (!m) continue;
        try {
          const auto b = optimise(dlcm_params(*m), C, space, corr);
          if (bounds_hit(b, space, C).empty()) samples.push_back({b.N, b.P, b.R, b.D});
        } catch (const std::exception&) {
        }
      }
      const auto edges = bounds_hit(a, space, C);
      const auto iv = summarize({"N", "P", "R", "D"}, {a.N, a.P, a.R, a.D}, samples, 0.9);
      const double v[] = {a.N, a.P, a.R, a.D};
      std::vector<std::string> row{num(C, 3)};
      for (int q = 0; q < 4; ++q) {
        est[q].x.push_back(C), est[q].y.push_back(v[q]);
        if (std::isfinite(iv[q].low)) {
          band[q].x.push_back(C), band[q].y.push_back(v[q]);
          band[q].y_low.push_back(iv[q].low), band[q].y_high.push_back(iv[q].high);
        }
        row.push_back(num(v[q]) + (std::isfinite(iv[q].low) ? fmt::format(" [{}, {}]", num(iv[q].low), num(iv[q].high)) : ""));
      }
      row.push_back(num(a.loss));
      std::string edge;
      for (const auto& e : edges) edge += (edge.empty() ? "" : ", ") + e;
      row.push_back(edge.empty() ? "interior" : "<span class=warn>on the " + edge + " bound</span>");
      rows.push_back(row);
    } catch (const std::exception& e) {
      rows.push_back({num(C, 3), esc(e.what()), "", "", "", "", ""});
    }
  }
  h += fmt::format("<p>The law's optimum over (N, P, R, D) with 6·N_eff·D = C, from the smallest fitted budget to "
                   "100× the largest ({}), R from {{1, 2, 4, 8}}; bars: 90% bootstrap intervals ({} replicates "
                   "refitted and re-optimised; a replicate whose optimum is on a search bound is left out). An "
                   "optimum on a search bound is the law running off the searched range, not an answer.</p>\n"
                   "<div class=grid>\n",
                   num(c_hi, 3), c.replicates.size());
  for (int q = 0; q < 4; ++q) {
    Plot p = plot(fmt::format("optimal {} against budget", names[q]), "compute C (FLOPs)", names[q], true,
           q == 0 || q == 3);
    est[q].title = "optimum";
    band[q].title = "90% interval";
    band[q].style = "yerrorbars";
    p.series = {est[q], band[q]};
    p.width = 540, p.height = 320;
    h += figure(p);
  }
  h += "</div>\n";
  return h + table({"C", "N", "P", "R", "D", "predicted loss", "optimum"}, rows);
}

std::string recommendation_row(const Recommendation& r) {
  const auto& a = r.architecture;
  const auto& iv = r.interval.predicted_loss;
  const bool priced = r.baseline && r.baseline->unidentified.empty();
  return fmt::format(
      "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} [{}, {}]</td><td>d_token {} ×({}+{}), "
      "d_concept {} ×{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
      num(r.budget), num(r.N), num(r.P), num(r.R), num(r.D), num(r.predicted_loss), iv ? num(iv->first) : "–",
      iv ? num(iv->second) : "–", num(a.d_token), num(a.encoder_layers), num(a.decoder_layers), num(a.d_concept),
      num(a.concept_layers), num(a.predicted_loss), priced ? num(r.baseline->predicted_loss) : "–",
      num(r.compute_multiplier.value_or(NAN)));
}

// computed: the recommendations made now for the budgets asked; stored: those of `dlcm recommend`
// (with their recommendation_id), smallest budget first, newest first within one.
std::string recommendation_section(Context& c, std::vector<Recommendation>& computed,
                                   std::vector<Recommendation>& stored) {
  std::string h = "<h2 id=recommend>Recommendations</h2>\n";
  const std::string head =
      "<table><thead><tr><th>budget</th><th>N</th><th>P</th><th>R</th><th>D</th><th>predicted loss [90%]</th>"
      "<th>architecture</th><th>its predicted loss</th><th>baseline loss</th><th>compute multiplier</th></tr>"
      "</thead><tbody>\n";
  if (c.laws && c.study.proxy) {
    const auto lr = base_learning_rate(c.db, c.study);
    for (double b : c.opt.budgets) {
      RecommendOptions o;
      o.budget = b;
      o.replicates = c.opt.replicates;
      o.seed = c.opt.seed;
      try {
        computed.push_back(recommend(*c.laws, c.study, lr, o, c.replicates));  // the report's own replicates
      } catch (const std::exception& e) {
        h += fmt::format("<p class=note>No recommendation at {}: {}</p>\n", num(b), esc(e.what()));
      }
    }
  }
  // The table of recommendations, then each one's μP hyperparameters and warnings.
  auto block = [&](const std::vector<Recommendation>& recs, const std::string& intro) {
    h += intro + head;
    for (const auto& r : recs) h += recommendation_row(r);
    h += "</tbody></table>\n";
    for (const auto& r : recs) {
      if (r.status != Answer::interior)
        h += fmt::format("<p class=warn><b>At C = {}</b>: no recommendation — {}; the row above is not an "
                         "answer.</p>\n",
                         num(r.budget), r.status == Answer::unidentified ? "the runs do not identify the law"
                                                                         : "the law's optimum lies on a search bound");
      if (const auto& hp = r.hyperparameters.mup) {
        h += fmt::format("<p><b>At C = {}</b>: μP hyperparameters (base lr {} from {}; output multiplier {}):</p>\n",
                         num(r.budget), num(hp->base_lr), esc(hp->source), num(hp->output_mult));
        std::vector<std::vector<std::string>> g;
        for (const auto& grp : hp->groups)
          g.push_back({esc(grp.group), esc(grp.fan_in), num(grp.lr), num(grp.init_std), num(grp.eps),
                       num(grp.weight_decay)});
        h += table({"group", "fan-in", "lr", "init std", "Adam ε", "weight decay"}, g);
      } else {
        h += fmt::format("<p class=note><b>At C = {}</b>: {}</p>\n", num(r.budget), esc(r.hyperparameters.refused));
      }
      for (const auto& w : r.warnings) h += "<p class=warn>⚠ " + esc(w) + "</p>\n";
    }
  };
  if (!computed.empty()) block(computed, "<p>For the budgets asked (computed now from the fit above):</p>\n");
  // Rows written by `dlcm recommend`; anything else in the table is left out rather than trusted.
  stored = stored_recommendations(c.db, c.study.sweep);
  if (!stored.empty())
    block(stored, fmt::format("<p>Stored by <code>dlcm recommend</code> ({}):</p>\n", stored.size()));
  if (computed.empty() && stored.empty()) h += "<p class=note>No recommendation: no fitted law.</p>\n";
  return h;
}

std::string with_interval(double v, const Span& iv) {
  return num(v) + (iv ? fmt::format(" [{}, {}]", num(iv->first), num(iv->second)) : "");
}

// A sweep name as a command line takes it: quoted unless it is plain.
std::string shell_word(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.';
  });
  return plain ? s : sweeps::shell_quote(s);
}

// The first screen: at the target budget (the newest verification's, else the largest recommended)
// the allocation, its prediction and compute multiplier, whether it was verified, and what makes
// it doubtful (no identified law, unbracketed isoFLOP minima, the recommendation's warnings).
std::string answer_box(const Context& c, const std::vector<Recommendation>& computed,
                       const std::vector<Recommendation>& stored) {
  const auto verifications = stored_verifications(c.db, c.study.sweep);
  const Verification* v = verifications.empty() ? nullptr : &verifications.front();
  const Recommendation* rec = nullptr;
  if (v) {
    // The recommendation it tested, else what the report has at that budget.
    for (const auto& r : stored)
      if (r.recommendation_id == v->recommendation_id) rec = &r;
    for (const auto* list : {&computed, &stored})
      for (const auto& r : *list)
        if (!rec && std::abs(r.budget / v->budget - 1) < 1e-9) rec = &r;
  } else {
    // The largest budget recommended: made now, else the newest stored (first within its budget).
    double top = 0;
    for (const auto* list : {&computed, &stored})
      for (const auto& r : *list)
        if (r.budget > top) top = r.budget, rec = &r;
  }
  const double budget = v ? v->budget : rec ? rec->budget : NAN;

  std::string h = std::isfinite(budget) ? fmt::format("<div class=answer id=answer><h2>The answer at C = {} FLOPs</h2>\n", num(budget))
                                        : "<div class=answer id=answer><h2>The answer</h2>\n";
  std::vector<std::vector<std::string>> rows;
  std::string warn;
  if (!rec) {
    warn += fmt::format("<p class=warn>No recommendation: {}</p>\n",
                        esc(c.laws ? std::string("no budget asked or stored") : c.laws_error));
  } else if (rec->status != Answer::interior) {
    warn += rec->status == Answer::unidentified
                ? fmt::format("<p class=warn><b>No recommendation</b>: the runs do not identify the law ({} not "
                              "pinned by the bootstrap).</p>\n",
                              esc(unidentified_names(*rec)))
                : fmt::format("<p class=warn><b>No recommendation</b>: the law's optimum lies on the search bound "
                              "({}), not inside the searched range.</p>\n",
                              esc(json(rec->bounds_hit).dump()));
  } else {
    const auto& a = rec->architecture;
    rows.push_back({"allocation",
                    fmt::format("N {} · P {} · R {} · D {} tokens", num(rec->N), num(rec->P), num(rec->R), num(rec->D))});
    rows.push_back({"architecture",
                    fmt::format("d_token {} ({} heads), encoder {} + decoder {} layers; d_concept {} ({} heads), {} "
                                "backbone layers; R {} (N {}, P {})",
                                num(a.d_token), num(a.n_heads_token), num(a.encoder_layers), num(a.decoder_layers),
                                num(a.d_concept), num(a.n_heads_concept), num(a.concept_layers), num(a.R), num(a.N),
                                num(a.P))});
    // The architecture's own loss and interval when kept (what `dlcm verify` tests), else the optimum's.
    const auto& iv = rec->interval;
    rows.push_back({"predicted loss", (iv.architecture_loss ? with_interval(a.predicted_loss, iv.architecture_loss)
                                                            : with_interval(rec->predicted_loss, iv.predicted_loss)) +
                                          fmt::format(" ({:.0f}% bootstrap interval)", 100 * iv.level)});
    rows.push_back({"compute multiplier",
                    rec->compute_multiplier
                        ? with_interval(*rec->compute_multiplier, iv.compute_multiplier.value_or(std::nullopt)) +
                              "× the baseline&#39;s compute for the same predicted loss"
                        : "none: the baseline law cannot price it (see the warnings)"});
  }
  if (v && v->diverged)
    rows.push_back({"verification", fmt::format("<span class=warn>diverged</span>: the recommended configuration "
                                                "did not train (run “{}”, {} steps, recommendation {}; predicted {})",
                                                esc(v->label), v->steps, v->recommendation_id, num(v->predicted_loss))});
  else if (v)
    rows.push_back({"verification",
                    fmt::format("predicted {} [{}, {}], realised {}: relative error {:+.1f}%, <b>{}</b> the {:.0f}% "
                                "interval (run “{}”, {} steps, recommendation {})",
                                num(v->predicted_loss), num(v->interval_low), num(v->interval_high),
                                num(v->realised_loss), 100 * v->relative_error,
                                v->inside_interval ? "inside" : "outside", 100 * v->level, esc(v->label), v->steps,
                                v->recommendation_id)});
  else if (rec && rec->status == Answer::interior)
    rows.push_back({"verification", fmt::format("<span class=warn>not verified</span>: <code>dlcm verify --sweep {} "
                                                "--budget {:g}</code> trains it and checks the prediction",
                                                esc(shell_word(c.study.sweep)), budget)});
  if (!rows.empty()) {
    h += "<table>";
    for (const auto& r : rows) h += "<tr><th>" + r[0] + "</th><td>" + r[1] + "</td></tr>\n";
    h += "</table>\n";
  }
  h += warn;
  // Identification: each family's budgets the isoFLOP fit left out (its minimum not bracketed by
  // the runs, or too few of them), or no isoFLOP fit at all.
  for (const auto& fi : c.isoflop) {
    if (!fi.fit) {
      // Probes with at most two sizes at any budget (a ratio moved at one or two models) are no
      // curve the study set out to bracket: the fit section notes them, the answer does not.
      if (!isoflop_family(fi.family.obs, 3)) continue;
      h += fmt::format("<p class=warn>No isoFLOP fit of {}: {}</p>\n", esc(fi.family.name), esc(fi.error));
      continue;
    }
    for (const auto& sk : fi.fit->skipped)
      h += fmt::format("<p class=warn>{}: budget C = {} not bracketed ({} runs): {}</p>\n", esc(fi.family.name),
                       num(sk.C, 3), sk.n_runs, esc(sk.reason));
  }
  // A recommendation is only as good as the fit: its warnings go next to it.
  if (rec && !rec->warnings.empty()) {
    h += "<p class=note>Read it with its warnings:</p><ul class=note>";
    for (const auto& w : rec->warnings) h += "<li>" + esc(w) + "</li>";
    h += "</ul>\n";
  }
  return h + "</div>\n";
}

// Newest study of each parametrisation (coord-check), or the newest study (lr-transfer).
std::string mup_plots(const Context& c) {
  std::string h = "<h2 id=mup>μP checks</h2>\n";
  // One plot per module family: mean |activation| at the last recorded step against the token width,
  // one line per parametrisation (the newest study of each), its fitted slope in the legend.
  std::set<std::string> seen;
  std::map<std::string, Plot> families;
  for (const auto& st : storage::mup_studies(c.db, "coord-check")) {
    CoordCheckResult cc;
    try {
      cc = coord_check_from_json(nlohmann::json::parse(st.result));
    } catch (const std::exception&) {
      continue;  // not a coordinate check this binary can read
    }
    const std::string& par = cc.parametrisation;
    if (!seen.insert(par).second) continue;
    int last = 0;
    for (const auto& cv : cc.curves) last = std::max(last, cv.step);
    std::map<std::string, Series> by_family;
    for (const auto& cv : cc.curves) {
      if (cv.step != last || !std::isfinite(cv.mean_abs)) continue;
      auto& s = by_family[cv.family];
      if (s.title.empty()) {
        const double slope = cc.slope(cv.family);
        const auto ok = cc.pass.find(cv.family);
        s.title = std::isfinite(slope) ? fmt::format("{} (slope {:.2f}{})", par, slope,
                                                     ok != cc.pass.end() ? (ok->second ? ", pass" : ", FAIL") : "")
                                       : par;
      }
      s.x.push_back(cv.width_token);
      s.y.push_back(cv.mean_abs);
    }
    for (auto& [family, s] : by_family) {
      auto [it, fresh] = families.try_emplace(family);
      if (fresh) {
        it->second = plot(fmt::format("coordinate check: {}, step {}", family, last), "d_token", "mean abs(activation)",
                          true, true);
        it->second.width = 480;
        it->second.height = 300;
      }
      it->second.series.push_back(s);
    }
  }
  std::string coord;
  for (const auto& [family, p] : families) coord += figure(p);
  if (!seen.empty())
    coord = "<p>Parametrisations: " + html_escape(fmt::format("{}", fmt::join(seen, ", "))) +
            ". Under μP every family should stay flat with width; under standard parametrisation hidden "
            "and output families grow.</p>\n<div class=grid>" + coord + "</div>\n";
  h += coord.empty() ? "<p class=note>No coordinate check in the database (dlcm mup coord-check).</p>\n" : coord;
  const auto lt = storage::latest_mup_study(c.db, "lr-transfer");
  if (!lt) return h + "<p class=note>No learning-rate transfer study in the database (dlcm mup lr-transfer).</p>\n";
  const auto j = fitting::transfer_analysis_from_json(lt->result);
  std::map<std::string, Plot> plots;  // per parametrisation and axis
  for (const auto& r : j.results) {
    const std::string key = std::string(name(r.parametrisation)) + ", axis " + r.axis;
    auto& p = plots[key];
    p.title = "learning-rate transfer (" + key + ")";
    p.x_label = "base learning rate";
    p.y_label = "loss";
    p.log_x = true;
    p.width = 560;
    Series s = series(fmt::format("d_token {}, d_concept {}", r.width_token, r.width_concept));
    for (std::size_t k = 0; k < r.lrs.size() && k < r.losses.size(); ++k)
      if (r.losses[k]) s.x.push_back(r.lrs[k]), s.y.push_back(*r.losses[k]);
    p.series.push_back(s);
  }
  h += fmt::format("<p>Learning-rate transfer study “{}” ({}):</p>\n<div class=grid>", esc(lt->name), esc(lt->created_at));
  for (auto& [k, p] : plots) h += figure(p);
  h += "</div>\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : j.shifts) rows.push_back({esc(name(s.parametrisation)), esc(s.axis), num(s.log2_shift)});
  if (!rows.empty()) h += table({"parametrisation", "axis", "log2 shift of the best lr over widths"}, rows);
  h += fmt::format("<p>Best base learning rate: μP {}, standard {}.</p>\n", num(j.best_base_lr_mup.value_or(NAN)),
                   num(j.best_base_lr_standard.value_or(NAN)));
  return h;
}

// A study row that does not follow the JSON contract becomes a note, not a failed report.
std::string mup_section(const Context& c) {
  try {
    return mup_plots(c);
  } catch (const std::exception& e) {
    return fmt::format("<h2 id=mup>μP checks</h2>\n<p class=note>Unreadable μP study: {}</p>\n", esc(e.what()));
  }
}

// A mean over seeds with its 95% interval when there are several.
std::string est(const Estimate& e, int digits = 4) {
  if (e.n == 0) return "–";
  if (e.n == 1) return num(e.mean, digits);
  return fmt::format("{} [{}, {}]", num(e.mean, digits), num(e.low, digits), num(e.high, digits));
}

std::string ratio_section(const Context& c) {
  std::string h = "<h2 id=ratio>Tokens per concept by content type</h2>\n"
                  "<p>Realised compression (tokens per concept, thresholded boundaries) on each validation domain "
                  "at each DLCM run's last evaluation, averaged over completed runs of the same target R and "
                  "boundary predictor: this corpus's counterpart of the paper's Table 5.</p>\n";
  const auto& t = c.analyses.concepts;
  if (t.cells.empty()) return h + "<p class=note>No per-domain ratio recorded for this sweep's DLCM runs.</p>\n";
  std::vector<std::string> head{"domain"};
  for (const auto& col : t.columns)
    head.push_back(fmt::format("target R = {}{}", num(col.target_R, 3), col.mode == "global" ? "" : ", " + esc(col.mode)));
  std::vector<std::vector<std::string>> rows;
  for (const auto& [domain, cols] : t.cells) {
    std::vector<std::string> row{esc(domain)};
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
      const auto it = cols.find(i);
      row.push_back(it == cols.end() ? "–" : fmt::format("{} (n={})", num(it->second.first, 3), it->second.second));
    }
    rows.push_back(row);
  }
  return h + table(head, rows);
}

// The ablations that need runs a sweep may not hold: each section appears only when it has them.
std::string predictors_section(const Context& c) {
  if (c.analyses.predictors.empty()) return "";
  std::string h = "<h2 id=predictors>Boundary predictors</h2>\n"
                  "<p>The same configuration at the same target R and budget with each boundary predictor: "
                  "<code>global</code> (Global Parser, statistics over the global batch), <code>sequence</code> "
                  "(per sequence, the paper's “Normal”) and <code>fixed</code>. Training R is tokens per concept "
                  "of the sampled boundaries over every step; validation R of the thresholded boundaries at the "
                  "last evaluation; drift is training R over the last quarter of the steps minus over the first. "
                  "Means over seeds, [95% interval]. The paper: 3.92 (global) against 3.15 (normal) at target 4.</p>\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : c.analyses.predictors)
    rows.push_back({esc(r.arch), num(r.budget), num(r.target_R, 3), esc(r.mode),
                    fmt::format("{}{}", r.runs, r.diverged ? fmt::format(" ({} diverged)", r.diverged) : ""),
                    est(r.train_R, 3), est(r.val_R, 3), est(r.drift, 2), est(r.val_loss)});
  return h + table({"configuration", "budget", "target R", "predictor", "runs", "training R", "validation R",
                    "training R drift", "validation loss"},
                   rows);
}

std::string ratios_section(const Context& c) {
  if (c.analyses.ratios.empty()) return "";
  std::string h = fmt::format(
      "<h2 id=ratios>Compression ratio at matched compute</h2>\n"
      "<p>The same configuration at one budget with each target R. A loss spike is a training step whose loss "
      "is more than {}% above the median of the {} steps before it (consecutive such steps count once); diverged "
      "runs are counted, never dropped. Means over completed seeds, [95% interval]. The paper picks R = 4 as "
      "the balance of loss and stability.</p>\n",
      num(100 * kSpikeRise, 3), kSpikeWindow);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : c.analyses.ratios)
    rows.push_back({esc(r.arch), num(r.budget), num(r.target_R, 3), std::to_string(r.runs), std::to_string(r.diverged),
                    std::to_string(r.spikes), est(r.val_loss), est(r.val_R, 3), est(r.train_R, 3)});
  return h + table({"configuration", "budget", "target R", "runs", "diverged", "loss spikes", "validation loss",
                    "validation R", "training R"},
                   rows);
}

std::string matched_section(const Context& c) {
  if (c.analyses.matched.empty()) return "";
  std::string h = fmt::format(
      "<h2 id=matched>DLCM against the baseline at matched inference cost</h2>\n"
      "<p>Each DLCM configuration beside the baseline at the same budget whose inference FLOPs per token "
      "(forward only, at the validation R) is nearest, when within {}%. Validation loss and bits per byte "
      "per domain at the last evaluation, means over seeds [95% interval]; the gain is the baseline's bpb minus "
      "DLCM's, with Welch's interval. The paper's headline compares at matched inference FLOPs, DLCM with "
      "about twice the parameters.</p>\n",
      num(100 * kMatchTolerance, 3));
  for (const auto& p : c.analyses.matched) {
    h += fmt::format("<p><b>{}</b> (N = {}, {} inference FLOPs/token) against <b>{}</b> (N = {}, {}) at C = {}</p>\n",
                     esc(p.dlcm), num(p.dlcm_N, 3), num(p.dlcm_flops, 3), esc(p.baseline), num(p.baseline_N, 3),
                     num(p.baseline_flops, 3), num(p.budget));
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : p.domains)
      rows.push_back({esc(d.domain), est(d.dlcm_loss), est(d.baseline_loss), est(d.dlcm_bpb), est(d.baseline_bpb),
                      est(d.bpb_gain, 3), std::to_string(d.dlcm_bpb.n) + " / " + std::to_string(d.baseline_bpb.n)});
    h += table({"domain", "DLCM loss", "baseline loss", "DLCM bpb", "baseline bpb", "bpb gain", "seeds"}, rows);
  }
  return h;
}

std::string segmentation_section(const Context& c) {
  std::string h = "<h2 id=segmentation>Segmentation examples</h2>\n";
  if (c.opt.segmentations.empty())
    return h + fmt::format("<p class=note>No examples: {}</p>\n",
                           esc(c.opt.segmentation_note.empty() ? "none were given" : c.opt.segmentation_note));
  h += fmt::format("<p>Concept spans (alternating colours) cut by run “{}” (eval mode, thresholded boundaries).</p>\n",
                   esc(c.opt.segmentation_run));
  for (const auto& s : c.opt.segmentations) {
    // Spans of bytes; a boundary inside a multi-byte character is shown at the character's start.
    std::vector<std::string> spans;
    std::string cur;
    for (std::size_t i = 0; i < s.tokens.size(); ++i) {
      const bool continuation = (s.tokens[i] & 0xC0) == 0x80;
      bool starts = i < s.boundaries.size() && s.boundaries[i];
      for (std::size_t k = i + 1; !starts && !continuation && k < s.tokens.size() && (s.tokens[k] & 0xC0) == 0x80; ++k)
        starts = k < s.boundaries.size() && s.boundaries[k];
      if (starts && !continuation && !cur.empty()) spans.push_back(cur), cur.clear();
      cur += static_cast<char>(s.tokens[i]);
    }
    if (!cur.empty()) spans.push_back(cur);
    h += fmt::format("<p><b>{}</b> ({} bytes, {} concepts)</p>\n<p class=seg>", esc(s.domain), s.tokens.size(),
                     spans.size());
    for (std::size_t k = 0; k < spans.size(); ++k) h += fmt::format("<span class=c{}>{}</span>", k % 2, esc(spans[k]));
    h += "</p>\n";
  }
  return h;
}

// Which binaries wrote this report and trained its runs (result.json's `build`), so a number can
// be traced to the code that made it.
std::string build_footer(const Context& c) {
  std::map<std::string, int> trained;
  int unknown = 0;
  for (const auto& r : c.study.runs) {
    if (r.build.empty()) {
      unknown += storage::is_final(r.status);
      continue;
    }
    ++trained[one_line(build_info_from_json(json::parse(r.build, nullptr, false)))];
  }
  std::string h = fmt::format("<footer><p class=note>Report written by {}.", esc(one_line(c.opt.build)));
  for (const auto& [b, n] : trained) h += fmt::format("<br>{} run{} trained by {}.", n, n == 1 ? "" : "s", esc(b));
  if (unknown) h += fmt::format("<br>{} finished run{} recorded no build.", unknown, unknown == 1 ? "" : "s");
  return h + "</p></footer>\n";
}

// Links to the ablation sections the sweep holds.
std::string ablation_links(const Context& c) {
  std::string h;
  if (!c.analyses.predictors.empty()) h += " · <a href=#predictors>boundary predictors</a>";
  if (!c.analyses.ratios.empty()) h += " · <a href=#ratios>compression ratio</a>";
  if (!c.analyses.matched.empty()) h += " · <a href=#matched>matched inference cost</a>";
  return h;
}

}  // namespace

std::string render_report(storage::Database& db, const std::string& sweep, const ReportOptions& opt) {
  const Study study = load_study(db, sweep);
  // Without budgets asked or stored, recommend at 10x the largest fitted budget.
  ReportOptions o = opt;
  const double c_max = largest_compute(study.dlcm);
  if (o.budgets.empty() && storage::recommendations(db, sweep).empty() && c_max > 0) o.budgets = {10 * c_max};
  std::sort(o.budgets.begin(), o.budgets.end());
  Context c{db, study, o, std::nullopt, "", {}, {}, analyse(load_run_facts(db, study))};
  FitOptions fit;
  fit.threads = opt.threads;
  fit.offsets = !opt.zero_offsets;
  try {
    c.laws = fit_laws(study, fit);
    const BootstrapOptions boot{.replicates = opt.replicates, .seed = opt.seed};
    c.replicates = bootstrap_models(c.laws->dlcm, law_runs(study), c.laws->dlcm_options, boot);
    bootstrap_baseline(*c.laws, study, boot);
  } catch (const std::exception& e) {
    c.laws_error = e.what();
  }
  c.isoflop = fit_families(study);
  std::vector<Recommendation> computed, stored;
  const std::string runs_html = sweep_table(c), compute_html = compute_section(c), fit_html = fit_section(c),
                    curves_html = curves_section(c), frontier_html = frontier_section(c),
                    rec_html = recommendation_section(c, computed, stored),
                    mup_html = mup_section(c), ratio_html = ratio_section(c), seg_html = segmentation_section(c),
                    positions_html = position_section(o.positions),
                    ablation_html = predictors_section(c) + ratios_section(c) + matched_section(c);
  const std::string answer = answer_box(c, computed, stored);

  std::map<std::string, int> status;
  for (const auto& r : study.runs) ++status[r.status];
  std::string counts;
  for (const auto& [s, n] : status) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, esc(s));
  std::string summary = fmt::format("<div class=summary><p><b>{}</b> runs ({}); {} DLCM and {} baseline runs fitted.</p>\n",
                                    study.runs.size(), counts, study.dlcm.size(), study.baseline.size());
  if (c.laws)
    summary += fmt::format("<p>dlcm law R² = {}{}.</p>\n", num(r_squared(c.laws->dlcm.model, law_runs(study)), 4),
                           study.baselines_in_law ? " (DLCM runs and the baselines as its P = 0 case)" : "");
  summary += "</div>\n";
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>dlcm report: {}</title>\n{}\n</head><body>\n"
      "<h1>Scaling study “{}”</h1>\n{}{}<p><a href=#runs>runs</a> · <a href=#compute>loss vs compute</a> · "
      "<a href=#curves>training curves</a> · <a href=#fit>fit</a> · <a href=#frontier>frontier</a> · "
      "<a href=#recommend>recommendations</a> · <a href=#mup>μP</a> · <a href=#ratio>tokens per concept</a> · "
      "<a href=#segmentation>segmentation</a> · <a href=#positions>loss by concept position</a>{}</p>\n"
      "{}{}{}{}{}{}{}{}{}{}{}{}</body></html>\n",
      esc(sweep), kStyle, esc(sweep), answer, summary, ablation_links(c), runs_html, compute_html, curves_html, fit_html,
      frontier_html, rec_html, mup_html, ratio_html, ablation_html, seg_html, positions_html, build_footer(c));
}

}  // namespace dlcm::reports
