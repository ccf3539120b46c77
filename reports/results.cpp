#include "reports/results.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dlcm::reports {

namespace {

// Non-finite numbers are written as null and read back as NaN.
template <class J>
J num(double v) {
  return std::isfinite(v) ? J(v) : J(nullptr);
}
template <class J>
double get_num(const J& j, const char* key, double fallback = 0) {
  if (!j.contains(key)) return fallback;
  const auto& x = j.at(key);
  if (x.is_null()) return NAN;
  if (!x.is_number()) throw std::runtime_error(fmt::format("`{}` is not a number", key));
  return x.template get<double>();
}
template <class T, class J>
T get_or(const J& j, const char* key, T fallback) {
  return j.contains(key) && !j.at(key).is_null() ? j.at(key).template get<T>() : fallback;
}

json span_json(const Span& s) { return s ? json{s->first, s->second} : json(nullptr); }
Span span_from(const json& x) {
  if (!x.is_array() || x.size() != 2 || !x[0].is_number() || !x[1].is_number()) return std::nullopt;
  return std::pair{x[0].get<double>(), x[1].get<double>()};
}

json named_json(const NamedValues& v) {
  json out = json::object();
  for (const auto& [k, x] : v) out[k] = num<json>(x);
  return out;
}
NamedValues named_from(const json& j, const char* key) {
  NamedValues out;
  if (!j.is_object()) throw std::runtime_error(fmt::format("`{}` is not an object", key));
  for (const auto& [k, x] : j.items()) out.emplace_back(k, x.is_null() ? NAN : x.get<double>());
  return out;
}

json identification_json(const std::vector<Identification>& ids) {
  json out = json::object();
  for (const auto& p : ids) out[p.name] = {{"identified", p.identified}, {"why", p.why}};
  return out;
}
std::vector<Identification> identification_from(const json& j) {
  std::vector<Identification> out;
  if (!j.is_object()) return out;
  for (const auto& [k, p] : j.items())
    out.push_back({k, p.value("identified", false), p.value("why", std::string())});
  return out;
}

json compute_map_json(const ComputeMapSummary& m) {
  return {{"k", m.k}, {"e", m.e}, {"N_range", span_json(m.N_range)}, {"max_rel_error", m.max_rel_error}};
}
ComputeMapSummary compute_map_from(const json& j) {
  return {get_num(j, "k", 1), get_num(j, "e", 1), span_from(j.value("N_range", json())), get_num(j, "max_rel_error")};
}

const json& require(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) throw std::runtime_error(fmt::format("`{}` is missing", key));
  return j.at(key);
}

}  // namespace

std::optional<fitting::DlcmParams> dlcm_params_of(const NamedValues& params) {
  std::vector<double> v;
  for (auto name : fitting::param_names(fitting::Law::dlcm)) {
    auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.first == name; });
    if (it == params.end()) return std::nullopt;
    v.push_back(it->second);
  }
  return fitting::DlcmParams{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]};
}

ComputeMapSummary summary_of(const fitting::ComputeMap& m) {
  const bool ranged = std::isfinite(m.log_n_lo);
  return {std::exp(m.log_k), m.e, ranged ? Span{{std::exp(m.log_n_lo), std::exp(m.log_n_hi)}} : std::nullopt,
          m.max_rel_error};
}

// ---- dlcm fit ----

