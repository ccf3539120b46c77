// dlcm sweep plan|run|submit|status|collect and dlcm export: studies under fixed FLOPs budgets.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.hpp"
#include "core/build_info.hpp"
#include "core/duration.hpp"
#include "core/files.hpp"
#include "data/corpus.hpp"
#include "reports/export.hpp"
#include "reports/extend.hpp"
#include "storage/central.hpp"
#include "storage/run_metrics.hpp"
#include "sweeps/launcher.hpp"
#include "sweeps/lr_transfer.hpp"
#include "sweeps/slurm.hpp"
#include "sweeps/spec.hpp"
#include "trainer.hpp"

namespace fs = std::filesystem;

namespace dlcm::cli {
namespace {

using nlohmann::json;

int default_workers() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

// Estimated wall time: each distinct architecture is timed for a few steps with the threads a
// worker would get (by the trainer, in one process: `dlcm-train calibrate`); runs are then spread
// over the workers.
double estimate_seconds(const sweeps::Plan& plan, int workers) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = std::max(1, cores / workers);
  std::map<std::string, size_t> arch_of;  // architecture (its TOML) -> index into the configs timed
  std::vector<size_t> run_arch;
  const fs::path dir = fs::temp_directory_path() / fmt::format("dlcm-calibrate-{}", getpid());
  fs::create_directories(dir);
  std::vector<std::string> args{"calibrate", "--threads", std::to_string(threads)};
  for (const auto& r : plan.runs) {
    RunConfig arch = r.cfg;
    arch.train = TrainConfig{};
    arch.train.batch_size = r.cfg.train.batch_size;
    const auto [it, added] = arch_of.emplace(to_toml(arch), arch_of.size());
    if (added) {
      args.push_back((dir / fmt::format("{}.toml", it->second)).string());
      write_file_atomic(args.back(), to_toml(r.cfg));
    }
    run_arch.push_back(it->second);
  }
  json rates;
  try {
    rates = trainer_json(args);
  } catch (...) {
    fs::remove_all(dir);
    throw;
  }
  fs::remove_all(dir);
  double total = 0;
  for (size_t i = 0; i < plan.runs.size(); ++i) total += plan.runs[i].C / rates.at(run_arch[i]).get<double>();
  return total / workers;
}

// A sweep's runs now, read-only: the database as last collected, with what Slurm says of its live
// tasks and what finished runs' directories say (`sweep collect` stores those).
sweeps::Observation observe(const std::string& db_path, const std::string& sweep) {
  auto db = storage::open_sweep(db_path, sweep);
  auto obs = sweeps::observe(db, sweep);
  if (obs.slurm_unreachable) fmt::print(stderr, "warning: Slurm does not answer; submitted runs show their last known status\n");
  return obs;
}

// Who holds an unfinished run now ("" for none).
std::string held_by(const sweeps::ObservedRun& o) {
  if (!o.claim || storage::is_final(o.run.status)) return "";
  return storage::describe(o.claim->holder);
}

// dlcm sweep status NAME --run HASH: one run and each of its attempts.
void print_attempts(const std::string& db_path, const std::string& sweep, const std::string& hash, bool as_json) {
  auto db = storage::open_sweep(db_path, sweep);
  const auto obs = sweeps::observe(db, sweep);
  const auto it = std::find_if(obs.runs.begin(), obs.runs.end(), [&](const auto& o) { return o.run.hash.rfind(hash, 0) == 0; });
  if (hash.empty() || it == obs.runs.end())
    throw std::runtime_error(fmt::format("{}: sweep \"{}\" has no run {}", db_path, sweep, hash));
  const auto& r = it->run;
  const auto history = storage::attempt_history(db, r.hash);
  if (as_json) {
    json attempts = json::array();
    for (const auto& a : history)
      attempts.push_back({{"n", a.n}, {"launcher", a.holder.launcher}, {"holder", storage::describe(a.holder)},
                          {"started_at", a.started_at}, {"ended_at", a.ended_at.empty() ? json(nullptr) : json(a.ended_at)},
                          {"exit_code", a.exit_code ? json(*a.exit_code) : json(nullptr)}, {"reason", a.reason},
                          {"detail", a.detail}, {"counted", a.counted}});
    fmt::print("{}\n", json({{"hash", r.hash}, {"label", r.label}, {"status", r.status}, {"attempts", r.attempts},
                             {"held_by", held_by(*it)}, {"history", attempts}})
                           .dump(2));
    return;
  }
  fmt::print("run {} {}: {}, {} attempts{}\n", r.hash, r.label, r.status, r.attempts,
             held_by(*it).empty() ? "" : ", held by " + held_by(*it));
  if (history.empty()) {
    fmt::print("no attempt history recorded{}\n", r.attempts > 0 ? " (attempts made before dlcm recorded them)" : "");
    return;
  }
  fmt::print("{:>3} {:<28} {:<20} {:<20} {:>5} {:<12} {}\n", "n", "holder", "started", "ended", "exit", "reason", "detail");
  for (const auto& a : history)
    fmt::print("{:>3} {:<28} {:<20} {:<20} {:>5} {:<12} {}\n", a.n, storage::describe(a.holder), a.started_at,
               a.ended_at.empty() ? "-" : a.ended_at, a.exit_code ? std::to_string(*a.exit_code) : "-",
               a.reason.empty() ? "(running)" : a.reason + (a.counted ? "" : "*"), a.detail);
  if (std::any_of(history.begin(), history.end(), [](const auto& a) { return !a.counted; }))
    fmt::print("* not counted as an attempt: the run did not fail (stopped, its holder went away, or its directory was busy)\n");
}

std::string task_name(const sweeps::ObservedRun& o) {
  return o.task ? fmt::format("{}_{}", o.task->job_id, o.task->array_index) : "";
}

std::map<std::string, int> count_states(const sweeps::Observation& obs) {
  std::map<std::string, int> counts;
  for (const auto& o : obs.runs) counts[o.run.status] += 1;
  return counts;
}

std::string summary(const std::map<std::string, int>& counts) {
  std::string s;
  for (auto& [state, n] : counts) s += fmt::format("{}{} {}", s.empty() ? "" : ", ", n, state);
  return s;
}

// dlcm sweep status NAME --watch: counts, compute done, ETA and each running run's latest loss,
// redrawn in place on a terminal (plain lines otherwise) until no run is left to finish. Reads
// only: the database through one read-only handle, each running run's metrics.sqlite as the local
// launcher's progress line does; it never collects, so a Slurm sweep's statuses are as last collected.
void watch(const std::string& db_path, const std::string& sweep, double interval) {
  auto db = storage::open_sweep(db_path, sweep);
  const bool tty = isatty(STDOUT_FILENO);
  const bool slurm = !storage::latest_slurm_tasks(db, sweep).empty();
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<double> progress0;  // compute done when the watch began: the pace is measured from there
  size_t shown = 0;                 // lines of the frame on screen (tty)
  for (;;) {
    const auto runs = storage::sweep_runs(db, sweep);
    int done = 0, diverged = 0, running = 0, failed = 0, waiting = 0, with_slurm = 0;
    double total = 0, done_C = 0, progress = 0, remaining = 0;
    std::vector<std::string> live;
    for (const auto& r : runs) {
      total += r.C;
      if (storage::is_final(r.status)) {
        done += 1, diverged += storage::is(r.status, storage::RunStatus::diverged);
        done_C += r.C, progress += r.C;
      } else if (storage::is(r.status, storage::RunStatus::failed)) {
        failed += 1;  // left for the next launch: not waited for
      } else {
        double part = 0;  // share of a running run's steps already taken
        if (storage::is(r.status, storage::RunStatus::running)) {
          running += 1;
          const auto loss = storage::latest_train_loss((fs::path(r.run_dir) / "metrics.sqlite").string());
          if (loss && r.steps > 0) part = std::clamp(static_cast<double>(loss->step) / r.steps, 0.0, 1.0);
          live.push_back(fmt::format("  {} {:<36} step {:>6}/{:<6} loss {}", r.hash, r.label,
                                     loss ? loss->step : r.steps_done, r.steps,
                                     loss ? fmt::format("{:.4f}", loss->value) : "-"));
        } else {
          waiting += 1, with_slurm += !storage::is(r.status, storage::RunStatus::pending);
        }
        progress += part * r.C, remaining += (1 - part) * r.C;
      }
    }
    const bool active = running + waiting > 0;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!progress0) progress0 = progress;
    const double pace = elapsed > 0 ? (progress - *progress0) / elapsed : 0;
    std::vector<std::string> lines = {
        fmt::format("sweep {}: {} runs: {} done{}, {} running, {} failed, {} pending{}", sweep, runs.size(), done,
                    diverged ? fmt::format(" ({} diverged)", diverged) : "", running, failed, waiting,
                    with_slurm ? fmt::format(" ({} with Slurm)", with_slurm) : ""),
        fmt::format("compute {:.3g} of {:.3g} FLOPs done ({:.1f}%), ETA {}", done_C, total,
                    total > 0 ? 100 * done_C / total : 100.0,
                    !active ? "-, finished" : pace > 0 ? format_duration(remaining / pace) : "- (measuring the pace)")};
    lines.insert(lines.end(), live.begin(), live.end());
    if (slurm && active)
      lines.push_back("  Slurm runs show their status as last collected (`dlcm sweep collect " + sweep + "`)");
    if (tty) {
      winsize w{};
      const size_t cols = ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 1 ? w.ws_col - 1 : 200;
      if (shown > 0) fmt::print("\033[{}F\033[J", shown);  // back to the frame's first line, clear below
      for (const auto& l : lines) fmt::print("{}\n", l.substr(0, cols));  // one screen line each, so the redraw lands
      shown = lines.size();
    } else {
      for (const auto& l : lines) fmt::print("{}\n", l);
    }
    std::fflush(stdout);
    if (!active) return;
    std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  }
}

