// dlcm fit: fit a scaling law to a table of runs (fitting/README.md).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "commands.hpp"
#include "fitting/csv.hpp"
#include "fitting/fit.hpp"
#include "fitting/identification.hpp"
#include "fitting/isoflop.hpp"
#include "fitting/uncertainty.hpp"
#include "reports/recommend.hpp"
#include "reports/results.hpp"
#include "storage/central.hpp"

namespace dlcm::cli {
namespace {

using namespace dlcm::fitting;
using reports::FitBootstrap;
using reports::FitResult;

struct FitArgs {
  std::string csv, sweep, db = "dlcm.db", law, holdout, isoflop_x = "N", runs = "all";
  int bootstrap = 0;
  double huber_delta = 1e-3;
  bool json = false, zero_offsets = false;
  std::uint64_t seed = 0;
  int threads = 0;
};

struct Runs {
  std::vector<Observation> obs;
  std::vector<std::string> excluded;  // diverged runs left out of the fit, by label
  int baselines = 0;                  // dlcm law: baseline runs fitted as its P = 0 case
};

// Where the runs come from: a CSV table, or a sweep's finished runs in the central database, read
// and priced as `recommend` and the report read them (reports::load_study; diverged runs are
// excluded and named in the output).
Runs load_runs(const FitArgs& a, CsvNeeds needs) {
  if (a.sweep.empty()) {
    if (a.csv.empty()) throw std::runtime_error("dlcm fit: give --csv FILE or --sweep NAME");
    return {read_observations_csv(a.csv, needs), {}};
  }
  // Read-only until the fit has succeeded: a bad database or sweep name changes nothing.
  auto db = storage::open_sweep(a.db, a.sweep);
  const auto study = reports::load_study(db, a.sweep);
  Runs runs;
  runs.excluded = study.excluded;
  // Chinchilla's law and isoFLOP curves describe one architecture: pooling the baseline with DLCM
  // runs (of several ratios) would fit one parabola through different families.
  const bool one_family = a.law != "dlcm";
  if (one_family && a.runs == "all" && !study.baseline.empty() && !study.dlcm.empty())
    throw std::runtime_error(fmt::format(
        "{}: sweep \"{}\" holds baseline and DLCM runs; a {} fit describes one architecture: give --runs "
        "baseline or --runs dlcm",
        a.db, a.sweep, a.law));
  const bool dlcm_law = a.law == "dlcm";
  if (dlcm_law && a.runs == "baseline")
    throw std::runtime_error(fmt::format("{}: the dlcm law needs DLCM runs: give --runs dlcm or --runs all", a.db));
  if (dlcm_law && study.dlcm.empty())
    throw std::runtime_error(fmt::format("{}: sweep \"{}\" has no completed DLCM runs to fit", a.db, a.sweep));
  if (dlcm_law && a.runs == "all") {
    runs.obs = reports::law_runs(study);  // as recommend and the report fit it (the spec's baselines_in_law)
    runs.baselines = static_cast<int>(runs.obs.size() - study.dlcm.size());
    return runs;
  }
  if (a.runs != "dlcm" && !needs.P) runs.obs = study.baseline;
  if (a.runs != "baseline") runs.obs.insert(runs.obs.end(), study.dlcm.begin(), study.dlcm.end());
  if (runs.obs.empty())
    throw std::runtime_error(fmt::format("{}: sweep \"{}\" has no completed {}runs to fit", a.db, a.sweep,
                                         a.runs == "all" ? "" : a.runs + " "));
  return runs;
}

Axis parse_axis(const std::string& s) {
  if (s == "D") return Axis::D;
  if (s == "P") return Axis::P;
  if (s == "R") return Axis::R;
  return Axis::N;
}

FitBootstrap bootstrap_of(const Bootstrap& b, const FitArgs& a) {
  FitBootstrap out{.replicates = b.replicates, .failed = b.failed, .seed = a.seed, .level = 0.95};
  for (const auto& iv : b.intervals) out.intervals.push_back({iv.name, iv.low, iv.high, iv.se});
  return out;
}

FitResult fit_parametric(Law law, const std::vector<Observation>& obs, const FitArgs& a) {
  FitOptions opt;
  opt.huber_delta = a.huber_delta;
  opt.offsets = !a.zero_offsets;
  opt.threads = a.threads;
  const Fit fit = fit_law(law, obs, opt);
  const double c_ref = largest_compute(obs);
  const ComputeMap map = fit_compute_map(obs);  // C = 6·N_eff·D with N_eff = k·N^e over these runs

  FitResult out;
  out.law = law_name(law);
  const auto names = param_names(law);
  const auto values = natural_params(fit.model);
  for (std::size_t i = 0; i < names.size(); ++i) out.params.emplace_back(names[i], values[i]);
  if (law == Law::dlcm) out.offsets = fit.model.offsets;
  out.objective = fit.objective;
  out.huber_delta = a.huber_delta;
  out.n_points = static_cast<int64_t>(obs.size());
  out.starts = static_cast<int64_t>(fit.outcomes.size());
  out.converged_starts = fit.converged_starts();
  for (const auto& s : fit.outcomes) ++out.terminations[std::string(termination_name(s.termination))];
  out.active_bounds = fit.active_bounds;
  out.r2 = r_squared(fit.model, obs);
  out.residuals = log_residuals(fit.model, obs);
  const auto derived = derived_quantities(fit.model, c_ref, map);
  if (!derived.empty()) {
    out.compute_map = reports::summary_of(map);
    out.derived_C = c_ref;
    for (const auto& [name, v] : derived) out.derived.emplace_back(name, v);
  }
  if (a.bootstrap > 0) {
    const BootstrapOptions boot{.replicates = a.bootstrap, .seed = a.seed};
    const Bootstrap b = bootstrap_fit(fit, obs, opt, boot, c_ref, map);
    out.bootstrap = bootstrap_of(b, a);
    out.bootstrap->starts = 1 + boot.starts;  // per replicate: the best fit and spread grid starts
    // Which parameters the runs pin (fitting/identification.hpp): measured, not assumed.
    out.identification.emplace();
    for (const auto& p : identify(fit, b, obs)) out.identification->push_back({p.name, p.identified, p.why});
  }
  if (!a.holdout.empty()) {
    const Holdout h = holdout_largest_budget(law, obs, opt);
    reports::LawHoldout lh{h.budget, static_cast<int64_t>(h.n_train), h.mean_rel_error, h.max_rel_error, {}};
    for (const auto& r : h.runs) lh.runs.push_back({r.line, r.loss, r.predicted, r.rel_error});
    out.holdout = lh;
  }
  return out;
}

FitResult fit_isoflop_law(const std::vector<Observation>& obs, const FitArgs& a) {
  IsoflopOptions opt;
  opt.x = parse_axis(a.isoflop_x);
  const Isoflop f = fit_isoflop(obs, opt);
  const double c_ref = largest_compute(obs);
  const ComputeMap map = fit_compute_map(obs);

  FitResult out;
  out.law = "isoflop";
  out.x = a.isoflop_x;
  out.params = {{"exponent", f.exponent}, {"coefficient", f.coefficient}};
  out.objective = f.rss;
  out.n_points = static_cast<int64_t>(obs.size());
  out.r2 = f.r2;
  out.residuals = f.residuals;
  for (const auto& b : f.budgets)
    out.budgets.push_back({b.C, static_cast<int64_t>(b.n_runs), b.x_opt, b.log_x_opt_se, b.loss_opt, b.curvature});
  for (const auto& b : f.skipped) out.skipped_budgets.push_back({b.C, static_cast<int64_t>(b.n_runs), b.reason});
  out.compute_map = reports::summary_of(map);
  out.derived_C = c_ref;
  for (const auto& [name, v] : isoflop_derived(f, c_ref, map)) out.derived.emplace_back(name, v);
  if (a.bootstrap > 0)
    out.bootstrap =
        bootstrap_of(bootstrap_isoflop(f, obs, opt, {.replicates = a.bootstrap, .seed = a.seed}, c_ref, map), a);
  if (!a.holdout.empty()) {
    const auto h = isoflop_holdout(f);
    out.isoflop_holdout = reports::IsoflopHoldoutRow{h.budget, h.predicted, h.fitted, h.rel_error};
  }
  return out;
}

std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "-"; }

void print_text(const FitResult& r, const FitArgs& a) {
  fmt::print("{} fit of {} runs from {}\n", r.law, r.n_points,
             a.sweep.empty() ? a.csv : fmt::format("sweep {} in {}", a.sweep, a.db));
  if (r.source && r.source->baselines > 0)
    fmt::print("  {} of them baselines, as the law's P = 0 case (no concept term; --runs dlcm leaves them out)\n",
               r.source->baselines);
  if (r.source && !r.source->excluded_diverged.empty())
    fmt::print("  excluded {} diverged runs\n", r.source->excluded_diverged.size());
  if (r.fit_id) fmt::print("  stored as fit {} in {}\n", *r.fit_id, a.db);
  if (r.starts) {
    fmt::print("  {} starts, {} converged (", *r.starts, r.converged_starts.value_or(0));
    bool first = true;
    for (const auto& [k, v] : r.terminations) {
      fmt::print("{}{} {}", first ? "" : ", ", k, v);
      first = false;
    }
    fmt::print("); Huber delta {}\n", num(r.huber_delta.value_or(NAN)));
  }
  fmt::print("  objective {}   R² {}\n", num(r.objective), num(r.r2));
  const bool ci = r.bootstrap && !r.bootstrap->intervals.empty();
  fmt::print("  {:<18} {:>14}{}\n", "parameter", "estimate", ci ? "     95% interval (bootstrap)" : "");
  auto row = [&](const std::string& name, double v) {
    fmt::print("  {:<18} {:>14}", name, num(v));
    if (ci)
      for (const auto& iv : r.bootstrap->intervals)
        if (iv.name == name) fmt::print("     [{}, {}]", num(iv.low), num(iv.high));
    fmt::print("\n");
  };
  for (const auto& [k, v] : r.params) row(k, v);
  if (r.compute_map) {
    fmt::print("  at C = {}:\n", num(r.derived_C.value_or(NAN)));
    for (const auto& [k, v] : r.derived) row(k, v);
  }
  if (r.law == "isoflop") {
    fmt::print("  {:>12} {:>6} {:>14} {:>12} {:>10}\n", "C", "runs", r.x + "_opt", "se(log)", "loss_opt");
    for (const auto& b : r.budgets)
      fmt::print("  {:>12} {:>6} {:>14} {:>12} {:>10}\n", num(b.C), b.n_runs, num(b.x_opt), num(b.log_x_opt_se),
                 num(b.loss_opt));
    for (const auto& b : r.skipped_budgets)
      fmt::print("  skipped budget C = {} ({} runs): {}\n", num(b.C), b.n_runs, b.reason);
  }
  for (const auto& p : r.active_bounds)
    fmt::print("  warning: {} ends on a bound of its range (exponents in [0, {}]): a limit, not an estimate\n", p,
               kMaxExponent);
  if (r.identification) {
    if (std::all_of(r.identification->begin(), r.identification->end(), [](const auto& p) { return p.identified; }))
      fmt::print("  every parameter identified by the bootstrap\n");
    for (const auto& p : *r.identification)
      if (!p.identified) fmt::print("  not identified: {} ({})\n", p.name, p.why);
  }
  if (r.holdout)
    fmt::print("  holdout: fitted without C = {} ({} runs), predicts them with mean relative error {} "
               "(max {})\n",
               num(r.holdout->budget), r.holdout->runs.size(), num(r.holdout->mean_rel_error),
               num(r.holdout->max_rel_error));
  if (r.isoflop_holdout)
    fmt::print("  holdout: power law without C = {} predicts its optimum {} (parabola: {}), relative "
               "error {}\n",
               num(r.isoflop_holdout->budget), num(r.isoflop_holdout->predicted), num(r.isoflop_holdout->fitted),
               num(r.isoflop_holdout->rel_error));
}

void run_fit(const FitArgs& a) {
  const bool isoflop = a.law == "isoflop";
  CsvNeeds needs;
  needs.P = a.law == "dlcm" || (isoflop && a.isoflop_x == "P");
  needs.R = a.law == "dlcm" || (isoflop && a.isoflop_x == "R");
  needs.baselines = a.law == "dlcm";
  const auto runs = load_runs(a, needs);
  FitResult report = isoflop ? fit_isoflop_law(runs.obs, a)
                             : fit_parametric(a.law == "dlcm" ? Law::dlcm : Law::chinchilla, runs.obs, a);
  if (!a.sweep.empty()) {
    report.source = reports::FitSource{.sweep = a.sweep,
                                       .db = a.db,
                                       .runs = a.runs,
                                       .excluded_diverged = runs.excluded,
                                       .baselines = runs.baselines};
    auto db = storage::open_central(a.db);
    report.fit_id = storage::store_fit(db, a.sweep, a.law, reports::to_json(report).dump());
  }
  if (a.json) fmt::print("{}\n", reports::to_json(report).dump());
  else print_text(report, a);
}

}  // namespace

