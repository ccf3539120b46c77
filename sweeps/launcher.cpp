#include "sweeps/launcher.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/build_info.hpp"
#include "core/files.hpp"
#include "core/process.hpp"
#include "data/corpus.hpp"
#include "storage/central.hpp"
#include "storage/run_metrics.hpp"
#include "storage/status.hpp"
#include "sweeps/slurm.hpp"

namespace fs = std::filesystem;

namespace dlcm::sweeps {

using storage::AttemptEnd;
using storage::is;
using storage::is_final;
using storage::RunStatus;
using storage::TrainExit;
namespace {

volatile sig_atomic_t g_interrupt = 0;
void on_interrupt(int) { g_interrupt = 1; }

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// gpu: the CUDA_VISIBLE_DEVICES name of the worker's GPU, empty to train on the CPU. If the
// orchestrator dies, the worker is told to checkpoint and stop: nothing runs unobserved.
pid_t spawn_worker(const std::string& exe, const fs::path& dir, int threads, const std::string& gpu) {
  const std::string run_dir = dir.string();
  std::vector<std::string> argv = {exe,     "train",      "--quiet", "--config", (dir / "config.toml").string(),
                                   "--run-dir", run_dir, "--threads", std::to_string(threads)};
  SpawnOptions o;
  o.die_with_parent = true;
  if (!gpu.empty()) {
    argv.insert(argv.end(), {"--device", "cuda"});
    o.env = {{"CUDA_VISIBLE_DEVICES", gpu}};
  }
  // A log that cannot be opened leaves the worker writing where the orchestrator does.
  o.out_fd = o.err_fd = open((dir / "worker.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = 0;
  const int rc = spawn(argv, pid, o);
  if (o.out_fd >= 0) close(o.out_fd);
  if (rc != 0) throw std::runtime_error(fmt::format("fork failed for {}", run_dir));
  return pid;
}

// A live trainer holds an flock on its run directory (train/run_dir.cpp); a dead one's lock died with it.
bool trainer_alive(const fs::path& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool busy = flock(fd, LOCK_EX | LOCK_NB) != 0;
  close(fd);
  return busy;
}

std::string last_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

}  // namespace

std::vector<std::string> visible_gpus(const char* cuda_visible_devices, const std::string& proc_gpus) {
  std::vector<std::string> out;
  if (cuda_visible_devices) {
    std::string item;
    for (const char* c = cuda_visible_devices;; ++c) {
      if (*c == ',' || *c == '\0') {
        if (!item.empty()) out.push_back(item);
        item.clear();
        if (*c == '\0') break;
      } else if (*c != ' ') {
        item += *c;
      }
    }
    return out;
  }
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::directory_iterator(proc_gpus, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
  for (size_t i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

int pick_gpu(const std::vector<int>& running_per_gpu, int runs_per_gpu) {
  int best = -1;
  for (int i = 0; i < static_cast<int>(running_per_gpu.size()); ++i)
    if (running_per_gpu[i] < runs_per_gpu && (best < 0 || running_per_gpu[i] < running_per_gpu[best])) best = i;
  return best;
}

void prepare_run_dir(const std::string& dir, const RunConfig& cfg) {
  fs::create_directories(dir);
  const fs::path path = fs::path(dir) / "config.toml";
  if (!fs::exists(path)) write_file_atomic(path.string(), to_toml(cfg));
}

void register_plan(storage::Database& db, const SweepSpec& spec, const Plan& plan) {
  std::vector<storage::RunPlanRow> rows;
  for (const auto& r : plan.runs)
    rows.push_back({r.hash, r.label, to_toml(r.cfg), (fs::path(spec.runs_dir) / r.hash).string(), name(r.cfg.model.arch),
                    r.budget, r.N, r.P, r.R, r.D, r.C, r.flops_per_token, r.steps});
  storage::register_sweep(db, spec.name, spec.text, rows);
}

std::vector<PlannedRun> added_runs(storage::Database& db, const SweepSpec& spec) {
  std::vector<PlannedRun> out;
  for (const auto& row : storage::sweep_runs(db, spec.name)) {
    if (row.origin != "extend") continue;
    auto r = planned_run(parse_run_config(row.config, fmt::format("{}: config of run {}", db.path(), row.hash)),
                         row.label, row.budget);
    r.hash = row.hash;  // the identity it was registered, and its run directory named, under
    out.push_back(std::move(r));
  }
  return out;
}

storage::Holder this_process(const std::string& launcher) { return {launcher, hostname(), getpid(), ""}; }

std::optional<std::string> holder_gone(const storage::Claim& c, const std::string& host, double now_unix) {
  const auto& h = c.holder;
  if (!h.slurm_task.empty()) return std::nullopt;
  if (h.host == host && h.pid > 0 && kill(static_cast<pid_t>(h.pid), 0) != 0 && errno == ESRCH)
    return fmt::format("{} exited", storage::describe(h));
  if (now_unix - c.heartbeat > kClaimStaleSeconds)
    return fmt::format("{} silent for {:.0f} s", storage::describe(h), now_unix - c.heartbeat);
  return std::nullopt;
}

bool held_by_other(const std::optional<storage::Claim>& c, const storage::Holder& me) {
  return c && !(c->holder == me) && !holder_gone(*c, me.host, unix_now());
}

bool claim(storage::Database& db, const storage::RunRow& run, const std::optional<storage::Claim>& current,
           const storage::Holder& me) {
  if (held_by_other(current, me)) return false;
  if (fs::exists(run.run_dir) && trainer_alive(run.run_dir)) return false;
  if (!current) return storage::claim_run(db, run.hash, me);
  if (!storage::take_over_claim(db, *current, me)) return false;
  if (current->attempt > 0) {  // the gone holder's attempt: finished before it went, or orphaned
    const std::string found = result_status(run.run_dir);
    const auto why = holder_gone(*current, me.host, unix_now());
    if (is_final(found))
      storage::end_attempt(db, run.hash, current->attempt, std::nullopt, found, "", true, "");
    else
      storage::end_attempt(db, run.hash, current->attempt, std::nullopt, to_string(AttemptEnd::orphaned),
                           why ? *why : "its holder is gone", false, to_string(RunStatus::pending));
  }
  return true;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<Heartbeat> read_heartbeat(const std::string& run_dir) {
  std::ifstream in(fs::path(run_dir) / "heartbeat.json");
  if (!in) return std::nullopt;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return Heartbeat{j.value("pid", int64_t{-1}), j.value("step", int64_t{0}), j.value("unix", 0.0), j.value("max_gap", 0.0)};
}

double hung_limit(double hung_after, const std::optional<Heartbeat>& beat) {
  if (hung_after > 0) return beat ? hung_after : std::max(hung_after, kHungFloor);  // start-up gets the floor
  return std::max(kHungFloor, kHungMargin * (beat ? beat->max_gap : 0));
}

std::string result_status(const std::string& run_dir) {
  std::ifstream in(fs::path(run_dir) / "result.json");
  if (!in) return "";
  const auto j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() ? j.value("status", "") : "";
}

namespace {

using Clock = std::chrono::steady_clock;

// --- the worker pool: `dlcm train` child processes, one per run --------------------------------

struct Worker {
  storage::RunRow row;
  int64_t attempt = 0;
  Clock::time_point started, last_beat;
  std::optional<Heartbeat> beat;
  int gpu = -1;
  bool hung = false;
};

struct Pool {
  std::string exe;                // the `dlcm` the workers run
  int workers = 0, threads = 0;   // slots, and threads per worker
  bool on_gpu = false;
  int runs_per_gpu = 1;
  std::vector<std::string> gpus;  // as CUDA_VISIBLE_DEVICES names them
  std::vector<int> per_gpu;       // workers on each GPU now
  std::map<pid_t, Worker> running;
  bool full() const { return static_cast<int>(running.size()) >= workers; }
};

// The pool the options ask for, checked before anything touches the database.
Pool make_pool(const LocalOptions& opt) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Pool pool;
  pool.on_gpu = opt.device == "cuda";
  if (opt.device != "cpu" && !pool.on_gpu)
    throw std::runtime_error(fmt::format("--device: unknown device \"{}\" (cpu or cuda)", opt.device));
  if (opt.runs_per_gpu < 1) throw std::runtime_error("--runs-per-gpu: must be at least 1");
  if (opt.hung_after < 0) throw std::runtime_error("--hung-after: must not be negative");
  if (pool.on_gpu) pool.gpus = visible_gpus(std::getenv("CUDA_VISIBLE_DEVICES"));
  if (pool.on_gpu && pool.gpus.empty())
    throw std::runtime_error("--device cuda: no GPU visible (CUDA_VISIBLE_DEVICES, /proc/driver/nvidia/gpus)");
  pool.per_gpu.assign(pool.gpus.size(), 0);
  pool.runs_per_gpu = opt.runs_per_gpu;
  // Proxies are small: one single-threaded worker per core keeps the machine busiest, and avoids
  // OpenMP threads spinning against each other under load. On GPUs, K runs share each GPU.
  const int gpu_slots = static_cast<int>(pool.gpus.size()) * opt.runs_per_gpu;
  pool.workers = pool.on_gpu ? (opt.workers > 0 ? std::min(opt.workers, gpu_slots) : gpu_slots)
                             : (opt.workers > 0 ? opt.workers : cores);
  pool.threads = opt.threads > 0 ? opt.threads : std::max(1, cores / pool.workers);
  pool.exe = opt.trainer_binary.empty() ? trainer_exe() : opt.trainer_binary;
  return pool;
}

// Starts a worker on the run, its attempt already begun, on the least loaded GPU (if on GPUs).
void start_worker(Pool& pool, const storage::RunRow& row, int64_t attempt) {
  Worker w{row, attempt, Clock::now(), Clock::now(), std::nullopt};
  w.row.attempts += 1;
  const int gpu = pool.on_gpu ? pick_gpu(pool.per_gpu, pool.runs_per_gpu) : -1;
  if (gpu >= 0) pool.per_gpu[gpu] += 1;
  w.gpu = gpu;
  pool.running[spawn_worker(pool.exe, row.run_dir, pool.threads, gpu >= 0 ? pool.gpus[gpu] : "")] = std::move(w);
}

// A worker that has exited, with its wait status; nothing when none has.
struct Exited {
  Worker worker;
  int status = 0;
};
std::optional<Exited> reap(Pool& pool) {
  int status = 0;
  const pid_t pid = waitpid(-1, &status, WNOHANG);
  if (pid <= 0 || !pool.running.count(pid)) return std::nullopt;
  Exited e{pool.running.at(pid), status};
  pool.running.erase(pid);
  if (e.worker.gpu >= 0) pool.per_gpu[e.worker.gpu] -= 1;
  return e;
}

// --- the progress reporter ----------------------------------------------------------------------

struct Reporter {
  bool quiet = false, tty = false;
  Clock::time_point t0, last_report;
  double remaining_flops = 0;  // compute of the runs left when the session began
  double session_flops = 0;    // of those, finished in this session: sets the pace
  void say(const std::string& s) const {
    if (!quiet) fmt::print(stderr, "{}{}\n", tty ? "\r\033[K" : "", s);
  }
};

// The periodic line: each running run's latest loss, and the ETA (every 2 s on a terminal, where it
// is redrawn in place; every 30 s otherwise).
void report_progress(Reporter& rep, const Pool& pool, int done, int total, size_t held_by_others) {
  const auto now = Clock::now();
  if (rep.quiet || now - rep.last_report <= std::chrono::seconds(rep.tty ? 2 : 30) || pool.running.empty()) return;
  rep.last_report = now;
  std::string line = fmt::format("[{}/{}]", done, total);
  for (auto& [_, r] : pool.running) {
    const auto loss = storage::latest_train_loss((fs::path(r.row.run_dir) / "metrics.sqlite").string());
    line += fmt::format(" | {} {}", r.row.hash.substr(0, 8),
                        loss ? fmt::format("step {} loss {:.3f}", loss->step, loss->value) : "-");
  }
  if (held_by_others) line += fmt::format(" | {} held by others", held_by_others);
  const double elapsed = std::chrono::duration<double>(now - rep.t0).count();
  if (rep.session_flops > 0)  // compute done so far in this invocation sets the pace
    line += fmt::format(" | ETA {:.0f}s", elapsed * (rep.remaining_flops - rep.session_flops) / rep.session_flops);
  if (rep.tty) fmt::print(stderr, "\r\033[K{}", line);
  else rep.say(line);
}

// --- the queue: which runs this orchestrator trains, claimed one at a time -----------------------

struct Queue {
  std::map<std::string, const PlannedRun*> by_hash;  // the sweep's runs now: its plan's and those added
  std::set<std::string> failed_here;                 // failed in this session: left to the next `sweep run`
  std::map<std::string, std::string> others;         // runs other live holders have: hash -> holder
  int done = 0;                                      // runs completed or diverged, whoever trained them
};

// Each run directory (and Slurm, for runs submitted there) is the truth about its run: results a
// dead orchestrator never ingested are ingested, ended Slurm tasks settled, before choosing. Counts
// the sweep's runs into `out` and the compute left into the reporter; returns the runs left to Slurm.
int take_stock(storage::Database& db, const SweepSpec& spec, const Queue& q, SweepOutcome& out, Reporter& rep) {
  int with_slurm = 0;
  for (const auto& o : collect(db, spec.name).runs) {
    if (!q.by_hash.count(o.run.hash)) continue;  // planned by an older version of the spec
    out.total += 1;
    if (is_final(o.run.status)) {
      out.skipped += 1;
      continue;
    }
    rep.remaining_flops += o.run.C;
    if (o.claim && !o.claim->holder.slurm_task.empty()) with_slurm += 1;
    // A missing corpus stops the sweep here, saying what to run, instead of failing every run's attempts.
    data::require_corpus(q.by_hash.at(o.run.hash)->cfg.data);
  }
  return with_slurm;
}

// Claims and starts runs, longest first, while worker slots are free. Returns whether anything is
// left to wait for: runs still to start here, or runs other local orchestrators hold (they may
// die, and their runs are then taken over); runs Slurm holds are not waited for.
bool fill(Queue& q, Pool& pool, storage::Database& db, const SweepSpec& spec, const storage::Holder& me,
          const Reporter& rep) {
  bool left = false;
  std::map<std::string, std::string> held;
  const auto claims = storage::sweep_claims(db, spec.name);
  auto rows = storage::sweep_runs(db, spec.name);
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.C > b.C; });  // longest first
  q.done = 0;
  for (const auto& row : rows) {
    if (!q.by_hash.count(row.hash)) continue;
    q.done += is_final(row.status);
    if (is_final(row.status) || q.failed_here.count(row.hash)) continue;
    if (is(row.status, RunStatus::failed) && row.attempts >= spec.max_attempts) continue;
    const auto c = claims.count(row.hash) ? std::optional(claims.at(row.hash)) : std::nullopt;
    if (c && c->holder == me) continue;  // a worker of ours
    if (held_by_other(c, me)) {
      held[row.hash] = storage::describe(c->holder);
      left = left || c->holder.slurm_task.empty();
      continue;
    }
    left = true;
    if (g_interrupt || pool.full() || !claim(db, row, c, me)) continue;
    // A run taken over may have finished under its last holder: then there is nothing to train.
    if (is_final(result_status(row.run_dir))) {
      storage::ingest_run_dir(db, row.hash, row.run_dir);
      storage::release_claim(db, row.hash, me);
      continue;
    }
    prepare_run_dir(row.run_dir, q.by_hash.at(row.hash)->cfg);
    start_worker(pool, row, storage::begin_attempt(db, row.hash, me));
  }
  if (held != q.others && !held.empty()) {
    std::string line = fmt::format("{} runs held by others:", held.size());
    for (const auto& [hash, who] : held) line += fmt::format(" {} ({})", hash.substr(0, 8), who);
    rep.say(line);
  }
  q.others = held;
  return left;
}

// A worker whose heartbeat stops is killed (SIGKILL: a stopped process takes nothing else) and
// its run retried from its checkpoint.
void kill_hung(Pool& pool, const LocalOptions& opt, Clock::time_point now, const Reporter& rep) {
  for (auto& [pid, r] : pool.running) {
    if (r.hung) continue;
    auto beat = read_heartbeat(r.row.run_dir);
    if (beat && beat->pid != pid) beat.reset();  // an earlier attempt's
    if (beat && (!r.beat || beat->wall != r.beat->wall)) r.beat = beat, r.last_beat = now;
    const double limit = hung_limit(opt.hung_after, r.beat);
    const double silent = std::chrono::duration<double>(now - r.last_beat).count();
    if (silent <= limit) continue;
    kill(pid, SIGKILL);
    r.hung = true;
    rep.say(fmt::format("{} {}: no heartbeat for {:.0f} s (limit {:.0f} s) at step {}: killed as hung", r.row.hash,
                        r.row.label, silent, limit, r.beat ? r.beat->step : 0));
  }
}

// Records how an exited worker's attempt ended (its run directory says whether it finished), frees
// its claim and says so.
void settle(const Exited& e, Queue& q, storage::Database& db, const SweepSpec& spec, const storage::Holder& me,
            SweepOutcome& out, Reporter& rep) {
  const Worker& r = e.worker;
  const int status = e.status;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const int64_t exit_code = WIFSIGNALED(status) ? -WTERMSIG(status) : code;
  const std::string found = storage::ingest_run_dir(db, r.row.hash, r.row.run_dir);
  std::string verdict;
  if (is_final(found)) {
    verdict = found;
    storage::end_attempt(db, r.row.hash, r.attempt, exit_code, found, "", true, "");
    rep.session_flops += r.row.C;
  } else if (r.hung) {
    const bool give_up = r.row.attempts >= spec.max_attempts;
    verdict = give_up ? fmt::format("hung; failed after {} attempts", r.row.attempts) : "hung: retried from its checkpoint";
    storage::end_attempt(db, r.row.hash, r.attempt, exit_code, to_string(AttemptEnd::hung),
                         fmt::format("no heartbeat after step {}", r.beat ? r.beat->step : 0), true,
                         to_string(give_up ? RunStatus::failed : RunStatus::pending));
    out.hung += 1;
    if (give_up) q.failed_here.insert(r.row.hash);
  } else if (code == storage::code(TrainExit::busy)) {
    verdict = "run directory busy (not an attempt)";
    storage::end_attempt(db, r.row.hash, r.attempt, exit_code, to_string(AttemptEnd::busy),
                         last_line(fs::path(r.row.run_dir) / "worker.log"), false, to_string(RunStatus::pending));
  } else if (code == storage::code(TrainExit::interrupted) ||
             (WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM))) {
    verdict = "interrupted (resumable)";
    storage::end_attempt(db, r.row.hash, r.attempt, exit_code, to_string(AttemptEnd::interrupted), "", false,
                         to_string(RunStatus::pending));
  } else {
    const std::string why = last_line(fs::path(r.row.run_dir) / "worker.log");
    verdict = fmt::format("failed (exit {}): {}", exit_code, why);
    storage::end_attempt(db, r.row.hash, r.attempt, exit_code, to_string(AttemptEnd::failed), why, true,
                         to_string(RunStatus::failed));
    q.failed_here.insert(r.row.hash);
  }
  storage::release_claim(db, r.row.hash, me);
  const double secs = std::chrono::duration<double>(Clock::now() - r.started).count();
  // The trainer's own wall time, to show what the orchestration around it costs.
  double train_secs = 0;
  try {
    std::ifstream res(fs::path(r.row.run_dir) / "result.json");
    train_secs = nlohmann::json::parse(res).value("wall_seconds", 0.0);
  } catch (const std::exception&) {
  }
  q.done += is_final(found);
  rep.say(fmt::format("[{}/{}] {} {} {} in {:.1f}s (trainer {:.1f}s)", q.done, out.total, r.row.hash, r.row.label,
                      verdict, secs, train_secs));
}

// The sweep's runs as the database has them now, whoever trained what.
void tally(storage::Database& db, const SweepSpec& spec, const Queue& q, SweepOutcome& out) {
  out.completed = out.diverged = out.failed = out.pending = 0;
  for (const auto& r : storage::sweep_runs(db, spec.name)) {
    if (!q.by_hash.count(r.hash)) continue;
    if (is(r.status, RunStatus::completed)) out.completed += 1;
    else if (is(r.status, RunStatus::diverged)) out.diverged += 1;
    else if (is(r.status, RunStatus::failed)) out.failed += 1;
    else out.pending += 1;
  }
}

}  // namespace

SweepOutcome run_local(const SweepSpec& spec, const Plan& plan, storage::Database& db, const LocalOptions& opt) {
  Pool pool = make_pool(opt);
  register_plan(db, spec, plan);
  const auto added = added_runs(db, spec);
  const storage::Holder me = this_process("local");

  SweepOutcome out;
  Queue q;
  for (const auto* runs : {&plan.runs, &added})
    for (const auto& r : *runs) q.by_hash.emplace(r.hash, &r);
  Reporter rep;
  const int with_slurm = take_stock(db, spec, q, out, rep);
  q.done = out.skipped;

  g_interrupt = 0;
  struct sigaction sa {}, old_int{}, old_term{};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  rep.quiet = opt.quiet, rep.tty = !opt.quiet && isatty(STDERR_FILENO);
  rep.t0 = rep.last_report = Clock::now();
  auto last_scan = rep.t0 - std::chrono::hours(1), last_refresh = rep.t0;
  rep.say(fmt::format("sweep {}: {} runs, {} done, {} to run on {} workers x {} threads ({})", spec.name, out.total,
                      out.skipped, out.total - out.skipped, pool.workers, pool.threads, storage::describe(me)));
  if (with_slurm > 0) rep.say(fmt::format("{} runs left to their Slurm tasks (`dlcm sweep status` follows them)", with_slurm));

  bool forwarded = false, more = true;
  while (pool.running.size() > 0 || (more && !g_interrupt)) {
    if (g_interrupt && !forwarded) {
      // Workers checkpoint and stop on SIGINT; what is left waits for the next invocation.
      for (auto& [pid, _] : pool.running) kill(pid, SIGINT);
      forwarded = true;
      out.interrupted = true;
      rep.say("interrupted: waiting for workers to checkpoint");
    }
    const auto now = Clock::now();
    if (!g_interrupt && now - last_scan >= std::chrono::seconds(1)) {
      more = fill(q, pool, db, spec, me, rep);
      last_scan = now;
      kill_hung(pool, opt, now, rep);
    }
    if (!pool.running.empty() && now - last_refresh >= std::chrono::seconds(2)) {
      storage::refresh_claims(db, me);
      last_refresh = now;
    }
    if (const auto exited = reap(pool)) {
      settle(*exited, q, db, spec, me, out, rep);
      last_scan = Clock::time_point{};  // a slot is free: look for work at once
      continue;
    }
    report_progress(rep, pool, q.done, out.total, q.others.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  tally(db, spec, q, out);
  rep.say(fmt::format("sweep {}: {} completed, {} diverged, {} failed, {} pending{}", spec.name, out.completed,
                      out.diverged, out.failed, out.pending,
                      q.others.empty() ? "" : fmt::format(" ({} held by others)", q.others.size())));
  return out;
}

}  // namespace dlcm::sweeps