// dlcm sweep status NAME --json.
void print_status_json(const sweeps::Observation& obs) {
  json out = json::array();
  for (const auto& o : obs.runs) {
    const auto& r = o.run;
    json j = {{"hash", r.hash}, {"label", r.label}, {"origin", r.origin}, {"status", r.status}, {"steps", r.steps},
              {"steps_done", r.steps_done}, {"attempts", r.attempts}, {"last_reason", r.last_reason},
              {"held_by", held_by(o)},
              {"last_loss", r.last_loss ? json(*r.last_loss) : json(nullptr)},
              {"final_val_loss", r.final_val_loss ? json(*r.final_val_loss) : json(nullptr)}};
    if (o.task) j["slurm"] = {{"task", task_name(o)}, {"state", o.slurm_state}, {"submission", o.task->submission_dir}};
    out.push_back(j);
  }
  fmt::print("{}\n", out.dump(2));
}

// dlcm sweep status NAME: one line per run, then the counts.
void print_status_table(const sweeps::Observation& obs) {
  fmt::print("{:<16} {:<36} {:<11} {:>11} {:>9} {:>9}  {}\n", "hash", "run", "status", "steps", "last loss",
             "val loss", "slurm task / held by");
  for (const auto& o : obs.runs) {
    const auto& r = o.run;
    // "+": added by `sweep extend`, not generated by the spec.
    const std::string where = o.task && o.claim && !o.claim->holder.slurm_task.empty()
                                  ? fmt::format("{} {}", task_name(o), o.slurm_state)
                                  : held_by(o);
    fmt::print("{:<16} {:<36} {:<11} {:>5}/{:<5} {:>9} {:>9}  {}\n", r.hash,
               r.origin == "extend" ? "+" + r.label : r.label, r.status, r.steps_done,
               r.steps, r.last_loss ? fmt::format("{:.4f}", *r.last_loss) : "-",
               r.final_val_loss ? fmt::format("{:.4f}", *r.final_val_loss) : "-", where);
  }
  const auto added = std::count_if(obs.runs.begin(), obs.runs.end(), [](const auto& o) { return o.run.origin == "extend"; });
  fmt::print("{} runs: {}{}\n", obs.runs.size(), summary(count_states(obs)),
             added ? fmt::format(" (+ {} added by `sweep extend`)", added) : "");
}

