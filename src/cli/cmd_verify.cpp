// dlcm verify: train the recommendation at a budget and set its realised loss against the
// prediction registered at recommend time (docs/recommend.md "Verifying a recommendation").
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "commands.hpp"
#include "core/build_info.hpp"
#include "reports/verify.hpp"
#include "storage/status.hpp"
#include "sweeps/launcher.hpp"
#include "sweeps/slurm.hpp"

namespace dlcm::cli {
namespace {

struct VerifyArgs {
  std::string sweep, db = "dlcm.db", launcher = "local", device = "cpu", partition, time;
  double budget = 0;
  int workers = 0, threads = 0, bootstrap = 20;
  bool json = false;
};

std::string g(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "-"; }

void print_text(const reports::Verification& v) {
  fmt::print("verification of sweep {} at C = {} FLOPs (recommendation {}):\n", v.sweep, g(v.budget),
             v.recommendation_id);
  fmt::print("  predicted loss {} [{}, {}] ({:.0f}% bootstrap interval, registered at recommend time)\n",
             g(v.predicted_loss), g(v.interval_low), g(v.interval_high), 100 * v.level);
  if (v.diverged)
    fmt::print("  realised  loss: none, the run DIVERGED (the recommended configuration did not train)\n");
  else
    fmt::print("  realised  loss {}  relative error {:+.2f}%  {} the interval\n", g(v.realised_loss),
               100 * v.relative_error, v.inside_interval ? "inside" : "OUTSIDE");
  fmt::print("  the law at the realised run (N {}, P {}, R {}, D {}): {}\n", g(v.N), g(v.P), g(v.R), g(v.D),
             g(v.law_at_realised));
  fmt::print("  run {} ({}): {} steps, {} tokens, {} s; compute planned {}, realised {}\n", v.label, v.hash, v.steps,
             g(v.tokens), g(v.wall_seconds), g(v.planned_C), g(v.realised_C));
  fmt::print("  hyperparameters: {}\n", v.hyperparameters);
  fmt::print("  stored as verification {}\n", v.id);
}

void run_verify(const VerifyArgs& a) {
  if (a.launcher != "slurm") trainer_exe();  // a build without the trainer stops before it stores anything
  auto db = storage::open_sweep(a.db, a.sweep, /*writable=*/true);
  const auto plan = reports::plan_verification(db, {.sweep = a.sweep, .budget = a.budget, .bootstrap = a.bootstrap});
  const auto& run = plan.plan.runs.front();
  if (plan.recommended_now)
    fmt::print(stderr, "dlcm: no recommendation was stored at C = {:g}: made recommendation {} now\n", a.budget,
               *plan.recommendation.recommendation_id);
  const std::string again = fmt::format("dlcm verify --sweep {} --budget {:g} --db {}", a.sweep, a.budget, a.db);

  if (a.launcher == "slurm") {
    std::optional<storage::RunRow> row;
    if (storage::sweep_exists(db, plan.spec.name)) {
      sweeps::collect(db, plan.spec.name);  // settles a submitted run from its directory and Slurm
      row = reports::verification_run(db, plan);
    }
    if (!row || !storage::is_final(row->status)) {
      sweeps::SlurmOptions opt;
      opt.partition = a.partition;
      opt.time = a.time;
      opt.cpus_per_task = a.threads > 0 ? a.threads : 1;
      opt.gpus_per_task = a.device == "cuda" ? 1 : 0;
      const auto sub = sweeps::submit_slurm(plan.spec, plan.plan, db, opt);
      if (sub.at_attempt_limit > 0)
        throw std::runtime_error(fmt::format("verification run {} ({}) failed {} times (max_attempts): see {}/worker.log",
                                             run.label, run.hash, plan.spec.max_attempts,
                                             row ? row->run_dir : plan.spec.runs_dir));
      if (sub.hashes.empty())
        fmt::print("verification run {} ({}) is with Slurm already; run `{}` again after it completes\n", run.label,
                   run.hash, again);
      else
        fmt::print("submitted verification run {} ({}) as job array {} ({}); run `{}` again after it completes\n",
                   run.label, run.hash, sub.job_id, sub.dir, again);
      return;
    }
  } else {
    sweeps::LocalOptions opt;
    opt.workers = a.workers > 0 ? a.workers : 1;  // one run: its worker gets the cores
    opt.threads = a.threads;
    opt.device = a.device;
    opt.quiet = a.json;
    const auto o = sweeps::run_local(plan.spec, plan.plan, db, opt);
    if (o.interrupted) std::exit(130);
  }
  const auto row = reports::verification_run(db, plan);
  if (!row) throw std::runtime_error(fmt::format("verification run {} is not in {}", run.hash, a.db));
  if (!storage::is_final(row->status)) {
    fmt::print(stderr, "dlcm: error: verification run {} ({}) is {} (see {}/worker.log); `{}` resumes it\n", row->label,
               row->hash, row->status, row->run_dir, again);
    std::exit(2);
  }
  const auto v = reports::record_verification(db, plan, *row);
  if (a.json) fmt::print("{}\n", reports::to_json(v).dump());
  else print_text(v);
  if (v.diverged)
    throw std::runtime_error(fmt::format("verification run {} ({}) diverged: the recommended configuration did not "
                                         "train (see {}/worker.log); stored as verification {}",
                                         row->label, row->hash, row->run_dir, v.id));
}

}  // namespace

void add_verify_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("verify", "Train a sweep's recommendation at a budget and check its predicted loss");
  auto a = std::make_shared<VerifyArgs>();
  cmd->add_option("--sweep", a->sweep, "The sweep whose recommendation is checked")->required();
  cmd->add_option("--budget", a->budget, "Training compute C in FLOPs")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--db", a->db, "Central database")->capture_default_str();
  cmd->add_option("--launcher", a->launcher, "local (train here) or slurm (submit, then verify again)")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  cmd->add_option("--workers", a->workers, "local: concurrent runs (default 1: the one run)");
  cmd->add_option("--threads", a->threads, "Threads for the run (local default: cores; slurm: --cpus-per-task)");
  cmd->add_option("--device", a->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--partition", a->partition, "slurm: partition (default: the cluster's)");
  cmd->add_option("--time", a->time, "slurm: time limit per task, as sbatch takes it");
  cmd->add_option("--bootstrap", a->bootstrap, "Bootstrap replicates when no recommendation is stored at the budget")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a] { run_verify(*a); });
}

}  // namespace dlcm::cli
