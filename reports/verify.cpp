#include "reports/verify.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "reports/recommend.hpp"
#include "storage/status.hpp"

namespace fs = std::filesystem;

namespace dlcm::reports {

namespace {

bool same_budget(double a, double b) { return std::abs(a / b - 1) < 1e-9; }

// Rows written before recommendations kept their config and law cannot be trained as registered.
bool usable(const Recommendation& r) { return !r.config.empty() && recommended_law(r).has_value(); }

std::string hyperparameters_of(const Recommendation& r) {
  if (const auto& m = r.hyperparameters.mup) return fmt::format("μP-transferred: base lr {:g} ({})", m->base_lr, m->source);
  return "not μP-transferred (the proxy run's own rates): " + r.hyperparameters.refused;
}

}  // namespace

std::string verify_sweep_name(const std::string& sweep) { return sweep + "-verify"; }

std::string unverifiable(const Recommendation& r, const std::string& sweep, double budget) {
  const std::string again = fmt::format("then `dlcm recommend --sweep {} --budget {:g}` and `dlcm verify` again", sweep, budget);
  const std::string which = fmt::format("sweep \"{}\" at C = {:g}: recommendation {}", sweep, budget,
                                        r.recommendation_id ? std::to_string(*r.recommendation_id) : "null");
  if (r.status == Answer::unidentified) {
    return fmt::format("{} is no prediction to verify: the runs do not identify the law ({} not pinned); {}; {}", which,
                       unidentified_names(r), what_to_run(r.unidentified), again);
  }
  if (r.status != Answer::interior)
    return fmt::format("{} is no prediction to verify: the law's optimum lies on the search bound {} (the law runs past "
                       "the searched range); widen the sweep (or the search: --r-choices, --r-range), {}",
                       which, nlohmann::json(r.bounds_hit).dump(), again);
  if (!r.interval.architecture_loss)
    return fmt::format("{} has no bootstrap interval of its predicted loss (made with --bootstrap 0, or every "
                       "replicate failed), so neither its identification nor its error was measured; {}",
                       which, again);
  return "";
}

VerifyPlan plan_verification(storage::Database& db, const VerifyRequest& req) {
  if (!storage::sweep_exists(db, req.sweep))
    throw std::runtime_error(fmt::format("{}: no sweep named \"{}\"", db.path(), req.sweep));
  VerifyPlan p;
  p.sweep = req.sweep;
  p.budget = req.budget;
  // The newest stored recommendation at the budget is the registered prediction.
  bool found = false;
  for (auto& r : stored_recommendations(db, req.sweep)) {
    if (!same_budget(r.budget, req.budget)) continue;
    if (usable(r)) {
      p.recommendation = std::move(r);
      found = true;
    }
    break;  // newest first within a budget: an older one is not the current answer
  }
  if (!found) {
    RecommendRequest rr;
    rr.sweep = req.sweep;
    rr.options.budget = req.budget;
    rr.options.replicates = req.bootstrap;
    rr.fit.threads = req.fit_threads;
    p.recommendation = recommend_and_store(db, db, rr);
    p.recommended_now = true;
  }
  if (const auto why = unverifiable(p.recommendation, req.sweep, req.budget); !why.empty())
    throw std::runtime_error(why);

  const std::string where = fmt::format("{}: sweep \"{}\"", db.path(), req.sweep);
  p.spec = sweeps::parse_spec(storage::sweep_spec(db, req.sweep), where + " stored spec");
  // Its own sweep, so the launchers resume, skip and record it like any run; the stored spec text
  // stays the study's (the settings its steps follow).
  p.spec.name = verify_sweep_name(req.sweep);
  p.spec.runs_dir = (fs::path(p.spec.runs_dir) / "verify").string();

  const int64_t id = p.recommendation.recommendation_id.value_or(0);
  auto cfg = parse_run_config(p.recommendation.config,
                              fmt::format("{}: config of recommendation {}", db.path(), id));
  if (const auto why = sweeps::set_budget_steps(p.spec, cfg, req.budget); !why.empty())
    throw std::runtime_error(fmt::format("sweep \"{}\" at C = {:g}: the recommended architecture does not fit the "
                                         "study's step limits: {}",
                                         req.sweep, req.budget, why));
  const auto& m = cfg.model;
  // No recommendation id in it: recommendations that snap to the same config share one run.
  const std::string label = fmt::format("verify dlcm d{} c{}x{} e{} d{} R{:g}", m.d_token, m.d_concept,
                                        m.concept_layers, m.encoder_layers, m.decoder_layers, cfg.boundary.ratio);
  p.plan.runs.push_back(sweeps::planned_run(cfg, label, req.budget));
  p.hyperparameters = hyperparameters_of(p.recommendation);
  return p;
}

std::optional<storage::RunRow> verification_run(storage::Database& db, const VerifyPlan& plan) {
  if (!storage::sweep_exists(db, plan.spec.name)) return std::nullopt;
  for (auto& r : storage::sweep_runs(db, plan.spec.name))
    if (r.hash == plan.plan.runs.front().hash) return std::move(r);
  return std::nullopt;
}

Verification record_verification(storage::Database& db, const VerifyPlan& plan, const storage::RunRow& run) {
  using storage::RunStatus;
  const bool diverged = run.status == to_string(RunStatus::diverged);
  if (!diverged && (run.status != to_string(RunStatus::completed) || !run.final_val_loss ||
                    !std::isfinite(*run.final_val_loss)))
    throw std::runtime_error(fmt::format("verification run {} ({}) is {}: nothing to check against", run.label,
                                         run.hash, run.status));
  const int64_t rec_id = plan.recommendation.recommendation_id.value_or(0);
  for (const auto& v : stored_verifications(db, plan.sweep))
    if (v.hash == run.hash && v.recommendation_id == rec_id) return v;  // checked once: reported, not redone

  Verification v;
  v.sweep = plan.sweep;
  v.verify_sweep = plan.spec.name;
  v.budget = plan.budget;
  v.recommendation_id = rec_id;
  v.predicted_loss = plan.recommendation.architecture.predicted_loss;
  const auto& iv = plan.recommendation.interval.architecture_loss;
  v.interval_low = iv->first;
  v.interval_high = iv->second;
  v.level = plan.recommendation.interval.level;
  v.hash = run.hash;
  v.label = run.label;
  v.hyperparameters = plan.hyperparameters;
  v.steps = run.steps_done;
  const auto cfg = parse_run_config(run.config, fmt::format("{}: config of run {}", db.path(), run.hash), "", false);
  const auto o = observe(run, cfg);
  v.tokens = run.tokens.value_or(o.D);
  v.wall_seconds = run.wall_seconds.value_or(NAN);
  v.planned_C = run.C;
  v.realised_C = o.C;
  v.N = o.N, v.P = o.P, v.R = o.R, v.D = o.D;
  v.law_at_realised = fitting::dlcm_loss(*recommended_law(plan.recommendation), o.N, o.P, o.R, o.D);
  v.diverged = diverged;
  v.realised_loss = diverged ? NAN : *run.final_val_loss;
  v.relative_error = (v.realised_loss - v.predicted_loss) / v.predicted_loss;
  v.inside_interval = !diverged && v.realised_loss >= v.interval_low && v.realised_loss <= v.interval_high;
  v.id = storage::store_verification(db, v.sweep, v.budget, v.hash, to_json(v).dump());
  for (const auto& s : storage::verifications(db, v.sweep))
    if (s.id == v.id) v.created_at = s.created_at;
  return v;
}

std::vector<Verification> stored_verifications(storage::Database& db, const std::string& sweep) {
  std::vector<Verification> out;
  for (const auto& s : storage::verifications(db, sweep)) {
    try {
      auto v = verification_from_json(json::parse(s.result));
      v.id = s.id;
      v.created_at = s.created_at;
      out.push_back(std::move(v));
    } catch (const std::exception&) {
      // A row this binary cannot read is not evidence it can show.
    }
  }
  return out;
}

json to_json(const Verification& v) {
  auto num = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  json j = {{"sweep", v.sweep},
            {"verify_sweep", v.verify_sweep},
            {"budget", v.budget},
            {"recommendation_id", v.recommendation_id},
            {"predicted_loss", v.predicted_loss},
            {"interval", {v.interval_low, v.interval_high}},
            {"level", v.level},
            {"outcome", to_string(v.diverged ? storage::RunStatus::diverged : storage::RunStatus::completed)},
            {"realised_loss", num(v.realised_loss)},
            {"relative_error", num(v.relative_error)},
            {"inside_interval", v.inside_interval},
            {"law_at_realised", num(v.law_at_realised)},
            {"hash", v.hash},
            {"label", v.label},
            {"hyperparameters", v.hyperparameters},
            {"steps", v.steps},
            {"tokens", v.tokens},
            {"wall_seconds", num(v.wall_seconds)},
            {"planned_C", v.planned_C},
            {"realised_C", v.realised_C},
            {"N", v.N},
            {"P", v.P},
            {"R", v.R},
            {"D", v.D}};
  if (v.id > 0) j["verification_id"] = v.id;
  if (!v.created_at.empty()) j["created_at"] = v.created_at;
  return j;
}

Verification verification_from_json(const json& j) {
  auto num = [&](const char* key) {
    const auto& x = j.at(key);
    return x.is_null() ? NAN : x.get<double>();
  };
  Verification v;
  v.sweep = j.at("sweep").get<std::string>();
  v.verify_sweep = j.at("verify_sweep").get<std::string>();
  v.budget = num("budget");
  v.recommendation_id = j.at("recommendation_id").get<int64_t>();
  v.predicted_loss = num("predicted_loss");
  v.interval_low = j.at("interval").at(0).get<double>();
  v.interval_high = j.at("interval").at(1).get<double>();
  v.level = num("level");
  v.realised_loss = num("realised_loss");
  v.relative_error = num("relative_error");
  v.inside_interval = j.at("inside_interval").get<bool>();
  v.diverged = j.value("outcome", "") == to_string(storage::RunStatus::diverged);
  v.law_at_realised = num("law_at_realised");
  v.hash = j.at("hash").get<std::string>();
  v.label = j.at("label").get<std::string>();
  v.hyperparameters = j.at("hyperparameters").get<std::string>();
  v.steps = j.at("steps").get<int64_t>();
  v.tokens = num("tokens");
  v.wall_seconds = num("wall_seconds");
  v.planned_C = num("planned_C");
  v.realised_C = num("realised_C");
  v.N = num("N"), v.P = num("P"), v.R = num("R"), v.D = num("D");
  return v;
}

}  // namespace dlcm::reports