// dlcm sweep extend NAME: the runs that would bracket each un-bracketed isoFLOP minimum.
void add_extend_command(CLI::App* sweep) {
  struct ExtendArgs {
    std::string name, db = "dlcm.db";
    bool apply = false, json = false, zero_offsets = false;
    reports::ExtendOptions opt;
  };
  auto a = std::make_shared<ExtendArgs>();
  auto* ext = sweep->add_subcommand(
      "extend", "Propose runs on the missing side of each budget whose isoFLOP minimum is not bracketed");
  ext->add_option("name", a->name, "Sweep name")->required();
  ext->add_option("--db", a->db, "Central database")->capture_default_str();
  ext->add_flag("--apply", a->apply, "Register the proposed runs into the sweep (pending)");
  ext->add_flag("--pin", a->opt.pin,
                "Also propose runs for the compression-aware law's unidentified parameters (else its widest interval)");
  ext->add_option("--bootstrap", a->opt.bootstrap, "With --pin: bootstrap replicates of the identification")
      ->capture_default_str()
      ->check(CLI::Range(2, 100000));
  ext->add_option("--seed", a->opt.seed, "With --pin: bootstrap seed")->capture_default_str();
  ext->add_flag("--zero-offsets", a->zero_offsets, "With --pin: fit the law with t_tok = t_con = t_data = 0");
  ext->add_flag("--json", a->json, "Machine-readable output");
  ext->callback([a] {
    reports::Extension e;
    std::size_t added = 0;
    {
      auto db = storage::open_sweep(a->db, a->name, a->apply);
      a->opt.fit.offsets = !a->zero_offsets;
      e = reports::plan_extension(db, a->name, a->opt);
      if (a->apply) added = reports::apply_extension(db, e);
    }
    if (a->json) {
      auto j = reports::to_json(e);
      if (a->apply) j["registered"] = added;
      fmt::print("{}\n", j.dump(2));
      return;
    }
    for (const auto& c : e.checks)
      fmt::print("{:<10} C {:<9.3g} {:>2} runs {:>2} sizes  N [{:.3g}, {:.3g}]  {}\n", c.family, c.budget, c.n_runs,
                 c.n_sizes, c.N_min, c.N_max,
                 c.bracketed ? fmt::format("bracketed (minimum at N = {:.3g})", c.N_opt)
                             : fmt::format("NOT bracketed: {}; missing side: {}", c.reason, c.side));
    if (!e.proposals.empty()) {
      fmt::print("\n{:<16} {:>9} {:<40} {:>9} {:>8} {:>6}  {}\n", "hash", "budget", "run", "N", "D/N", "steps", "why");
      for (const auto& p : e.proposals)
        fmt::print("{:<16} {:>9.3g} {:<40} {:>9.3g} {:>8.3g} {:>6}  {} (from {})\n", p.hash, p.budget, p.label, p.N,
                   p.D / p.N, p.steps, p.why, p.from_label);
    }
    if (e.pin)
      fmt::print("\npin: {} ({})\n", e.pin->params.empty() ? "nothing" : fmt::format("{}", fmt::join(e.pin->params, ", ")),
                 e.pin->why);
    for (const auto& n : e.notes) fmt::print("note: {}\n", n);
    if (e.proposals.empty() && e.pin) {
      fmt::print("sweep {}: every budget's minimum is bracketed and no run to pin the law; nothing to add\n", a->name);
    } else if (e.proposals.empty()) {
      fmt::print("sweep {}: every budget's minimum is bracketed; nothing to add\n", a->name);
    } else if (a->apply) {
      fmt::print("sweep {}: registered {} new runs (pending, under {}); `dlcm sweep status {}` lists them\n", a->name,
                 added, e.runs_dir, a->name);
    } else {
      fmt::print("sweep {}: {} proposed runs; --apply registers them\n", a->name, e.proposals.size());
    }
  });
}

