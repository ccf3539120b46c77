#include "reports/recommend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "core/flops.hpp"
#include "core/mup.hpp"
#include "fitting/identification.hpp"
#include "fitting/lr_transfer.hpp"
#include "sweeps/spec.hpp"
#include "fitting/uncertainty.hpp"

namespace dlcm::reports {

using namespace dlcm::fitting;

RunAccounting account_run(const storage::RunRow& r, const RunConfig& cfg) {
  return account(cfg.model, cfg.boundary, r.train_ratio.value_or(r.R), r.tokens.value_or(r.D));
}

double inference_flops_per_token(const storage::RunRow& r, const RunConfig& cfg) {
  const bool dlcm = cfg.model.arch == Arch::dlcm;
  return flops_per_token(cfg.model, cfg.boundary, dlcm ? r.realised_ratio.value_or(r.R) : 1.0).inference_flops();
}

Observation observe(const storage::RunRow& r, const RunConfig& cfg) {
  // Compute is what the run spent (at its training ratio); R is what its loss was measured at.
  const auto a = account_run(r, cfg);
  const double R = cfg.model.arch == Arch::dlcm ? r.realised_ratio.value_or(r.R) : 1.0;
  return {.N = a.N, .D = a.D, .loss = r.final_val_loss.value_or(NAN), .P = a.P, .R = R, .C = a.C, .line = 0,
          .budget = r.budget};
}

Study load_study(storage::Database& db, const std::string& sweep) {
  if (!storage::sweep_exists(db, sweep))
    throw std::runtime_error(fmt::format("{}: no sweep named \"{}\"", db.path(), sweep));
  Study s;
  s.sweep = sweep;
  s.baselines_in_law = sweeps::spec_baselines_in_law(storage::sweep_spec(db, sweep),
                                                     fmt::format("{}: spec of sweep \"{}\"", db.path(), sweep));
  s.runs = storage::sweep_runs(db, sweep);
  const storage::RunRow* best = nullptr;
  for (const auto& r : s.runs) {
    if (!storage::is_final(r.status)) continue;
    if (!storage::is(r.status, storage::RunStatus::completed) || !r.final_val_loss ||
        !std::isfinite(*r.final_val_loss)) {
      s.excluded.push_back(r.label);
      continue;
    }
    const auto cfg = parse_run_config(r.config, fmt::format("{}: config of run {}", db.path(), r.hash), "", false);
    const auto o = observe(r, cfg);
    s.by_hash[r.hash] = o;
    if (cfg.model.arch == Arch::dlcm) {
      s.dlcm.push_back(o);
      s.dlcm_labels.push_back(r.label);
      s.dlcm_target_R.push_back(cfg.boundary.ratio);
      if (!best || o.loss < s.proxy_loss) best = &r, s.proxy_loss = o.loss, s.proxy = cfg;
    } else {
      s.baseline.push_back(o);
      s.baseline_labels.push_back(r.label);
    }
  }
  if (best) {
    s.proxy_label = best->label;
    s.proxy_run_dir = best->run_dir;
  }
  return s;
}

namespace {

// threads: as the caller's fits (the 4500-start Chinchilla fit would otherwise take every core).
std::optional<Fit> fit_baseline(const Study& study, int threads, std::string& note) {
  std::set<double> sizes;
  for (const auto& o : study.baseline) sizes.insert(o.N);
  if (static_cast<int>(study.baseline.size()) < kMinBaselineRuns || static_cast<int>(sizes.size()) < kMinBaselineSizes) {
    note = fmt::format(
        "no baseline law: the sweep has {} completed baseline runs at {} model sizes, and Chinchilla's "
        "law needs at least {} runs over {} sizes (add baseline_layers or d_token values to the sweep)",
        study.baseline.size(), sizes.size(), kMinBaselineRuns, kMinBaselineSizes);
    return std::nullopt;
  }
  FitOptions opt;
  opt.threads = threads;
  return fit_law(Law::chinchilla, study.baseline, opt);
}

void require_dlcm_runs(const Study& study) {
  if (study.dlcm.empty())
    throw std::runtime_error(fmt::format("sweep \"{}\" has no completed DLCM runs to fit", study.sweep));
}

}  // namespace

std::vector<Observation> law_runs(const Study& study) {
  auto obs = study.dlcm;
  if (study.baselines_in_law) obs.insert(obs.end(), study.baseline.begin(), study.baseline.end());
  return obs;
}

Laws fit_laws(const Study& study, const FitOptions& opt) {
  require_dlcm_runs(study);
  Laws laws;
  laws.dlcm = fit_law(Law::dlcm, law_runs(study), opt);
  laws.dlcm_options = opt;
  laws.baseline = fit_baseline(study, opt.threads, laws.baseline_note);
  laws.baseline_map = fit_compute_map(study.baseline);
  return laws;
}

Laws laws_from_stored_fit(const storage::StoredFit& stored, const Study& study, const FitOptions& opt) {
  const auto j = json::parse(stored.result, nullptr, false);
  if (stored.law != "dlcm" || !j.is_object() || !j.contains("params"))
    throw std::runtime_error(fmt::format("fit {} is a {} fit: recommend needs a dlcm fit", stored.id, stored.law));
  require_dlcm_runs(study);
  FitResult fit;
  try {
    fit = fit_result_from_json(j);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("fit {}: {}", stored.id, e.what()));
  }
  const auto params = dlcm_params_of(fit.params);
  if (!params) {
    for (auto name : param_names(Law::dlcm))
      if (std::none_of(fit.params.begin(), fit.params.end(), [&](const auto& p) { return p.first == name; }))
        throw std::runtime_error(fmt::format("fit {}: params.{} is missing", stored.id, name));
  }
  Laws laws;
  laws.dlcm_options = opt;
  laws.dlcm_options.offsets = fit.offsets.value_or(true);
  laws.dlcm_options.huber_delta = fit.huber_delta.value_or(opt.huber_delta);
  laws.dlcm.model = dlcm_model(*params, laws.dlcm_options.offsets);
  laws.dlcm.objective = fit.objective;
  laws.fit_id = stored.id;
  laws.dlcm.active_bounds = active_bounds(laws.dlcm.model);
  laws.baseline = fit_baseline(study, opt.threads, laws.baseline_note);
  laws.baseline_map = fit_compute_map(study.baseline);
  return laws;
}