json to_json(const FitResult& f) {
  json out;
  out["law"] = f.law;
  if (!f.x.empty()) out["x"] = f.x;
  out["params"] = named_json(f.params);
  if (f.offsets) out["offsets"] = *f.offsets;
  out["objective"] = num<json>(f.objective);
  if (f.huber_delta) out["huber_delta"] = *f.huber_delta;
  out["n_points"] = f.n_points;
  if (f.starts) {
    out["starts"] = *f.starts;
    out["converged_starts"] = f.converged_starts.value_or(0);
    out["terminations"] = f.terminations;
    out["active_bounds"] = f.active_bounds;
  }
  out["r2"] = num<json>(f.r2);
  json residuals = json::array();
  for (double r : f.residuals) residuals.push_back(num<json>(r));
  out["residuals"] = residuals;
  if (f.law == "isoflop") {
    json budgets = json::array(), skipped = json::array();
    for (const auto& b : f.budgets)
      budgets.push_back({{"C", b.C}, {"n_runs", b.n_runs}, {"x_opt", num<json>(b.x_opt)},
                         {"log_x_opt_se", num<json>(b.log_x_opt_se)}, {"loss_opt", num<json>(b.loss_opt)},
                         {"curvature", num<json>(b.curvature)}});
    for (const auto& b : f.skipped_budgets) skipped.push_back({{"C", b.C}, {"n_runs", b.n_runs}, {"reason", b.reason}});
    out["budgets"] = budgets;
    out["skipped_budgets"] = skipped;
  }
  if (f.compute_map) {
    out["compute_map"] = compute_map_json(*f.compute_map);
    out["derived"]["C"] = f.derived_C.value_or(NAN);
    for (const auto& [name, v] : f.derived) out["derived"][name] = num<json>(v);
  }
  if (f.bootstrap) {
    const auto& b = *f.bootstrap;
    for (const auto& iv : b.intervals) out["ci"][iv.name] = {num<json>(iv.low), num<json>(iv.high)};
    for (const auto& iv : b.intervals) out["se"][iv.name] = num<json>(iv.se);
    out["bootstrap"] = {{"replicates", b.replicates}, {"failed", b.failed}, {"seed", b.seed}, {"level", b.level}};
    if (b.starts) out["bootstrap"]["starts"] = *b.starts;
  }
  if (f.identification) {
    if (!f.identification->empty()) out["identification"] = identification_json(*f.identification);
    std::vector<std::string> missing;
    for (const auto& p : *f.identification)
      if (!p.identified) missing.push_back(p.name);
    out["unidentified"] = missing;
  }
  if (f.holdout) {
    json runs = json::array();
    for (const auto& r : f.holdout->runs)
      runs.push_back({{"line", r.line}, {"loss", r.loss}, {"predicted", num<json>(r.predicted)},
                      {"rel_error", num<json>(r.rel_error)}});
    out["holdout"] = {{"budget", f.holdout->budget},
                      {"n_train", f.holdout->n_train},
                      {"n_test", f.holdout->runs.size()},
                      {"mean_rel_error", num<json>(f.holdout->mean_rel_error)},
                      {"max_rel_error", num<json>(f.holdout->max_rel_error)},
                      {"runs", runs}};
  }
  if (f.isoflop_holdout) {
    const auto& h = *f.isoflop_holdout;
    out["holdout"] = {{"budget", h.budget},
                      {"predicted", num<json>(h.predicted)},
                      {"fitted", num<json>(h.fitted)},
                      {"rel_error", num<json>(h.rel_error)}};
  }
  if (f.source)
    out["source"] = {{"sweep", f.source->sweep},
                     {"db", f.source->db},
                     {"excluded_diverged", f.source->excluded_diverged},
                     {"baselines", f.source->baselines},
                     {"runs", f.source->runs}};
  if (f.fit_id) out["fit_id"] = *f.fit_id;
  return out;
}