// --set KEY=VALUE: the spec edits plan, run and submit take.
void add_sets(CLI::App* cmd, std::vector<std::string>& sets) {
  cmd->add_option("--set", sets, "KEY=VALUE: override a spec key (TOML value, dotted key; repeatable)")
      ->allow_extra_args(false);
}

// A local sweep's exit status: 130 when interrupted, 2 when a run failed.
void exit_on(const sweeps::SweepOutcome& o) {
  if (o.interrupted) std::exit(130);
  if (o.failed > 0) std::exit(2);
}

// dlcm sweep plan SPEC: the runs, their N, P, R, D and steps, and a calibrated wall-time estimate.
void add_plan_command(CLI::App* sweep) {
  struct Args {
    std::string spec, db = "dlcm.db";
    bool json = false, no_calibrate = false;
    int workers = 0;
    std::vector<std::string> sets;
  };
  auto a = std::make_shared<Args>();
  auto* plan = sweep->add_subcommand("plan", "Expand a sweep spec into runs: N, P, R, D, steps, wall time");
  plan->add_option("spec", a->spec, "Sweep spec (TOML)")->required();
  plan->add_flag("--json", a->json, "List of runs as JSON");
  plan->add_flag("--no-calibrate", a->no_calibrate, "Skip the timing calibration");
  plan->add_option("--workers", a->workers, "Workers the estimate assumes (default: one per core)");
  plan->add_option("--db", a->db, "Central database (read for a spec's lr_from)")->capture_default_str();
  add_sets(plan, a->sets);
  plan->callback([a] {
    auto spec = sweeps::load_spec(a->spec, a->sets);
    try {  // planning needs no corpus; running the plan does
      data::require_corpus(spec.base.data);
    } catch (const std::exception& e) {
      fmt::print(stderr, "warning: {}\n", e.what());
    }
    if (!spec.lr_from.empty()) {
      auto db = storage::open_central_readonly(a->db);
      sweeps::resolve_lr_from(spec, db);
    }
    const auto p = sweeps::plan(spec);
    const int workers = a->workers > 0 ? a->workers : default_workers();
    bool calibrate = !a->no_calibrate;
    if (calibrate) try {
        trainer_exe();
      } catch (const std::exception& e) {  // a build without LibTorch plans; it cannot time training
        fmt::print(stderr, "warning: no wall-time estimate: {}\n", e.what());
        calibrate = false;
      }
    const double secs = calibrate ? estimate_seconds(p, workers) : NAN;
    if (a->json) {
      json runs = json::array();
      for (const auto& r : p.runs)
        runs.push_back({{"hash", r.hash}, {"label", r.label}, {"budget", r.budget}, {"N", r.N}, {"P", r.P},
                        {"R", r.R}, {"D", r.D}, {"C", r.C}, {"flops_per_token", r.flops_per_token},
                        {"n_eff", r.n_eff}, {"steps", r.steps}});
      fmt::print("{}\n", runs.dump(2));
      return;
    }
    // The run column is as wide as the longest label, so every row's numbers stay under their heading.
    size_t w = 3;
    for (const auto& r : p.runs) w = std::max(w, r.label.size());
    fmt::print("{:<16} {:>9} {:<{}} {:>9} {:>6} {:>4} {:>9} {:>9} {:>6}\n", "hash", "budget", "run", w, "N", "P", "R",
               "D", "C/budget", "steps");
    for (const auto& r : p.runs)
      fmt::print("{:<16} {:>9.3g} {:<{}} {:>9.3g} {:>6.3f} {:>4g} {:>9.3g} {:>9.4f} {:>6}\n", r.hash, r.budget, r.label,
                 w, r.N, r.P, r.R, r.D, r.C / r.budget, r.steps);
    for (const auto& d : p.dropped) fmt::print("dropped at budget {:.3g}: {}: {}\n", d.budget, d.label, d.reason);
    fmt::print("{} runs, {} dropped", p.runs.size(), p.dropped.size());
    if (calibrate) fmt::print("; estimated wall time {} on {} workers (calibrated here)", format_duration(secs), workers);
    fmt::print("\n");
  });
}