BaseLr base_learning_rate(storage::Database& db, const Study& study) {
  if (!study.proxy) throw std::runtime_error(fmt::format("sweep \"{}\" has no completed DLCM run", study.sweep));
  const auto& m = study.proxy->model;
  const auto& t = study.proxy->train;
  const bool mup_run = m.parametrisation == Parametrisation::mup;
  BaseLr run{t.lr, t.lr_token, t.lr_concept, t.lr_other, "", m.d_token_base, m.d_concept_base, mup_run};
  if (auto st = storage::latest_mup_study(db, "lr-transfer")) {
    std::optional<fitting::TransferAnalysis> a;
    try {
      a = fitting::transfer_analysis_from_json(st->result);
    } catch (const std::exception&) {
      // A study this binary cannot read measured nothing it can use.
    }
    if (a && a->best_base_lr_mup) {
      const double best = *a->best_base_lr_mup;
      const std::string& rate = a->rate;
      BaseLr out = run;
      out.mup_evidence = true;
      out.source = fmt::format("lr-transfer study {} ({}), mup, rate {}", st->id, st->name, rate);
      if (rate == "all") out = {best, {}, {}, {}, out.source, m.d_token_base, m.d_concept_base, true};
      else if (rate == "token") out.lr_token = best;
      else if (rate == "concept") out.lr_concept = best;
      else out.lr_other = best;
      return out;
    }
  }
  if (mup_run) {
    run.source = fmt::format("the μP base rates the best run of sweep {} trained with ({}); no lr-transfer study "
                             "has measured the optimum",
                             study.sweep, study.proxy_label);
    return run;
  }
  run.source = fmt::format("no μP table: the best run of sweep {} ({}) trained under standard parametrisation at "
                           "lr {:g}, which is not a μP base rate, and the database holds no lr-transfer study (run "
                           "`dlcm mup lr-transfer`)",
                           study.sweep, study.proxy_label, t.lr);
  run.d_token_base = m.d_token;
  run.d_concept_base = m.d_concept;
  return run;
}

