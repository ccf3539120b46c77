#include "reports/recommend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "core/flops.hpp"
#include "core/mup.hpp"
#include "fitting/uncertainty.hpp"

namespace dlcm::reports {

using namespace dlcm::fitting;

Study load_study(storage::Database& db, const std::string& sweep) {
  if (!storage::sweep_exists(db, sweep))
    throw std::runtime_error(fmt::format("{}: no sweep named \"{}\"", db.path(), sweep));
  Study s;
  s.sweep = sweep;
  s.runs = storage::sweep_runs(db, sweep);
  std::map<std::string, const storage::RunRow*> by_hash;
  for (const auto& r : s.runs) by_hash[r.hash] = &r;
  const storage::RunRow* best = nullptr;
  for (const auto& p : storage::fit_points(db, sweep)) {
    const auto& row = *by_hash.at(p.hash);
    if (p.status != "completed" || !std::isfinite(p.loss)) {
      s.excluded.push_back(row.label);
      continue;
    }
    const Observation o{p.N, p.D, p.loss, p.P, p.R, p.C, 0};
    if (p.P > 0) {
      s.dlcm.push_back(o);
      s.dlcm_labels.push_back(row.label);
      if (!best || p.loss < s.proxy_loss) best = &row, s.proxy_loss = p.loss;
    } else {
      s.baseline.push_back(o);
      s.baseline_labels.push_back(row.label);
    }
  }
  if (best) {
    s.proxy = parse_run_config(best->config, fmt::format("{}: config of run {}", db.path(), best->hash), "", false);
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

Laws fit_laws(const Study& study, const FitOptions& opt) {
  require_dlcm_runs(study);
  Laws laws{fit_law(Law::dlcm, study.dlcm, opt), opt, std::nullopt, "", std::nullopt};
  laws.baseline = fit_baseline(study, opt.threads, laws.baseline_note);
  return laws;
}

Laws laws_from_stored_fit(const storage::StoredFit& stored, const Study& study, const FitOptions& opt) {
  const auto j = json::parse(stored.result, nullptr, false);
  if (stored.law != "dlcm" || !j.is_object() || !j.contains("params"))
    throw std::runtime_error(fmt::format("fit {} is a {} fit: recommend needs a dlcm fit", stored.id, stored.law));
  require_dlcm_runs(study);
  std::vector<double> v;
  for (auto name : param_names(Law::dlcm)) {
    const auto& x = j["params"].value(std::string(name), json());
    if (!x.is_number()) throw std::runtime_error(fmt::format("fit {}: params.{} is missing", stored.id, name));
    v.push_back(x.get<double>());
  }
  Laws laws;
  laws.dlcm_options = opt;
  laws.dlcm_options.offsets = j.value("offsets", true);
  laws.dlcm_options.huber_delta = j.value("huber_delta", opt.huber_delta);
  laws.dlcm.model = dlcm_model({v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]},
                               laws.dlcm_options.offsets);
  laws.dlcm.objective = j.value("objective", 0.0);
  laws.fit_id = stored.id;
  laws.baseline = fit_baseline(study, opt.threads, laws.baseline_note);
  return laws;
}

BaseLr base_learning_rate(storage::Database& db, const Study& study) {
  if (!study.proxy) throw std::runtime_error(fmt::format("sweep \"{}\" has no completed DLCM run", study.sweep));
  const auto& m = study.proxy->model;
  if (auto st = storage::latest_mup_study(db, "lr-transfer")) {
    const auto j = json::parse(st->result, nullptr, false);
    if (j.is_object() && j.contains("best_base_lr") && j["best_base_lr"].value("mup", json()).is_number())
      return {j["best_base_lr"]["mup"].get<double>(),
              fmt::format("lr-transfer study {} ({}), mup", st->id, st->name), m.d_token_base, m.d_concept_base};
  }
  return {study.proxy->train.lr, fmt::format("best run of sweep {}: {}", study.sweep, study.proxy_label), m.d_token,
          m.d_concept};
}

json mup_hyperparameters(ModelConfig m, const TrainConfig& base, const BaseLr& lr) {
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
  json groups = json::array();
  for (const auto& r : rows) {
    const auto rule = group_rule(m, r.group, r.fan_in);
    const char* fan = r.fan_in == FanIn::d_token ? "d_token" : r.fan_in == FanIn::d_concept ? "d_concept" : "none";
    groups.push_back({{"group", r.label},
                      {"fan_in", fan},
                      {"lr", lr.lr * rule.lr_mult},
                      {"init_std", rule.init_std},
                      {"eps", base.eps * rule.eps_mult},
                      {"weight_decay", base.weight_decay * rule.weight_decay}});
  }
  const auto w = width_mults(m);
  return {{"base_lr", lr.lr},
          {"source", lr.source},
          {"d_token_base", m.d_token_base},
          {"d_concept_base", m.d_concept_base},
          {"s_tok", w.s_tok},
          {"s_con", w.s_con},
          {"output_mult", output_mult(m)},
          {"attention_scale", "1/d_head"},
          {"groups", groups}};
}

json recommend(const Laws& laws, const Study& study, const BaseLr& lr, const RecommendOptions& opt) {
  const auto replicates = opt.replicates > 0 ? bootstrap_models(laws.dlcm, study.dlcm, laws.dlcm_options,
                                                                {.replicates = opt.replicates, .seed = opt.seed})
                                             : std::vector<std::optional<Model>>{};
  return recommend(laws, study, lr, opt, replicates);
}

json recommend(const Laws& laws, const Study& study, const BaseLr& lr, const RecommendOptions& opt,
               std::span<const std::optional<Model>> replicates) {
  if (!study.proxy) throw std::runtime_error(fmt::format("sweep \"{}\" has no completed DLCM run", study.sweep));
  const double C = opt.budget;
  const auto law = dlcm_params(laws.dlcm.model);
  const Allocation best = optimise(law, C, opt.space);
  const Architecture arch = snap(law, C, best, study.proxy->model, study.proxy->boundary);
  json warnings = json::array();

  // Bootstrap: refit on resampled runs, re-optimise each replicate; percentile intervals.
  json interval = {{"level", opt.level}, {"replicates", opt.replicates}};
  if (opt.replicates > 0) {
    std::vector<std::vector<double>> samples;
    int failed = 0;
    for (const auto& m : replicates) {
      try {
        if (!m) throw std::runtime_error("refit did not converge");
        const auto a = optimise(dlcm_params(*m), C, opt.space);
        samples.push_back({a.N, a.P, a.R, a.D, a.loss});
      } catch (const std::exception&) {
        ++failed;
      }
    }
    const std::vector<std::string> names{"N", "P", "R", "D", "predicted_loss"};
    for (const auto& iv : summarize(names, {best.N, best.P, best.R, best.D, best.loss}, samples, opt.level))
      interval[iv.name] = std::isfinite(iv.low) ? json{iv.low, iv.high} : json(nullptr);
    interval["failed"] = failed;
  }

  const double c_max = largest_compute(study.dlcm);
  if (C > opt.warn_factor * c_max)
    warnings.push_back(fmt::format("budget {:.3g} FLOPs is {:.0f}x the largest fitted budget ({:.3g}): an "
                                   "extrapolation beyond the fitted range",
                                   C, C / c_max, c_max));
  double r_lo = 1e300, r_hi = 0;
  for (const auto& o : study.dlcm) r_lo = std::min(r_lo, o.R), r_hi = std::max(r_hi, o.R);
  if (best.R < 0.9 * r_lo || best.R > 1.1 * r_hi)
    warnings.push_back(fmt::format("R = {:.3g} lies outside the fitted ratios [{:.3g}, {:.3g}]", best.R, r_lo, r_hi));
  if (best.P <= opt.space.p_min * 1.001 || best.P >= opt.space.p_max * 0.999)
    warnings.push_back(fmt::format("the optimum sits at the edge of the searched shares (P = {:.3g}): the fitted "
                                   "law does not bound it",
                                   best.P));

  json baseline = nullptr, multiplier = nullptr;
  if (laws.baseline) {
    const auto bl = chinchilla_params(laws.baseline->model);
    const auto o = chinchilla_compute_optimal(bl, C);
    const double bl_loss = chinchilla_loss(bl, o.N, o.D);
    if (!std::isfinite(o.N) || !std::isfinite(o.D) || o.N <= 0 || o.D <= 0 || !std::isfinite(bl_loss)) {
      // A degenerate fit (an exponent running away): the sweep's baseline sizes do not bracket
      // the compute-optimal size at these budgets, so the law cannot price the baseline.
      warnings.push_back(fmt::format("the baseline's Chinchilla fit has no finite compute-optimal model at this "
                                     "budget (alpha {:.3g}, beta {:.3g}): its model sizes do not bracket the "
                                     "optimum; sweep smaller and larger baselines",
                                     bl.alpha, bl.beta));
    } else {
      baseline = {{"N", o.N}, {"D", o.D}, {"predicted_loss", bl_loss}};
      if (const auto cb = baseline_compute_for_loss(bl, arch.loss, C)) {
        multiplier = *cb / C;
        baseline["compute_needed"] = *cb;
      } else {
        warnings.push_back("the baseline law never reaches the DLCM's predicted loss (below its irreducible loss)");
      }
    }
  } else {
    warnings.push_back(laws.baseline_note);
  }

  const auto& m = arch.model;
  json architecture = {{"d_token", m.d_token},
                       {"d_concept", m.d_concept},
                       {"encoder_layers", m.encoder_layers},
                       {"decoder_layers", m.decoder_layers},
                       {"concept_layers", m.concept_layers},
                       {"n_heads_token", m.n_heads_token},
                       {"n_heads_concept", m.n_heads_concept},
                       {"seq_len", m.seq_len},
                       {"vocab_size", m.vocab_size},
                       {"N", arch.N},
                       {"P", arch.P},
                       {"R", arch.R},
                       {"flops_per_token", arch.flops_per_token},
                       {"D", arch.D},
                       {"predicted_loss", arch.loss}};

  json out = {{"budget", C},
              {"sweep", study.sweep},
              {"fit_id", laws.fit_id ? json(*laws.fit_id) : json(nullptr)},
              {"N", best.N},
              {"P", best.P},
              {"R", best.R},
              {"D", best.D},
              {"n_eff", best.n_eff},
              {"predicted_loss", best.loss},
              {"interval", interval},
              {"architecture", architecture},
              {"hyperparameters", mup_hyperparameters(m, study.proxy->train, lr)},
              {"baseline", baseline},
              {"compute_multiplier", multiplier},
              {"largest_fitted_budget", c_max},
              {"warnings", warnings}};
  return out;
}

}  // namespace dlcm::reports