// dlcm sweep run SPEC: every pending run on this machine (sweeps/launcher.cpp).
void add_run_command(CLI::App* sweep) {
  struct Args {
    std::string spec, db = "dlcm.db";
    std::vector<std::string> sets;
    sweeps::LocalOptions local;
  };
  auto a = std::make_shared<Args>();
  auto& o = a->local;
  auto* run = sweep->add_subcommand("run", "Run every pending run of a sweep on this machine");
  run->add_option("spec", a->spec, "Sweep spec (TOML)")->required();
  run->add_option("--db", a->db, "Central database")->capture_default_str();
  run->add_option("--workers", o.workers, "Concurrent runs (default: one per core)");
  run->add_option("--threads", o.threads, "Threads per run (default: cores / workers)");
  run->add_flag("--quiet", o.quiet, "No progress output");
  run->add_option("--device", o.device, "cpu or cuda (one worker per GPU slot)")->capture_default_str();
  run->add_option("--runs-per-gpu", o.runs_per_gpu, "cuda: runs that share one GPU at a time")->capture_default_str();
  run->add_option("--hung-after", o.hung_after,
                  "Seconds without a worker heartbeat before it is killed as hung and retried (default: 20x the "
                  "run's slowest step, at least 60)");
  add_sets(run, a->sets);
  run->callback([a] {
    auto spec = sweeps::load_spec(a->spec, a->sets);
    auto db = storage::open_central(a->db);
    sweeps::resolve_lr_from(spec, db);
    exit_on(sweeps::run_local(spec, sweeps::plan(spec), db, a->local));
  });
}