FitResult fit_result_from_json(const json& j) {
  FitResult f;
  const auto& law = require(j, "law");
  if (!law.is_string()) throw std::runtime_error("`law` is not a string");
  f.law = law.get<std::string>();
  f.x = j.value("x", std::string());
  f.params = named_from(require(j, "params"), "params");
  if (j.contains("offsets")) f.offsets = j["offsets"].get<bool>();
  f.objective = get_num(j, "objective");
  if (j.contains("huber_delta")) f.huber_delta = get_num(j, "huber_delta");
  f.n_points = get_or<int64_t>(j, "n_points", 0);
  if (j.contains("starts")) {
    f.starts = j["starts"].get<int64_t>();
    f.converged_starts = get_or<int64_t>(j, "converged_starts", 0);
    f.terminations = get_or<std::map<std::string, int>>(j, "terminations", {});
    f.active_bounds = get_or<std::vector<std::string>>(j, "active_bounds", {});
  }
  f.r2 = get_num(j, "r2");
  for (const auto& r : j.value("residuals", json::array())) f.residuals.push_back(r.is_null() ? NAN : r.get<double>());
  for (const auto& b : j.value("budgets", json::array()))
    f.budgets.push_back({get_num(b, "C"), get_or<int64_t>(b, "n_runs", 0), get_num(b, "x_opt"),
                         get_num(b, "log_x_opt_se"), get_num(b, "loss_opt"), get_num(b, "curvature")});
  for (const auto& b : j.value("skipped_budgets", json::array()))
    f.skipped_budgets.push_back({get_num(b, "C"), get_or<int64_t>(b, "n_runs", 0), b.value("reason", std::string())});
  if (j.contains("compute_map")) f.compute_map = compute_map_from(j["compute_map"]);
  if (j.contains("derived")) {
    f.derived_C = get_num(j["derived"], "C");
    for (const auto& [k, v] : j["derived"].items())
      if (k != "C") f.derived.emplace_back(k, v.is_null() ? NAN : v.get<double>());
  }
  if (j.contains("bootstrap")) {
    const auto& b = j["bootstrap"];
    FitBootstrap out{get_or<int>(b, "replicates", 0), get_or<int>(b, "failed", 0),
                     get_or<std::uint64_t>(b, "seed", 0), get_num(b, "level", 0.95), std::nullopt, {}};
    if (b.contains("starts")) out.starts = b["starts"].get<int>();
    const json se = j.value("se", json::object()), ci = j.value("ci", json::object());
    for (const auto& [k, v] : ci.items())
      out.intervals.push_back({k, v.at(0).is_null() ? NAN : v.at(0).get<double>(),
                               v.at(1).is_null() ? NAN : v.at(1).get<double>(), get_num(se, k.c_str(), NAN)});
    f.bootstrap = out;
  }
  if (j.contains("unidentified")) f.identification = identification_from(j.value("identification", json::object()));
  if (j.contains("holdout")) {
    const auto& h = j["holdout"];
    if (h.contains("runs")) {
      LawHoldout out{get_num(h, "budget"), get_or<int64_t>(h, "n_train", 0), get_num(h, "mean_rel_error"),
                     get_num(h, "max_rel_error"), {}};
      for (const auto& r : h["runs"])
        out.runs.push_back({get_or<int>(r, "line", 0), get_num(r, "loss"), get_num(r, "predicted"), get_num(r, "rel_error")});
      f.holdout = out;
    } else {
      f.isoflop_holdout = IsoflopHoldoutRow{get_num(h, "budget"), get_num(h, "predicted"), get_num(h, "fitted"),
                                            get_num(h, "rel_error")};
    }
  }
  if (j.contains("source")) {
    const auto& s = j["source"];
    f.source = FitSource{s.value("sweep", std::string()), s.value("db", std::string()), s.value("runs", std::string()),
                         get_or<std::vector<std::string>>(s, "excluded_diverged", {}), get_or<int>(s, "baselines", 0)};
  }
  if (j.contains("fit_id")) f.fit_id = j["fit_id"].get<int64_t>();
  return f;
}

// ---- dlcm recommend ----

const char* name(Answer a) {
  switch (a) {
    case Answer::interior: return "interior";
    case Answer::on_bound: return "on_bound";
    case Answer::unidentified: return "unidentified";
  }
  return "?";
}

Answer parse_answer(const std::string& s) {
  for (Answer a : {Answer::interior, Answer::on_bound, Answer::unidentified})
    if (s == name(a)) return a;
  throw std::runtime_error(fmt::format("`status` \"{}\" is not interior, on_bound or unidentified", s));
}

