#include "sweeps/launcher.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/files.hpp"
#include "data/corpus.hpp"
#include "storage/central.hpp"
#include "storage/run_metrics.hpp"
#include "sweeps/slurm.hpp"

namespace fs = std::filesystem;

namespace dlcm::sweeps {
namespace {

volatile sig_atomic_t g_interrupt = 0;
void on_interrupt(int) { g_interrupt = 1; }

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// gpu: the CUDA_VISIBLE_DEVICES name of the worker's GPU, empty to train on the CPU.
pid_t spawn_worker(const std::string& exe, const fs::path& dir, int threads, const std::string& gpu) {
  const std::string cfg = (dir / "config.toml").string(), run_dir = dir.string(), th = std::to_string(threads);
  const std::string out = (dir / "worker.log").string();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork failed for {}", run_dir));
  if (pid == 0) {
    // If the orchestrator dies, the worker is told to checkpoint and stop: nothing runs unobserved.
    // It may already have died between fork and prctl: then stop before starting (resumable exit).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(4);
    const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    if (gpu.empty()) {
      execl(exe.c_str(), exe.c_str(), "train", "--quiet", "--config", cfg.c_str(), "--run-dir", run_dir.c_str(),
            "--threads", th.c_str(), static_cast<char*>(nullptr));
    } else {
      setenv("CUDA_VISIBLE_DEVICES", gpu.c_str(), 1);
      execl(exe.c_str(), exe.c_str(), "train", "--quiet", "--config", cfg.c_str(), "--run-dir", run_dir.c_str(),
            "--threads", th.c_str(), "--device", "cuda", static_cast<char*>(nullptr));
    }
    _exit(127);
  }
  return pid;
}

// A live trainer holds an flock on its run directory (train.cpp); a dead one's lock died with it.
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

std::string self_exe() { return fs::read_symlink("/proc/self/exe").string(); }

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

SweepOutcome run_local(const SweepSpec& spec, const Plan& plan, storage::Database& db, const LocalOptions& opt) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const bool on_gpu = opt.device == "cuda";
  if (opt.device != "cpu" && !on_gpu)
    throw std::runtime_error(fmt::format("--device: unknown device \"{}\" (cpu or cuda)", opt.device));
  if (opt.runs_per_gpu < 1) throw std::runtime_error("--runs-per-gpu: must be at least 1");
  const auto gpus = on_gpu ? visible_gpus(std::getenv("CUDA_VISIBLE_DEVICES")) : std::vector<std::string>{};
  if (on_gpu && gpus.empty())
    throw std::runtime_error("--device cuda: no GPU visible (CUDA_VISIBLE_DEVICES, /proc/driver/nvidia/gpus)");
  std::vector<int> per_gpu(gpus.size(), 0);
  // Proxies are small: one single-threaded worker per core keeps the machine busiest, and avoids
  // OpenMP threads spinning against each other under load. On GPUs, K runs share each GPU.
  const int gpu_slots = static_cast<int>(gpus.size()) * opt.runs_per_gpu;
  const int workers = on_gpu ? (opt.workers > 0 ? std::min(opt.workers, gpu_slots) : gpu_slots)
                             : (opt.workers > 0 ? opt.workers : cores);
  register_plan(db, spec, plan);
  const auto added = added_runs(db, spec);
  const int threads = opt.threads > 0 ? opt.threads : std::max(1, cores / workers);
  const std::string exe = opt.dlcm_binary.empty() ? self_exe() : opt.dlcm_binary;
  const std::string host = hostname();

  SweepOutcome out;
  std::map<std::string, const PlannedRun*> by_hash;
  for (const auto* runs : {&plan.runs, &added})
    for (const auto& r : *runs) by_hash.emplace(r.hash, &r);
  std::deque<storage::RunRow> queue;
  // A previous orchestrator may have died mid-run (SIGKILL, power loss), or the sweep went to
  // Slurm: each run directory (and Slurm, for runs submitted there) is the truth about its run, and
  // a local run still marked running with no live trainer is pending again.
  const auto observed = collect(db, spec.name);
  std::set<std::string> busy;
  for (const auto& [row, task, _] : observed.runs) {
    if (task || !by_hash.count(row.hash) || row.status == "completed" || row.status == "diverged") continue;
    if (fs::exists(row.run_dir) && trainer_alive(row.run_dir)) busy.insert(row.hash);
    else if (row.status == "running") storage::set_status(db, row.hash, "pending");
  }
  double remaining_flops = 0, session_flops = 0;
  int with_slurm = 0;
  for (const auto& [row, task, _] : observed.runs) {
    if (!by_hash.count(row.hash)) continue;  // planned by an older version of the spec
    out.total += 1;
    if (row.status == "completed" || row.status == "diverged") {
      out.skipped += 1;
      (row.status == "completed" ? out.completed : out.diverged) += 1;
    } else if (row.status == "failed" && row.attempts >= spec.max_attempts) {
      out.failed += 1;
    } else if (task && (row.status == "submitted" || row.status == "queued" || row.status == "running")) {
      out.pending += 1;  // Slurm has it: never trained twice at once
      with_slurm += 1;
    } else if (busy.count(row.hash)) {
      out.pending += 1;  // another process is training it right now: leave it to that one
    } else {
      queue.push_back(row);
      remaining_flops += row.C;
    }
  }