// dlcm sweep submit SPEC: the pending (or failed) runs as one Slurm job array (sweeps/slurm.cpp).
void add_submit_command(CLI::App* sweep) {
  struct Args {
    std::string spec, db = "dlcm.db", launcher = "slurm";
    std::vector<std::string> sets;
    sweeps::SlurmOptions slurm;
  };
  auto a = std::make_shared<Args>();
  auto* submit = sweep->add_subcommand("submit", "Submit a sweep's pending and failed runs as one Slurm job array");
  submit->add_option("spec", a->spec, "Sweep spec (TOML)")->required();
  submit->add_option("--db", a->db, "Central database")->capture_default_str();
  submit->add_option("--launcher", a->launcher, "slurm, or local (as `sweep run`)")
      ->check(CLI::IsMember({"slurm", "local"}))
      ->capture_default_str();
  submit->add_option("--partition", a->slurm.partition, "Slurm partition (default: the cluster's)");
  submit->add_option("--time", a->slurm.time, "Time limit per task, as sbatch takes it (e.g. 2:00:00)");
  submit->add_option("--cpus-per-task", a->slurm.cpus_per_task, "CPUs per task (the worker's threads)")
      ->capture_default_str();
  submit->add_option("--gpus-per-task", a->slurm.gpus_per_task, "GPUs per task (> 0: trains on CUDA)")
      ->capture_default_str();
  submit->add_option("--max-running", a->slurm.max_running, "Tasks running at once (array throttle %K; 0: no limit)")
      ->capture_default_str();
  submit->add_option("--signal-seconds", a->slurm.signal_seconds,
                     "Seconds before the time limit a task checkpoints and requeues itself")
      ->capture_default_str();
  submit->add_flag("--resubmit-failed", a->slurm.resubmit_failed, "Submit only failed runs (up to max_attempts each)");
  submit->add_flag("--dry-run", a->slurm.dry_run, "Print the batch script; submit nothing");
  add_sets(submit, a->sets);
  submit->callback([a] {
    auto spec = sweeps::load_spec(a->spec, a->sets);
    auto db = storage::open_central(a->db);
    sweeps::resolve_lr_from(spec, db);
    const auto p = sweeps::plan(spec);
    if (a->launcher == "local") return exit_on(sweeps::run_local(spec, p, db, sweeps::LocalOptions{}));
    const auto sub = sweeps::submit_slurm(spec, p, db, a->slurm);
    const std::string limit =
        sub.at_attempt_limit ? fmt::format("; {} failed runs are at max_attempts = {}", sub.at_attempt_limit, spec.max_attempts) : "";
    if (sub.hashes.empty()) {
      fmt::print("sweep {}: nothing to submit{}\n", spec.name, limit);
    } else if (a->slurm.dry_run) {
      fmt::print("{}", sub.script);
      fmt::print(stderr, "dry run: {} tasks would be submitted from {}{}\n", sub.hashes.size(), sub.dir, limit);
    } else {
      fmt::print("sweep {}: submitted {} runs as job array {} ({}){}\n", spec.name, sub.hashes.size(), sub.job_id,
                 sub.dir, limit);
    }
  });
}