json to_json(const Recommendation& r) {
  const auto& iv = r.interval;
  json interval = {{"level", iv.level}, {"replicates", iv.replicates}};
  if (iv.measured) {
    interval["N"] = span_json(iv.N);
    interval["P"] = span_json(iv.P);
    interval["R"] = span_json(iv.R);
    interval["D"] = span_json(iv.D);
    interval["tokens_per_param"] = span_json(iv.tokens_per_param);
    interval["predicted_loss"] = span_json(iv.predicted_loss);
    interval["architecture_loss"] = span_json(iv.architecture_loss);
    interval["failed"] = iv.failed;
    interval["on_bound"] = iv.on_bound;
    interval["identification"] = identification_json(iv.identification);
  }
  if (iv.compute_multiplier) interval["compute_multiplier"] = span_json(*iv.compute_multiplier);

  const auto& a = r.architecture;
  const json architecture = {{"d_token", a.d_token},
                             {"d_concept", a.d_concept},
                             {"encoder_layers", a.encoder_layers},
                             {"decoder_layers", a.decoder_layers},
                             {"concept_layers", a.concept_layers},
                             {"n_heads_token", a.n_heads_token},
                             {"n_heads_concept", a.n_heads_concept},
                             {"seq_len", a.seq_len},
                             {"vocab_size", a.vocab_size},
                             {"N", a.N},
                             {"P", a.P},
                             {"R", a.R},
                             {"n_eff", a.n_eff},
                             {"flops_per_token", a.flops_per_token},
                             {"D", a.D},
                             {"predicted_loss", num<json>(a.predicted_loss)}};

  json hyper;
  if (const auto& m = r.hyperparameters.mup) {
    json groups = json::array();
    for (const auto& g : m->groups)
      groups.push_back({{"group", g.group},
                        {"fan_in", g.fan_in},
                        {"base_lr", g.base_lr},
                        {"lr", g.lr},
                        {"init_std", g.init_std},
                        {"eps", g.eps},
                        {"weight_decay", g.weight_decay}});
    hyper = {{"base_lr", m->base_lr},
             {"base_lrs", {{"token", m->base_lr_token}, {"concept", m->base_lr_concept}, {"other", m->base_lr_other}}},
             {"weight_decay_mode", m->weight_decay_mode},
             {"source", m->source},
             {"d_token_base", m->d_token_base},
             {"d_concept_base", m->d_concept_base},
             {"s_tok", m->s_tok},
             {"s_con", m->s_con},
             {"output_mult", m->output_mult},
             {"attention_scale", m->attention_scale},
             {"groups", groups}};
  } else {
    hyper = {{"refused", r.hyperparameters.refused}, {"lr", r.hyperparameters.lr}};
  }

  json baseline = nullptr;
  if (const auto& b = r.baseline) {
    if (!b->unidentified.empty()) {
      baseline = {{"unidentified", b->unidentified}};
    } else {
      baseline = {{"N", b->N},
                  {"D", b->D},
                  {"n_eff", b->n_eff},
                  {"predicted_loss", b->predicted_loss},
                  {"compute_map", compute_map_json(b->compute_map)}};
      if (b->compute_needed) baseline["compute_needed"] = *b->compute_needed;
    }
  }

  json out = {{"budget", r.budget},
              {"sweep", r.sweep},
              {"fit_id", r.fit_id ? json(*r.fit_id) : json(nullptr)},
              {"status", name(r.status)},
              {"unidentified", r.unidentified},
              {"bounds_hit", r.bounds_hit},
              {"N", r.N},
              {"P", r.P},
              {"R", r.R},
              {"D", r.D},
              {"n_eff", r.n_eff},
              {"tokens_per_param", r.tokens_per_param},
              {"n_eff_correction", r.n_eff_correction},
              {"n_eff_error", r.n_eff_error},
              {"predicted_loss", num<json>(r.predicted_loss)},
              {"interval", interval},
              {"architecture", architecture},
              {"hyperparameters", hyper},
              {"baseline", baseline},
              {"compute_multiplier", r.compute_multiplier ? num<json>(*r.compute_multiplier) : json(nullptr)},
              {"largest_fitted_budget", r.largest_fitted_budget},
              {"warnings", r.warnings}};
  if (!r.config.empty()) out["config"] = r.config;
  if (r.law) out["law"] = {{"name", r.law->name}, {"offsets", r.law->offsets}, {"params", named_json(r.law->params)}};
  if (r.recommendation_id) out["recommendation_id"] = *r.recommendation_id;
  return out;
}

