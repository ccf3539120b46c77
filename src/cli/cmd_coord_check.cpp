// dlcm-train mup coord-check, which `dlcm mup coord-check` execs: validating decoupled μP (DESIGN §5).
#include <fmt/format.h>

#include "commands.hpp"
#include "core/mup.hpp"
#include "reports/results.hpp"
#include "storage/central.hpp"
#include "train/coord_check.hpp"

namespace dlcm::cli {
namespace {

reports::CoordCheckResult coord_check_result(const train::CoordCheck& cc, const RunConfig& cfg,
                                             const train::CoordCheckOptions& o) {
  reports::CoordCheckResult r;
  r.parametrisation = name(cfg.model.parametrisation);
  r.arch = name(cfg.model.arch);
  r.axis = cc.axis;
  r.widths_token = cc.widths_token;
  r.widths_concept = cc.widths_concept;
  r.d_token_base = cfg.model.d_token_base;
  r.d_concept_base = cfg.model.d_concept_base;
  r.lr = cfg.train.lr;
  r.lr_token = base_lr(cfg.train, Group::token, FanIn::d_token);
  r.lr_concept = base_lr(cfg.train, Group::backbone, FanIn::d_concept);
  r.lr_other = base_lr(cfg.train, Group::vector, FanIn::none);
  r.steps = o.steps;
  r.seeds = o.seeds;
  r.segmentation = train::name(o.segmentation);
  r.realised_ratio = cc.realised_ratio;
  r.slopes_by_step = cc.slopes;
  r.slope_sd_by_step = cc.slope_sd;
  r.band = cc.band;
  r.pass = cc.pass;
  for (const auto& p : cc.curves) r.curves.push_back({p.family, p.width_token, p.width_concept, p.step, p.mean_abs});
  return r;
}

void print_coord_check(const train::CoordCheck& cc, const RunConfig& cfg, const train::CoordCheckOptions& o) {
  fmt::print("coordinate check, {} parametrisation, {} axis, {} segmentation, {} seeds: slope of log mean|act| "
             "vs log {} (mean over seeds)\n",
             name(cfg.model.parametrisation), cc.axis, train::name(o.segmentation), o.seeds,
             cc.axis == "concept" ? "d_concept" : "d_token");
  fmt::print("{:<16}", "family");
  for (int s = 0; s <= o.steps; ++s) fmt::print(" {:>8}", fmt::format("step {}", s));
  fmt::print("  {:>6}  |slope| <= {:g} at step {}\n", "±sd", cc.band, o.steps);
  for (const auto& [family, s] : cc.slopes) {
    fmt::print("{:<16}", family);
    for (double v : s) fmt::print(" {:>8.3f}", v);
    fmt::print("  {:>6.3f}  {}\n", cc.slope_sd.at(family).back(), cc.pass.at(family) ? "pass" : "FAIL");
  }
}

}  // namespace

void add_coord_check_command(CLI::App& mup) {
  struct Args {
    std::string config, db = "dlcm.db", name, parametrisation, segmentation = "fixed";
    train::CoordCheckOptions cc;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cc = mup.add_subcommand("coord-check", kCoordCheckAbout);
  cc->add_option("--config", a->config, "Run config (TOML): the model at its base widths, lr, batch, data")->required();
  cc->add_option("--widths-token", a->cc.widths_token, "d_token widths (paired with --widths-concept if both given)");
  cc->add_option("--widths-concept", a->cc.widths_concept, "d_concept widths");
  cc->add_option("--steps", a->cc.steps, "Optimizer steps on the fixed batch")->capture_default_str();
  cc->add_option("--seeds", a->cc.seeds, "Seeds averaged per width")->capture_default_str();
  cc->add_option("--parametrisation", a->parametrisation, "Override the config's (mup or standard)")
      ->check(CLI::IsMember({"mup", "standard"}));
  cc->add_option("--segmentation", a->segmentation,
                 "fixed: boundaries every round(R) tokens at every width; sampled: the config's boundary mode")
      ->check(CLI::IsMember({"fixed", "sampled"}))
      ->capture_default_str();
  cc->add_option("--band", a->cc.band, "A family passes when |its slope after the last step| is at most this")
      ->capture_default_str();
  cc->add_option("--threads", a->cc.threads, "Intra-op threads (default: all cores)");
  cc->add_option("--name", a->name, "Name stored with the result (default: the config path)");
  cc->add_option("--db", a->db, "Central database the result is stored in")->capture_default_str();
  cc->add_flag("--json", a->json, "Print the result as JSON");
  cc->callback([a] {
    RunConfig cfg = load_run_config(a->config);
    if (!a->parametrisation.empty())
      cfg.model.parametrisation = a->parametrisation == "mup" ? Parametrisation::mup : Parametrisation::standard;
    a->cc.segmentation = a->segmentation == "sampled" ? train::CoordSegmentation::sampled : train::CoordSegmentation::fixed;
    auto db = storage::open_central(a->db);  // a bad database fails before the training, not after
    const auto result = train::coord_check(cfg, a->cc);
    const auto j = reports::to_json(coord_check_result(result, cfg, a->cc));
    storage::store_mup_study(db, "coord-check", a->name.empty() ? a->config : a->name, j.dump());
    if (a->json) fmt::print("{}\n", j.dump(2));
    else print_coord_check(result, cfg, a->cc);
  });
}

}  // namespace dlcm::cli
