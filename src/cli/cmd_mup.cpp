// dlcm mup lr-transfer (coord-check: dlcm-train's, trainer.hpp): validating decoupled μP (DESIGN §5).
#include <fmt/format.h>

#include "commands.hpp"
#include "fitting/lr_transfer.hpp"
#include "storage/central.hpp"
#include "sweeps/launcher.hpp"
#include "sweeps/lr_transfer.hpp"

namespace dlcm::cli {

void add_mup_commands(CLI::App& app) {
  auto* mup = app.add_subcommand("mup", kMupAbout);
  mup->require_subcommand(1);
  mup->add_subcommand("coord-check", kCoordCheckAbout)->allow_extras();  // for --help: dlcm execs dlcm-train for it

  struct Args {
    std::string spec, db = "dlcm.db";
    bool json = false, quiet = false;
    int workers = 0, threads = 0;
  };
  auto a = std::make_shared<Args>();

  auto* lt = mup->add_subcommand("lr-transfer", "Optimal learning rate per width, through the sweep machinery");
  lt->add_option("spec", a->spec, "Learning-rate transfer spec (TOML)")->required();
  lt->add_option("--db", a->db, "Central database")->capture_default_str();
  lt->add_option("--workers", a->workers, "Concurrent runs (default: one per core)");
  lt->add_option("--threads", a->threads, "Threads per run (default: cores / workers)");
  lt->add_flag("--quiet", a->quiet, "No progress output");
  lt->add_flag("--json", a->json, "Print the result as JSON");
  lt->callback([a] {
    const auto spec = sweeps::load_lr_transfer_spec(a->spec);
    const auto plan = sweeps::plan_lr_transfer(spec);
    auto db = storage::open_central(a->db);
    sweeps::LocalOptions opt;
    opt.workers = a->workers;
    opt.threads = a->threads;
    opt.quiet = a->quiet;
    const auto o = sweeps::run_local(plan.sweep, plan.plan, db, opt);
    if (o.interrupted) std::exit(130);
    const auto analysis =
        fitting::analyse_lr_transfer(sweeps::lr_transfer_curves(spec, plan, storage::sweep_runs(db, spec.name)));
    const std::string j = fitting::to_json(analysis);
    storage::store_mup_study(db, "lr-transfer", spec.name, j);
    if (a->json) fmt::print("{}\n", j);
    else fmt::print("{}", fitting::format_table(analysis));
    if (o.failed > 0) std::exit(2);
  });
}

}  // namespace dlcm::cli