Recommendation recommendation_from_json(const json& j) {
  Recommendation r;
  const auto& iv = require(j, "interval");
  const auto& a = require(j, "architecture");
  const auto& h = require(j, "hyperparameters");
  const auto& w = require(j, "warnings");
  if (!iv.is_object() || !a.is_object() || !h.is_object() || !w.is_array())
    throw std::runtime_error("`interval`, `architecture`, `hyperparameters` or `warnings` is of the wrong type");
  r.budget = get_num(j, "budget");
  r.sweep = j.value("sweep", std::string());
  if (j.contains("fit_id") && !j["fit_id"].is_null()) r.fit_id = j["fit_id"].get<int64_t>();
  r.status = parse_answer(j.value("status", std::string("interior")));
  r.unidentified = get_or<std::vector<std::string>>(j, "unidentified", {});
  r.bounds_hit = get_or<std::vector<std::string>>(j, "bounds_hit", {});
  r.N = get_num(j, "N"), r.P = get_num(j, "P"), r.R = get_num(j, "R", 1), r.D = get_num(j, "D");
  r.n_eff = get_num(j, "n_eff");
  r.tokens_per_param = get_num(j, "tokens_per_param");
  r.n_eff_correction = get_num(j, "n_eff_correction", 1);
  r.n_eff_error = get_num(j, "n_eff_error");
  r.predicted_loss = get_num(j, "predicted_loss");

  auto& i = r.interval;
  i.level = get_num(iv, "level", 0.9);
  i.replicates = get_or<int>(iv, "replicates", 0);
  i.measured = iv.contains("failed");
  i.N = span_from(iv.value("N", json()));
  i.P = span_from(iv.value("P", json()));
  i.R = span_from(iv.value("R", json()));
  i.D = span_from(iv.value("D", json()));
  i.tokens_per_param = span_from(iv.value("tokens_per_param", json()));
  i.predicted_loss = span_from(iv.value("predicted_loss", json()));
  i.architecture_loss = span_from(iv.value("architecture_loss", json()));
  i.failed = get_or<int>(iv, "failed", 0);
  i.on_bound = get_or<int>(iv, "on_bound", 0);
  i.identification = identification_from(iv.value("identification", json()));
  if (iv.contains("compute_multiplier")) i.compute_multiplier = span_from(iv["compute_multiplier"]);

  auto& ar = r.architecture;
  ar.d_token = get_or<int>(a, "d_token", 0), ar.d_concept = get_or<int>(a, "d_concept", 0);
  ar.encoder_layers = get_or<int>(a, "encoder_layers", 0), ar.decoder_layers = get_or<int>(a, "decoder_layers", 0);
  ar.concept_layers = get_or<int>(a, "concept_layers", 0);
  ar.n_heads_token = get_or<int>(a, "n_heads_token", 0), ar.n_heads_concept = get_or<int>(a, "n_heads_concept", 0);
  ar.seq_len = get_or<int>(a, "seq_len", 0), ar.vocab_size = get_or<int>(a, "vocab_size", 0);
  ar.N = get_num(a, "N"), ar.P = get_num(a, "P"), ar.R = get_num(a, "R", 1), ar.n_eff = get_num(a, "n_eff");
  ar.flops_per_token = get_num(a, "flops_per_token"), ar.D = get_num(a, "D");
  ar.predicted_loss = get_num(a, "predicted_loss");

  if (h.contains("groups") && h["groups"].is_array()) {
    MupTable m;
    m.base_lr = get_num(h, "base_lr");
    const json lrs = h.value("base_lrs", json::object());
    m.base_lr_token = get_num(lrs, "token", m.base_lr);
    m.base_lr_concept = get_num(lrs, "concept", m.base_lr);
    m.base_lr_other = get_num(lrs, "other", m.base_lr);
    m.weight_decay_mode = h.value("weight_decay_mode", std::string());
    m.source = h.value("source", std::string());
    m.d_token_base = get_or<int>(h, "d_token_base", 0), m.d_concept_base = get_or<int>(h, "d_concept_base", 0);
    m.s_tok = get_num(h, "s_tok", 1), m.s_con = get_num(h, "s_con", 1), m.output_mult = get_num(h, "output_mult", 1);
    m.attention_scale = h.value("attention_scale", std::string("1/d_head"));
    for (const auto& g : h["groups"])
      m.groups.push_back({g.value("group", std::string()), g.value("fan_in", std::string()), get_num(g, "base_lr"),
                          get_num(g, "lr"), get_num(g, "init_std"), get_num(g, "eps"), get_num(g, "weight_decay")});
    r.hyperparameters.mup = std::move(m);
  } else {
    r.hyperparameters.refused = h.value("refused", std::string("no μP table"));
    r.hyperparameters.lr = get_num(h, "lr");
  }

  if (const json b = j.value("baseline", json()); b.is_object()) {
    BaselinePricing p;
    p.unidentified = get_or<std::vector<std::string>>(b, "unidentified", {});
    p.N = get_num(b, "N"), p.D = get_num(b, "D"), p.n_eff = get_num(b, "n_eff");
    p.predicted_loss = get_num(b, "predicted_loss");
    if (b.contains("compute_map")) p.compute_map = compute_map_from(b["compute_map"]);
    if (b.contains("compute_needed")) p.compute_needed = get_num(b, "compute_needed");
    r.baseline = std::move(p);
  }
  if (const json m = j.value("compute_multiplier", json()); m.is_number()) r.compute_multiplier = m.get<double>();
  r.largest_fitted_budget = get_num(j, "largest_fitted_budget");
  for (const auto& x : w) r.warnings.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  r.config = j.value("config", json()).is_string() ? j["config"].get<std::string>() : std::string();
  if (const json l = j.value("law", json()); l.is_object() && l.value("params", json()).is_object())
    r.law = RecommendedLaw{l.value("name", std::string("dlcm")), l.value("offsets", true),
                           named_from(l["params"], "law.params")};
  if (j.contains("recommendation_id") && j["recommendation_id"].is_number_integer())
    r.recommendation_id = j["recommendation_id"].get<int64_t>();
  return r;
}