  // A missing corpus stops the sweep here, saying what to run, instead of failing every run's attempts.
  for (const auto& row : queue) data::require_corpus(by_hash.at(row.hash)->cfg.data);

  // Longest runs first: the last minutes of a sweep are not left to one long run on one core.
  std::stable_sort(queue.begin(), queue.end(), [](const auto& a, const auto& b) { return a.C > b.C; });

  struct Running {
    storage::RunRow row;
    std::chrono::steady_clock::time_point started;
    int gpu = -1;
  };
  std::map<pid_t, Running> running;
  g_interrupt = 0;
  struct sigaction sa {}, old_int{}, old_term{};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  const bool tty = !opt.quiet && isatty(STDERR_FILENO);
  const auto t0 = std::chrono::steady_clock::now();
  auto last_report = t0;
  auto say = [&](const std::string& s) {
    if (!opt.quiet) fmt::print(stderr, "{}{}\n", tty ? "\r\033[K" : "", s);
  };
  say(fmt::format("sweep {}: {} runs, {} done, {} to run on {} workers x {} threads", spec.name, out.total,
                  out.skipped, queue.size(), workers, threads));
  if (with_slurm > 0) say(fmt::format("{} runs left to their Slurm tasks (`dlcm sweep status` follows them)", with_slurm));

  bool forwarded = false;
  // After an interrupt nothing new starts: the loop ends once the running workers have stopped.
  while ((!queue.empty() && !g_interrupt) || !running.empty()) {
    if (g_interrupt && !forwarded) {
      // Workers checkpoint and stop on SIGINT; the queue is left for the next invocation.
      for (auto& [pid, _] : running) kill(pid, SIGINT);
      forwarded = true;
      out.interrupted = true;
      say("interrupted: waiting for workers to checkpoint");
    }
    while (!g_interrupt && static_cast<int>(running.size()) < workers && !queue.empty()) {
      auto row = queue.front();
      queue.pop_front();
      prepare_run_dir(row.run_dir, by_hash.at(row.hash)->cfg);
      storage::mark_started(db, row.hash, host);
      const int gpu = on_gpu ? pick_gpu(per_gpu, opt.runs_per_gpu) : -1;
      if (gpu >= 0) per_gpu[gpu] += 1;
      running[spawn_worker(exe, row.run_dir, threads, gpu >= 0 ? gpus[gpu] : "")] = {
          row, std::chrono::steady_clock::now(), gpu};
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0 && running.count(pid)) {
      auto r = running.at(pid);
      running.erase(pid);
      if (r.gpu >= 0) per_gpu[r.gpu] -= 1;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      const std::string found = storage::ingest_run_dir(db, r.row.hash, r.row.run_dir);
      std::string verdict;
      if (found == "completed" || found == "diverged") {
        verdict = found;
        (found == "completed" ? out.completed : out.diverged) += 1;
        session_flops += r.row.C;
      } else if (code == 4 || (WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM))) {
        verdict = "interrupted (resumable)";
        storage::set_status(db, r.row.hash, "pending");
        out.pending += 1;
      } else {
        verdict = fmt::format("failed (exit {}): {}", WIFSIGNALED(status) ? -WTERMSIG(status) : code,
                              last_line(fs::path(r.row.run_dir) / "worker.log"));
        storage::set_status(db, r.row.hash, "failed");
        out.failed += 1;
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.started).count();
      // The trainer's own wall time, to show what the orchestration around it costs.
      double train_secs = 0;
      try {
        std::ifstream res(fs::path(r.row.run_dir) / "result.json");
        train_secs = nlohmann::json::parse(res).value("wall_seconds", 0.0);
      } catch (const std::exception&) {
      }
      say(fmt::format("[{}/{}] {} {} {} in {:.1f}s (trainer {:.1f}s)", out.completed + out.diverged, out.total,
                      r.row.hash, r.row.label, verdict, secs, train_secs));
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!opt.quiet && now - last_report > std::chrono::seconds(tty ? 2 : 30) && !running.empty()) {
      last_report = now;
      std::string line = fmt::format("[{}/{}]", out.completed + out.diverged, out.total);
      for (auto& [_, r] : running) {
        const auto loss = storage::latest_train_loss((fs::path(r.row.run_dir) / "metrics.sqlite").string());
        line += fmt::format(" | {} {}", r.row.hash.substr(0, 8),
                            loss ? fmt::format("step {} loss {:.3f}", loss->step, loss->value) : "-");
      }
      const double elapsed = std::chrono::duration<double>(now - t0).count();
      if (session_flops > 0)  // compute done so far in this invocation sets the pace
        line += fmt::format(" | ETA {:.0f}s", elapsed * (remaining_flops - session_flops) / session_flops);
      if (tty) fmt::print(stderr, "\r\033[K{}", line);
      else say(line);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  out.pending += static_cast<int>(queue.size());
  say(fmt::format("sweep {}: {} completed, {} diverged, {} failed, {} pending", spec.name, out.completed,
                  out.diverged, out.failed, out.pending));
  return out;
}

}  // namespace dlcm::sweeps