// dlcm sweep status NAME: per-run status as a table or JSON, one run's attempts (--run), or a
// live view (--watch).
void add_status_command(CLI::App* sweep) {
  struct Args {
    std::string name, db = "dlcm.db", run;
    bool json = false, watch = false;
    double interval = 5;
  };
  auto a = std::make_shared<Args>();
  auto* status = sweep->add_subcommand("status", "Per-run status of a sweep (following its Slurm tasks, if any)");
  status->add_option("name", a->name, "Sweep name")->required();
  status->add_option("--db", a->db, "Central database")->capture_default_str();
  auto* json_flag = status->add_flag("--json", a->json, "Machine-readable output");
  status->add_flag("--watch", a->watch, "Refresh until no run is pending, running or submitted (reads only)")
      ->excludes(json_flag);
  status->add_option("--interval", a->interval, "--watch: seconds between refreshes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  status->add_option("--run", a->run, "One run (its hash, or a prefix of it): its attempts, who holds it")
      ->excludes("--watch");
  status->callback([a] {
    if (a->watch) return watch(a->db, a->name, a->interval);
    if (!a->run.empty()) return print_attempts(a->db, a->name, a->run, a->json);
    const auto obs = observe(a->db, a->name);
    if (a->json) return print_status_json(obs);
    print_status_table(obs);
  });
}

// dlcm sweep collect NAME: run directories (and Slurm's word on its tasks) into the database.
void add_collect_command(CLI::App* sweep) {
  struct Args {
    std::string name, db = "dlcm.db";
    double hung_after = 0;
  };
  auto a = std::make_shared<Args>();
  auto* collect = sweep->add_subcommand("collect", "Ingest a sweep's run directories into the central database");
  collect->add_option("name", a->name, "Sweep name")->required();
  collect->add_option("--db", a->db, "Central database")->capture_default_str();
  collect->add_option("--hung-after", a->hung_after,
                      "Seconds a running Slurm task's worker may go without a heartbeat before it is cancelled as "
                      "hung (0: 20x its slowest step so far, at least 60); only collect cancels")
      ->capture_default_str();
  collect->callback([a] {
    auto db = storage::open_sweep(a->db, a->name, true);
    const auto obs = sweeps::collect(db, a->name, a->hung_after);
    if (obs.slurm_unreachable) fmt::print(stderr, "warning: Slurm does not answer; submitted runs keep their status\n");
    for (const auto& h : obs.hung) fmt::print("{}\n", h);
    fmt::print("sweep {}: {} runs: {}\n", a->name, obs.runs.size(), summary(count_states(obs)));
  });
}

// dlcm export NAME: one row per run, as CSV or JSON (reports/export.hpp holds the columns).
void add_export_command(CLI::App& app) {
  struct Args {
    std::string name, db = "dlcm.db", format = "csv", out;
  };
  auto a = std::make_shared<Args>();
  auto* exp = app.add_subcommand("export", "Export a sweep's runs (one row per run) as CSV or JSON");
  exp->add_option("name", a->name, "Sweep name")->required();
  exp->add_option("--db", a->db, "Central database")->capture_default_str();
  exp->add_option("--format", a->format, "csv or json")->check(CLI::IsMember({"csv", "json"}))->capture_default_str();
  exp->add_option("-o,--output", a->out, "Write to this file instead of standard output");
  exp->callback([a] {
    std::vector<storage::RunRow> rows;
    {
      auto db = storage::open_sweep(a->db, a->name);
      rows = storage::sweep_runs(db, a->name);
    }
    const std::string text = reports::export_runs(rows, a->format);
    if (a->out.empty()) {
      fmt::print("{}", text);
    } else {
      write_file_atomic(a->out, text);
    }
  });
}

}  // namespace

void add_sweep_commands(CLI::App& app) {
  auto* sweep = app.add_subcommand("sweep", "Plan, run and follow a sweep under fixed FLOPs budgets");
  sweep->require_subcommand(1);
  add_plan_command(sweep);
  add_run_command(sweep);
  add_submit_command(sweep);
  add_status_command(sweep);
  add_extend_command(sweep);
  add_collect_command(sweep);
  add_export_command(app);
}

}  // namespace dlcm::cli