std::optional<fitting::DlcmParams> recommended_law(const Recommendation& r) {
  return r.law ? dlcm_params_of(r.law->params) : std::nullopt;
}

std::string unidentified_names(const Recommendation& r) { return fmt::format("{}", fmt::join(r.unidentified, ", ")); }

// ---- dlcm mup coord-check ----

double CoordCheckResult::slope(const std::string& family) const {
  const auto it = slopes_by_step.find(family);
  return it == slopes_by_step.end() || it->second.empty() ? NAN : it->second.back();
}

nlohmann::json to_json(const CoordCheckResult& c) {
  using J = nlohmann::json;
  const auto list = [](const std::vector<double>& s) {
    J v = J::array();
    for (double x : s) v.push_back(num<J>(x));
    return v;
  };
  J slopes = J::object(), by_step = J::object(), sd = J::object(), curves = J::array();
  for (const auto& [family, s] : c.slopes_by_step) {
    slopes[family] = num<J>(c.slope(family));
    by_step[family] = list(s);
  }
  for (const auto& [family, s] : c.slope_sd_by_step) sd[family] = list(s);
  for (const auto& p : c.curves)
    curves.push_back({{"family", p.family}, {"width_token", p.width_token}, {"width_concept", p.width_concept},
                      {"step", p.step}, {"mean_abs", num<J>(p.mean_abs)}});
  return {{"parametrisation", c.parametrisation},
          {"arch", c.arch},
          {"axis", c.axis},
          {"widths", {{"token", c.widths_token}, {"concept", c.widths_concept}}},
          {"base_widths", {{"token", c.d_token_base}, {"concept", c.d_concept_base}}},
          {"lr", c.lr},
          {"lrs", {{"token", c.lr_token}, {"concept", c.lr_concept}, {"other", c.lr_other}}},
          {"steps", c.steps},
          {"seeds", c.seeds},
          {"segmentation", c.segmentation},
          {"realised_ratio", list(c.realised_ratio)},
          {"slopes", slopes},
          {"slopes_by_step", by_step},
          {"slope_sd_by_step", sd},
          {"band", c.band},
          {"pass", c.pass},
          {"curves", curves}};
}