void add_fit_command(CLI::App& app) {
  auto* fit = app.add_subcommand("fit", "Fit a scaling law to a table of runs (fitting/README.md)");
  auto a = std::make_shared<FitArgs>();
  auto* csv = fit->add_option("--csv", a->csv, "CSV of runs: columns N, D (or C), loss; P, R for dlcm")
                  ->check(CLI::ExistingFile);
  auto* sweep = fit->add_option("--sweep", a->sweep, "Fit the runs of this sweep from the database");
  csv->excludes(sweep);
  fit->add_option("--db", a->db, "Central database")->needs(sweep)->capture_default_str();
  fit->add_option("--runs", a->runs, "With --sweep: fit the baseline runs, the DLCM runs, or all (dlcm law: the DLCM runs, and the baselines as its P = 0 case when the spec says baselines_in_law)")
      ->needs(sweep)
      ->check(CLI::IsMember({"all", "baseline", "dlcm"}))
      ->capture_default_str();
  fit->add_option("--law", a->law, "Law to fit")
      ->required()
      ->check(CLI::IsMember({"chinchilla", "dlcm", "isoflop"}));
  fit->add_option("--bootstrap", a->bootstrap, "Bootstrap replicates for confidence intervals (0: none)")
      ->check(CLI::NonNegativeNumber);
  fit->add_option("--holdout", a->holdout, "Also fit without the largest compute budget and predict it")
      ->check(CLI::IsMember({"largest"}));
  fit->add_option("--huber-delta", a->huber_delta, "Huber delta on log-loss residuals")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  fit->add_option("--isoflop-x", a->isoflop_x, "isoflop: the swept variable of the parabolas")
      ->check(CLI::IsMember({"N", "D", "P", "R"}))
      ->capture_default_str();
  fit->add_flag("--zero-offsets", a->zero_offsets, "dlcm: fix t_tok, t_con, t_data at 0");
  fit->add_flag("--json", a->json, "Print one JSON object");
  fit->add_option("--seed", a->seed, "Bootstrap seed")->capture_default_str();
  fit->add_option("--threads", a->threads, "Threads for starts and replicates (0: every core)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  fit->callback([a] { run_fit(*a); });
}

}  // namespace dlcm::cli