MupTable mup_hyperparameters(ModelConfig m, const TrainConfig& base, const BaseLr& lr) {
  m.parametrisation = Parametrisation::mup;
  m.d_token_base = lr.d_token_base;
  m.d_concept_base = lr.d_concept_base;
  struct Row {
    Group group;
    FanIn fan_in;
    const char* label;
  };
  // Joining matrices follow their fan-in: W_up reads d_token, cross-attention K/V read d_concept.
  const Row rows[] = {{Group::embedding, FanIn::none, "embedding"},
                      {Group::token, FanIn::d_token, "token"},
                      {Group::backbone, FanIn::d_concept, "backbone"},
                      {Group::joining, FanIn::d_token, "joining (W_up)"},
                      {Group::joining, FanIn::d_concept, "joining (cross-attention K/V)"},
                      {Group::head, FanIn::none, "head"},
                      {Group::vector, FanIn::none, "vector"}};
  TrainConfig t = base;  // the base rates; eps, weight decay and its mode are the proxy run's
  t.lr = lr.lr;
  t.lr_token = lr.lr_token;
  t.lr_concept = lr.lr_concept;
  t.lr_other = lr.lr_other;
  const auto w = width_mults(m);
  MupTable out{.base_lr = lr.lr,
               .base_lr_token = base_lr(t, Group::token, FanIn::d_token),
               .base_lr_concept = base_lr(t, Group::backbone, FanIn::d_concept),
               .base_lr_other = base_lr(t, Group::vector, FanIn::none),
               .weight_decay_mode = name(t.weight_decay_mode),
               .source = lr.source,
               .d_token_base = m.d_token_base,
               .d_concept_base = m.d_concept_base,
               .s_tok = w.s_tok,
               .s_con = w.s_con,
               .output_mult = output_mult(m)};
  for (const auto& r : rows) {
    const auto h = group_hyperparameters(m, t, r.group, r.fan_in);
    const char* fan = r.fan_in == FanIn::d_token ? "d_token" : r.fan_in == FanIn::d_concept ? "d_concept" : "none";
    out.groups.push_back({r.label, fan, base_lr(t, r.group, r.fan_in), h.lr, h.init_std, h.eps, h.weight_decay});
  }
  return out;
}

RunConfig recommended_config(const RunConfig& proxy, const Architecture& arch, const BaseLr& lr) {
  RunConfig cfg = proxy;
  cfg.model = arch.model;
  cfg.boundary = arch.boundary;
  if (lr.mup_evidence) {
    cfg.model.parametrisation = Parametrisation::mup;
    cfg.model.d_token_base = lr.d_token_base;
    cfg.model.d_concept_base = lr.d_concept_base;
    cfg.train.lr = lr.lr;
    cfg.train.lr_token = lr.lr_token;
    cfg.train.lr_concept = lr.lr_concept;
    cfg.train.lr_other = lr.lr_other;
  }
  return cfg;
}

// What runs would pin each parameter of the compression-aware law.
std::string what_to_run(const std::vector<std::string>& params) {
  std::set<std::string> advice;
  for (const auto& p : params) {
    if (p == "delta1" || p == "A_tok" || p == "t_tok") advice.insert("token widths on both sides of the optimum");
    else if (p == "delta2" || p == "A_con" || p == "t_con") advice.insert("backbone sizes on both sides of the optimum");
    else if (p == "gamma") advice.insert("more compression ratios");
    else if (p == "alpha" || p == "A_data" || p == "t_data") advice.insert("more budgets (a wider span of tokens)");
    else if (p == "E0") advice.insert("larger budgets, where the loss flattens");
  }
  std::string out;
  for (const auto& a : advice) out += (out.empty() ? "add " : "; ") + a;
  const bool offsets = std::any_of(params.begin(), params.end(), [](const std::string& p) { return p[0] == 't'; });
  if (offsets) out += std::string(out.empty() ? "" : "; ") + "offsets the runs cannot pin: refit with --zero-offsets";
  return out;
}

// Identification of a fit from replicates already refitted (the caller re-optimises them too):
// percentile intervals of the natural parameters, then fitting::identify.
std::vector<ParamIdentification> identify_replicates(const Fit& fit, std::span<const std::optional<Model>> replicates,
                                                     std::span<const Observation> obs, double level) {
  std::vector<std::vector<double>> params;
  for (const auto& m : replicates)
    if (m) params.push_back(natural_params(*m));
  const auto names = param_names(fit.model.law);
  Bootstrap b;
  b.intervals = summarize({names.begin(), names.end()}, natural_params(fit.model), params, level);
  return identify(fit, b, obs);
}