CoordCheckResult coord_check_from_json(const nlohmann::json& j) {
  using J = nlohmann::json;
  if (!j.is_object() || !j.contains("curves") || !j["curves"].is_array())
    throw std::runtime_error("`curves` is missing");
  const auto list = [](const J& v) {
    std::vector<double> out;
    for (const auto& x : v) out.push_back(x.is_number() ? x.get<double>() : NAN);
    return out;
  };
  CoordCheckResult c;
  c.parametrisation = j.value("parametrisation", std::string("?"));
  c.arch = j.value("arch", std::string());
  c.axis = j.value("axis", std::string());
  c.segmentation = j.value("segmentation", std::string());
  const J widths = j.value("widths", J::object()), base = j.value("base_widths", J::object()),
          lrs = j.value("lrs", J::object());
  c.widths_token = get_or<std::vector<int>>(widths, "token", {});
  c.widths_concept = get_or<std::vector<int>>(widths, "concept", {});
  c.d_token_base = get_or<int>(base, "token", 0), c.d_concept_base = get_or<int>(base, "concept", 0);
  c.lr = get_num(j, "lr");
  c.lr_token = get_num(lrs, "token", c.lr), c.lr_concept = get_num(lrs, "concept", c.lr);
  c.lr_other = get_num(lrs, "other", c.lr);
  c.steps = get_or<int>(j, "steps", 0), c.seeds = get_or<int>(j, "seeds", 0);
  c.realised_ratio = list(j.value("realised_ratio", J::array()));
  c.band = get_num(j, "band");
  const J by_step = j.value("slopes_by_step", J::object()), last = j.value("slopes", J::object()),
          sd = j.value("slope_sd_by_step", J::object()), pass = j.value("pass", J::object());
  for (const auto& [family, s] : by_step.items()) c.slopes_by_step[family] = list(s);
  // Rows without the per-step slopes keep the last one.
  for (const auto& [family, s] : last.items())
    if (!c.slopes_by_step.count(family)) c.slopes_by_step[family] = {s.is_number() ? s.get<double>() : NAN};
  for (const auto& [family, s] : sd.items()) c.slope_sd_by_step[family] = list(s);
  for (const auto& [family, ok] : pass.items())
    if (ok.is_boolean()) c.pass[family] = ok.get<bool>();
  for (const auto& p : j["curves"])
    c.curves.push_back({p.value("family", std::string("?")), p.value("width_token", 0), p.value("width_concept", 0),
                        p.value("step", 0), p.value("mean_abs", J()).is_number() ? p["mean_abs"].get<double>() : NAN});
  return c;
}

}  // namespace dlcm::reports
