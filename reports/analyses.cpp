#include "reports/analyses.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/config.hpp"

namespace dlcm::reports {
namespace {

// Student's t at 97.5% for 1..30 degrees of freedom; the normal's 1.96 beyond.
double t975(int df) {
  static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                             2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                             2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  return df < 1 ? NAN : df <= 30 ? t[df - 1] : 1.96;
}

double variance(const std::vector<double>& v, double mean) {
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return v.size() > 1 ? ss / static_cast<double>(v.size() - 1) : 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Baseline − DLCM with Welch's interval (df rounded down: the wider interval).
Estimate welch_gain(const std::vector<double>& baseline, const std::vector<double>& dlcm) {
  Estimate e;
  if (baseline.empty() || dlcm.empty()) return e;
  const Estimate b = estimate(baseline), d = estimate(dlcm);
  e.n = std::min(b.n, d.n);
  e.mean = e.low = e.high = b.mean - d.mean;
  if (b.n < 2 || d.n < 2) return e;
  const double vb = variance(baseline, b.mean) / b.n, vd = variance(dlcm, d.mean) / d.n;
  if (vb + vd == 0) return e;
  const double df = (vb + vd) * (vb + vd) / (vb * vb / (b.n - 1) + vd * vd / (d.n - 1));
  const double half = t975(static_cast<int>(std::floor(df))) * std::sqrt(vb + vd);
  e.low = e.mean - half, e.high = e.mean + half;
  return e;
}

// A config as text with the named things cleared: runs that differ only in those share it.
std::string key_without(RunConfig cfg, bool seed, bool mode, bool ratio) {
  if (seed) cfg.train.seed = 0;
  if (mode) cfg.boundary.mode = BoundaryMode::global;
  if (ratio) {
    // A budget sets steps from the ratio's compute: they differ with it, and are not the architecture.
    cfg.boundary.ratio = 0;
    cfg.train.steps = cfg.train.warmup_steps = cfg.train.eval_every = cfg.train.checkpoint_every = 0;
  }
  return to_toml(cfg);
}

std::string arch_words(const RunConfig& c, bool with_ratio, bool with_mode) {
  const auto& m = c.model;
  if (m.arch == Arch::baseline) return fmt::format("baseline d{} L{}", m.d_token, m.n_layers);
  std::string s = fmt::format("dlcm d{} c{}x{} e{} d{}", m.d_token, m.d_concept, m.concept_layers, m.encoder_layers,
                              m.decoder_layers);
  if (with_ratio) s += fmt::format(" R{:g}", c.boundary.ratio);
  if (with_mode) s += fmt::format(" {}", name(c.boundary.mode));
  return s;
}

template <class F>
std::vector<double> values_of(const std::vector<const RunFacts*>& runs, F&& get) {
  std::vector<double> out;
  for (const auto* r : runs)
    if (const std::optional<double> v = get(*r); v && std::isfinite(*v)) out.push_back(*v);
  return out;
}

json estimate_json(const Estimate& e) {
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  return e.n == 0 ? json(nullptr) : json{{"mean", num(e.mean)}, {"low", num(e.low)}, {"high", num(e.high)}, {"n", e.n}};
}

}  // namespace

Estimate estimate(const std::vector<double>& v) {
  Estimate e;
  e.n = static_cast<int>(v.size());
  if (v.empty()) return e;
  double sum = 0;
  for (double x : v) sum += x;
  e.mean = e.low = e.high = sum / static_cast<double>(v.size());
  if (v.size() > 1) {
    const double half = t975(e.n - 1) * std::sqrt(variance(v, e.mean) / e.n);
    e.low = e.mean - half, e.high = e.mean + half;
  }
  return e;
}

int count_spikes(const std::vector<storage::MetricPoint>& loss) {
  int spikes = 0;
  bool in_spike = false;
  for (std::size_t t = kSpikeWindow; t < loss.size(); ++t) {
    std::vector<double> before;
    for (std::size_t k = t - kSpikeWindow; k < t; ++k)
      if (std::isfinite(loss[k].value)) before.push_back(loss[k].value);
    const double v = loss[t].value;
    const bool spike = !std::isfinite(v) || (!before.empty() && v > (1 + kSpikeRise) * median(before));
    spikes += spike && !in_spike;
    in_spike = spike;
  }
  return spikes;
}

std::optional<double> span_ratio(const std::vector<storage::MetricPoint>& ratio, double from, double to) {
  double inv = 0;
  int n = 0;
  for (const auto& p : ratio)
    if (p.step >= from && p.step <= to && p.value > 0) inv += 1 / p.value, ++n;
  if (n == 0) return std::nullopt;
  return n / inv;
}

std::optional<double> ratio_drift(const std::vector<storage::MetricPoint>& ratio) {
  if (ratio.size() < 4) return std::nullopt;
  const double first = static_cast<double>(ratio.front().step), last = static_cast<double>(ratio.back().step);
  const double quarter = (last - first + 1) / 4;
  const auto early = span_ratio(ratio, first, first + quarter - 1), late = span_ratio(ratio, last - quarter + 1, last);
  if (!early || !late) return std::nullopt;
  return *late - *early;
}

std::vector<RunFacts> load_run_facts(storage::Database& db, const Study& study) {
  const auto losses = storage::metric_series(db, study.sweep, "train", "loss");
  const auto ratios = storage::metric_series(db, study.sweep, "train", "ratio");
  std::map<std::string, std::map<std::string, DomainValues>> domains;
  for (const auto& m : storage::final_val_metrics(db, study.sweep, "loss")) domains[m.hash][m.domain].loss = m.value;
  for (const auto& m : storage::final_val_metrics(db, study.sweep, "bpb")) domains[m.hash][m.domain].bpb = m.value;
  for (const auto& m : storage::final_val_metrics(db, study.sweep, "ratio")) domains[m.hash][m.domain].ratio = m.value;
  std::vector<RunFacts> out;
  for (const auto& r : study.runs) {
    if (r.status != "completed" && r.status != "diverged") continue;
    const auto cfg = parse_run_config(r.config, fmt::format("{}: config of run {}", db.path(), r.hash), "", false);
    RunFacts f;
    f.cfg = cfg;
    f.hash = r.hash, f.label = r.label, f.status = r.status;
    f.dlcm = cfg.model.arch == Arch::dlcm;
    f.mode = f.dlcm ? name(cfg.boundary.mode) : "";
    f.target_R = f.dlcm ? cfg.boundary.ratio : 1;
    f.budget = r.budget;
    f.seed = static_cast<int64_t>(cfg.train.seed);
    f.config_key = fmt::format("{:g}\n{}", r.budget, key_without(cfg, true, false, false));
    f.name = arch_words(cfg, true, true);
    f.N = account_run(r, cfg).N;
    f.train_R = f.dlcm ? r.train_ratio : std::optional<double>(1.0);
    f.val_R = f.dlcm ? r.realised_ratio : std::optional<double>(1.0);
    f.val_loss = r.final_val_loss;
    f.inference_flops = inference_flops_per_token(r, cfg);
    if (auto it = losses.find(r.hash); it != losses.end()) f.train_loss = it->second;
    if (auto it = ratios.find(r.hash); it != ratios.end()) f.train_ratio = it->second;
    if (auto it = domains.find(r.hash); it != domains.end()) f.domains = it->second;
    out.push_back(std::move(f));
  }
  return out;
}

namespace {

// Each configuration (DLCM runs at one budget, seeds together) trained at two values or more of one
// axis, the predictor or the target R: its runs by that value.
template <class V, class F>
std::vector<std::map<V, std::vector<const RunFacts*>>> varied(const std::vector<RunFacts>& runs, bool mode_axis, F&& value) {
  std::map<std::string, std::map<V, std::vector<const RunFacts*>>> cells;
  for (const auto& r : runs)
    if (r.dlcm)
      cells[fmt::format("{:g}\n{}", r.budget, key_without(r.cfg, true, mode_axis, !mode_axis))][value(r)].push_back(&r);
  std::vector<std::map<V, std::vector<const RunFacts*>>> out;
  for (auto& [key, by] : cells)
    if (by.size() >= 2) out.push_back(std::move(by));
  return out;
}

std::vector<const RunFacts*> completed(std::vector<const RunFacts*> rs) {
  std::erase_if(rs, [](const RunFacts* r) { return r->status != "completed"; });
  return rs;
}

}  // namespace

std::vector<PredictorRow> compare_predictors(const std::vector<RunFacts>& runs) {
  std::vector<PredictorRow> out;
  for (const auto& by_mode : varied<std::string>(runs, true, [](const RunFacts& r) { return r.mode; }))
    for (const auto& [mode, rs] : by_mode) {
      PredictorRow row;
      row.arch = arch_words(rs.front()->cfg, false, false);
      row.budget = rs.front()->budget, row.target_R = rs.front()->target_R, row.mode = mode;
      row.runs = static_cast<int>(rs.size());
      for (const auto* r : rs) row.diverged += r->status == "diverged";
      const auto done = completed(rs);
      row.train_R = estimate(values_of(done, [](const RunFacts& r) { return r.train_R; }));
      row.val_R = estimate(values_of(done, [](const RunFacts& r) { return r.val_R; }));
      row.drift = estimate(values_of(done, [](const RunFacts& r) { return ratio_drift(r.train_ratio); }));
      row.val_loss = estimate(values_of(done, [](const RunFacts& r) { return r.val_loss; }));
      out.push_back(row);
    }
  return out;
}

std::vector<RatioRow> compare_ratios(const std::vector<RunFacts>& runs) {
  std::vector<RatioRow> out;
  for (const auto& by_R : varied<double>(runs, false, [](const RunFacts& r) { return r.target_R; }))
    for (const auto& [R, rs] : by_R) {
      RatioRow row;
      row.arch = arch_words(rs.front()->cfg, false, true);
      row.budget = rs.front()->budget, row.target_R = R;
      row.runs = static_cast<int>(rs.size());
      for (const auto* r : rs) row.diverged += r->status == "diverged", row.spikes += count_spikes(r->train_loss);
      const auto done = completed(rs);
      row.val_loss = estimate(values_of(done, [](const RunFacts& r) { return r.val_loss; }));
      row.val_R = estimate(values_of(done, [](const RunFacts& r) { return r.val_R; }));
      row.train_R = estimate(values_of(done, [](const RunFacts& r) { return r.train_R; }));
      out.push_back(row);
    }
  return out;
}

TokensPerConcept tokens_per_concept(const std::vector<RunFacts>& runs) {
  std::map<std::string, std::map<ConceptColumn, std::pair<double, int>>> cells;
  std::set<ConceptColumn> columns;
  for (const auto& r : runs) {
    if (!r.dlcm || r.status != "completed") continue;
    for (const auto& [domain, v] : r.domains) {
      if (!v.ratio || !std::isfinite(*v.ratio)) continue;
      const ConceptColumn col{r.mode, r.target_R};
      auto& [sum, n] = cells[domain][col];
      sum += *v.ratio, ++n;
      columns.insert(col);
    }
  }
  TokensPerConcept out;
  for (const auto& c : columns)
    if (c.mode == "global") out.columns.push_back(c);
  for (const auto& c : columns)
    if (c.mode != "global") out.columns.push_back(c);
  for (const auto& [domain, by_col] : cells)
    for (std::size_t i = 0; i < out.columns.size(); ++i)
      if (const auto it = by_col.find(out.columns[i]); it != by_col.end())
        out.cells[domain][i] = {it->second.first / it->second.second, it->second.second};
  return out;
}

std::vector<MatchedPair> match_inference(const std::vector<RunFacts>& runs) {
  // Completed runs by configuration (seeds together).
  std::map<std::string, std::vector<const RunFacts*>> groups;
  for (const auto& r : runs)
    if (r.status == "completed") groups[r.config_key].push_back(&r);
  auto mean_flops = [](const std::vector<const RunFacts*>& rs) {
    double s = 0;
    for (const auto* r : rs) s += r->inference_flops;
    return s / static_cast<double>(rs.size());
  };
  std::vector<MatchedPair> out;
  for (const auto& [dkey, ds] : groups) {
    if (!ds.front()->dlcm) continue;
    const double fd = mean_flops(ds);
    const std::vector<const RunFacts*>* best = nullptr;
    double best_gap = INFINITY;
    for (const auto& [bkey, bs] : groups) {
      if (bs.front()->dlcm || bs.front()->budget != ds.front()->budget) continue;
      const double gap = std::abs(std::log(mean_flops(bs) / fd));
      if (gap < best_gap) best_gap = gap, best = &bs;
    }
    if (!best || !(std::abs(std::exp(best_gap) - 1) <= kMatchTolerance)) continue;
    const auto& bs = *best;
    MatchedPair p;
    p.dlcm = ds.front()->name, p.baseline = bs.front()->name;
    p.budget = ds.front()->budget;
    p.dlcm_flops = fd, p.baseline_flops = mean_flops(bs);
    p.dlcm_N = ds.front()->N, p.baseline_N = bs.front()->N;
    std::set<std::string> names;
    for (const auto* r : ds)
      for (const auto& [d, v] : r->domains) names.insert(d);
    std::vector<std::string> order;
    if (names.erase("all")) order.push_back("all");
    order.insert(order.end(), names.begin(), names.end());
    for (const auto& d : order) {
      auto pick = [&](const std::vector<const RunFacts*>& rs, bool bpb) {
        return values_of(rs, [&](const RunFacts& r) -> std::optional<double> {
          const auto it = r.domains.find(d);
          if (it == r.domains.end()) return std::nullopt;
          return bpb ? it->second.bpb : it->second.loss;
        });
      };
      DomainPair dp;
      dp.domain = d;
      dp.dlcm_loss = estimate(pick(ds, false)), dp.baseline_loss = estimate(pick(bs, false));
      dp.dlcm_bpb = estimate(pick(ds, true)), dp.baseline_bpb = estimate(pick(bs, true));
      dp.bpb_gain = welch_gain(pick(bs, true), pick(ds, true));
      p.domains.push_back(dp);
    }
    out.push_back(p);
  }
  return out;
}

Analyses analyse(const std::vector<RunFacts>& runs) {
  return {compare_predictors(runs), compare_ratios(runs), tokens_per_concept(runs), match_inference(runs)};
}

json to_json(const Analyses& a) {
  json out = json::object();
  json& pred = out["boundary_predictors"] = json::array();
  for (const auto& r : a.predictors)
    pred.push_back({{"arch", r.arch}, {"budget", r.budget}, {"target_R", r.target_R}, {"mode", r.mode},
                    {"runs", r.runs}, {"diverged", r.diverged}, {"train_R", estimate_json(r.train_R)},
                    {"val_R", estimate_json(r.val_R)}, {"train_R_drift", estimate_json(r.drift)},
                    {"val_loss", estimate_json(r.val_loss)}});
  json& rat = out["compression_ratio"] = json::array();
  for (const auto& r : a.ratios)
    rat.push_back({{"arch", r.arch}, {"budget", r.budget}, {"target_R", r.target_R}, {"runs", r.runs},
                   {"diverged", r.diverged}, {"loss_spikes", r.spikes}, {"val_loss", estimate_json(r.val_loss)},
                   {"val_R", estimate_json(r.val_R)}, {"train_R", estimate_json(r.train_R)}});
  json& tpc = out["tokens_per_concept"] = json::array();
  for (const auto& [domain, cols] : a.concepts.cells)
    for (const auto& [i, v] : cols)
      tpc.push_back({{"domain", domain}, {"mode", a.concepts.columns[i].mode},
                     {"target_R", a.concepts.columns[i].target_R}, {"mean", v.first}, {"runs", v.second}});
  json& m = out["matched_inference"] = json::array();
  for (const auto& p : a.matched) {
    json doms = json::array();
    for (const auto& d : p.domains)
      doms.push_back({{"domain", d.domain}, {"dlcm_loss", estimate_json(d.dlcm_loss)},
                      {"baseline_loss", estimate_json(d.baseline_loss)}, {"dlcm_bpb", estimate_json(d.dlcm_bpb)},
                      {"baseline_bpb", estimate_json(d.baseline_bpb)}, {"bpb_gain", estimate_json(d.bpb_gain)}});
    m.push_back({{"dlcm", p.dlcm}, {"baseline", p.baseline}, {"budget", p.budget},
                 {"dlcm_inference_flops_per_token", p.dlcm_flops}, {"baseline_inference_flops_per_token", p.baseline_flops},
                 {"dlcm_N", p.dlcm_N}, {"baseline_N", p.baseline_N}, {"domains", doms}});
  }
  return out;
}

}  // namespace dlcm::reports