void bootstrap_baseline(Laws& laws, const Study& study, const fitting::BootstrapOptions& boot) {
  if (!laws.baseline || boot.replicates <= 0) return;
  FitOptions opt;
  opt.threads = laws.dlcm_options.threads;
  laws.baseline_replicates = bootstrap_models(*laws.baseline, study.baseline, opt, boot);
}

Recommendation recommend(const Laws& laws, const Study& study, const BaseLr& lr, const RecommendOptions& opt) {
  const BootstrapOptions boot{.replicates = opt.replicates, .seed = opt.seed};
  const auto replicates = opt.replicates > 0 ? bootstrap_models(laws.dlcm, law_runs(study), laws.dlcm_options, boot)
                                             : std::vector<std::optional<Model>>{};
  Laws with_baseline = laws;
  if (with_baseline.baseline_replicates.empty()) bootstrap_baseline(with_baseline, study, boot);
  return recommend(with_baseline, study, lr, opt, replicates);
}

Recommendation recommend(const Laws& laws, const Study& study, const BaseLr& lr, const RecommendOptions& opt,
                         std::span<const std::optional<Model>> replicates) {
  if (!study.proxy) throw std::runtime_error(fmt::format("sweep \"{}\" has no completed DLCM run", study.sweep));
  const double C = opt.budget;
  const auto law = dlcm_params(laws.dlcm.model);
  const Allocated alloc = allocate(law, C, opt.space, study.proxy->model, study.proxy->boundary);
  const Allocation& best = alloc.best;
  const Architecture& arch = alloc.architecture;
  Recommendation out;
  auto& warnings = out.warnings;

  // Bootstrap: refit on resampled runs, re-optimise each replicate (under the same exact-accounting
  // correction); percentile intervals. A replicate whose optimum sits on a search bound counts as
  // failed: its "optimum" is the bound, not a value of the law.
  auto& interval = out.interval;
  interval.level = opt.level;
  interval.replicates = opt.replicates;
  const auto span_of = [](const Interval& iv) { return std::isfinite(iv.low) ? Span{{iv.low, iv.high}} : Span{}; };
  // Per replicate, the snapped architecture's loss (what the multiplier's point prices), NAN where the
  // refit failed: paired by index with the baseline's replicates.
  std::vector<double> replicate_losses;
  if (opt.replicates > 0) {
    std::vector<std::vector<double>> samples, arch_losses;
    int failed = 0, bounded = 0;
    for (const auto& m : replicates) {
      replicate_losses.push_back(NAN);
      try {
        if (!m) throw std::runtime_error("refit did not converge");
        // The snapped architecture's loss under each replicate, re-optimised or not: the interval of
        // the prediction for the model one would train (what `dlcm verify` tests).
        const double al = dlcm_loss(dlcm_params(*m), arch.N, arch.P, arch.R, arch.D);
        if (std::isfinite(al)) arch_losses.push_back({al}), replicate_losses.back() = al;
        const auto a = optimise(dlcm_params(*m), C, opt.space, alloc.n_eff_correction);
        if (!bounds_hit(a, opt.space, C).empty()) {
          ++bounded;
          continue;
        }
        samples.push_back({a.N, a.P, a.R, a.D, a.D / a.N, a.loss});
      } catch (const std::exception&) {
        ++failed;
      }
    }
    const auto ivs = summarize({"N", "P", "R", "D", "tokens_per_param", "predicted_loss"},
                               {best.N, best.P, best.R, best.D, best.D / best.N, best.loss}, samples, opt.level);
    interval.measured = true;
    interval.N = span_of(ivs[0]), interval.P = span_of(ivs[1]), interval.R = span_of(ivs[2]);
    interval.D = span_of(ivs[3]), interval.tokens_per_param = span_of(ivs[4]), interval.predicted_loss = span_of(ivs[5]);
    interval.architecture_loss = span_of(summarize({"architecture_loss"}, {arch.loss}, arch_losses, opt.level).front());
    interval.failed = failed;
    interval.on_bound = bounded;
    if (bounded > 0)
      warnings.push_back(fmt::format("{} of {} bootstrap replicates put the optimum on a search bound: the runs do "
                                     "not pin the law there",
                                     bounded, opt.replicates));
  }

  // Identification, measured on the same replicates: a law the runs do not pin gives no point answer.
  auto& missing = out.unidentified;
  if (opt.replicates > 0) {
    for (const auto& p : identify_replicates(laws.dlcm, replicates, law_runs(study), opt.level)) {
      interval.identification.push_back({p.name, p.identified, p.why});
      if (!p.identified) missing.push_back(p.name);
    }
    if (!missing.empty())
      warnings.push_back(fmt::format("the compression-aware law is not identified ({}): no point answer; {}",
                                     fmt::join(missing, ", "), what_to_run(missing)));
  } else {
    warnings.push_back("identification not measured (no bootstrap): read the optimum as unchecked");
  }

  const auto on_bounds = bounds_hit(best, opt.space, C);
  for (const auto& b : on_bounds)
    warnings.push_back(fmt::format(
        "the optimum sits on the search bound of {} ({}): the fitted law keeps improving beyond what was searched, "
        "so this is not a recommendation; widen the search or the sweep",
        b,
        b == "N"   ? fmt::format("N = {:.3g}, the smallest searched", best.N)
        : b == "D" ? fmt::format("D = {:.3g} tokens, the fewest allowed", best.D)
        : b == "P" ? fmt::format("P = {:.3g}", best.P)
                   : fmt::format("R = {:.3g}", best.R)));
  if (std::abs(std::log(arch.N / best.N)) > std::log(2.0))
    warnings.push_back(fmt::format("the nearest real architecture has N = {:.3g}, {:.2g}x the optimum's {:.3g}: "
                                   "the proxy's shapes cannot express it",
                                   arch.N, arch.N / best.N, best.N));

  const double c_max = largest_compute(study.dlcm);
  if (C > opt.warn_factor * c_max)
    warnings.push_back(fmt::format("budget {:.3g} FLOPs is {:.0f}x the largest fitted budget ({:.3g}): an "
                                   "extrapolation beyond the fitted range",
                                   C, C / c_max, c_max));
  double r_lo = 1e300, r_hi = 0;
  for (const auto& o : study.dlcm) r_lo = std::min(r_lo, o.R), r_hi = std::max(r_hi, o.R);
  if (best.R < 0.9 * r_lo || best.R > 1.1 * r_hi)
    warnings.push_back(fmt::format("R = {:.3g} lies outside the fitted ratios [{:.3g}, {:.3g}]", best.R, r_lo, r_hi));

  // The baseline law prices the multiplier only when its own replicates pin it.
  std::vector<std::string> baseline_missing;
  if (laws.baseline && !laws.baseline_replicates.empty())
    baseline_missing =
        unidentified(identify_replicates(*laws.baseline, laws.baseline_replicates, study.baseline, opt.level));
  if (laws.baseline && !baseline_missing.empty()) {
    warnings.push_back(fmt::format("the baseline's Chinchilla law is not identified ({}): no compute multiplier; "
                                   "sweep baseline sizes on both sides of its optimum at every budget",
                                   fmt::join(baseline_missing, ", ")));
    out.baseline = BaselinePricing{.unidentified = baseline_missing};
  } else if (laws.baseline) {
    const auto bl = chinchilla_params(laws.baseline->model);
    const auto o = chinchilla_compute_optimal(bl, C, laws.baseline_map);
    const double bl_loss = chinchilla_loss(bl, o.N, o.D);
    if (!std::isfinite(o.N) || !std::isfinite(o.D) || o.N <= 0 || o.D <= 0 || !std::isfinite(bl_loss)) {
      // A degenerate fit (an exponent running away): the sweep's baseline sizes do not bracket
      // the compute-optimal size at these budgets, so the law cannot price the baseline.
      warnings.push_back(fmt::format("the baseline's Chinchilla fit has no finite compute-optimal model at this "
                                     "budget (alpha {:.3g}, beta {:.3g}): its model sizes do not bracket the "
                                     "optimum; sweep smaller and larger baselines",
                                     bl.alpha, bl.beta));
    } else {
      auto& baseline = out.baseline.emplace(BaselinePricing{.N = o.N,
                                                             .D = o.D,
                                                             .n_eff = laws.baseline_map.n_eff(o.N),
                                                             .predicted_loss = bl_loss,
                                                             .compute_map = summary_of(laws.baseline_map)});
      if (const auto cb = baseline_compute_for_loss(bl, arch.loss, C, laws.baseline_map)) {
        out.compute_multiplier = *cb / C;
        baseline.compute_needed = *cb;
      } else {
        warnings.push_back("the baseline law never reaches the DLCM's predicted loss (below its irreducible loss)");
      }
      // The multiplier's interval: each DLCM replicate's loss priced by the same replicate of the
      // baseline law (the two fits resample their own runs).
      if (out.compute_multiplier && !laws.baseline_replicates.empty()) {
        std::vector<std::vector<double>> ms;
        for (std::size_t r = 0; r < replicate_losses.size() && r < laws.baseline_replicates.size(); ++r) {
          if (!std::isfinite(replicate_losses[r]) || !laws.baseline_replicates[r]) continue;
          const auto cb = baseline_compute_for_loss(chinchilla_params(*laws.baseline_replicates[r]),
                                                    replicate_losses[r], C, laws.baseline_map);
          if (cb && std::isfinite(*cb)) ms.push_back({*cb / C});
        }
        interval.compute_multiplier =
            span_of(summarize({"compute_multiplier"}, {*out.compute_multiplier}, ms, opt.level).front());
      }
    }
  } else {
    warnings.push_back(laws.baseline_note);
  }
  if (!lr.mup_evidence) warnings.push_back(lr.source);

  const auto& m = arch.model;
  out.architecture = {.d_token = m.d_token,
                      .d_concept = m.d_concept,
                      .encoder_layers = m.encoder_layers,
                      .decoder_layers = m.decoder_layers,
                      .concept_layers = m.concept_layers,
                      .n_heads_token = m.n_heads_token,
                      .n_heads_concept = m.n_heads_concept,
                      .seq_len = m.seq_len,
                      .vocab_size = m.vocab_size,
                      .N = arch.N,
                      .P = arch.P,
                      .R = arch.R,
                      .n_eff = arch.n_eff,
                      .flops_per_token = arch.flops_per_token,
                      .D = arch.D,
                      .predicted_loss = arch.loss};

  out.budget = C;
  out.sweep = study.sweep;
  out.fit_id = laws.fit_id;
  out.status = !missing.empty() ? Answer::unidentified : on_bounds.empty() ? Answer::interior : Answer::on_bound;
  out.bounds_hit = on_bounds;
  out.N = best.N, out.P = best.P, out.R = best.R, out.D = best.D;
  out.n_eff = best.n_eff;
  out.tokens_per_param = best.D / best.N;
  out.n_eff_correction = alloc.n_eff_correction.at(best.R);
  out.n_eff_error = alloc.n_eff_error;
  out.predicted_loss = best.loss;
  if (lr.mup_evidence) out.hyperparameters.mup = mup_hyperparameters(m, study.proxy->train, lr);
  else out.hyperparameters.refused = lr.source, out.hyperparameters.lr = lr.lr;
  out.largest_fitted_budget = c_max;
  out.config = to_toml(recommended_config(*study.proxy, arch, lr));
  RecommendedLaw used{.offsets = laws.dlcm.model.offsets};
  const auto names = param_names(Law::dlcm);
  const auto values = natural_params(laws.dlcm.model);
  for (std::size_t i = 0; i < names.size(); ++i) used.params.emplace_back(names[i], values[i]);
  out.law = used;
  return out;
}

Recommendation recommend_and_store(storage::Database& db, storage::Database& store, const RecommendRequest& req) {
  std::optional<storage::StoredFit> stored;
  std::string sweep = req.sweep;
  if (req.fit_id) {
    stored = storage::load_fit(db, *req.fit_id);
    if (!stored) throw std::runtime_error(fmt::format("{}: no fit with id {}", db.path(), *req.fit_id));
    sweep = stored->sweep;
  }
  if (sweep.empty()) throw std::runtime_error("dlcm recommend: give --sweep NAME or --fit ID");
  const auto study = load_study(db, sweep);
  const auto laws = stored ? laws_from_stored_fit(*stored, study, req.fit) : fit_laws(study, req.fit);
  auto r = recommend(laws, study, base_learning_rate(db, study), req.options);
  r.recommendation_id =
      storage::store_recommendation(store, sweep, laws.fit_id, req.options.budget, to_json(r).dump());
  return r;
}

std::vector<Recommendation> stored_recommendations(storage::Database& db, const std::string& sweep) {
  std::vector<Recommendation> out;
  for (const auto& s : storage::recommendations(db, sweep)) {
    try {
      auto r = recommendation_from_json(json::parse(s.result));
      r.recommendation_id = s.id;
      out.push_back(std::move(r));
    } catch (const std::exception&) {
      // Not a `dlcm recommend` row: left out rather than trusted.
    }
  }
  return out;
}

}  // namespace dlcm::reports
