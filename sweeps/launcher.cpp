#include "sweeps/launcher.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/files.hpp"
#include "storage/central.hpp"
#include "storage/run_metrics.hpp"

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

std::string self_exe() { return fs::read_symlink("/proc/self/exe").string(); }

// Writes the run's config where the worker reads it; the trainer refuses a directory that holds
// a different one, so a changed plan can never mix into an old run.
void prepare_run_dir(const fs::path& dir, const RunConfig& cfg) {
  fs::create_directories(dir);
  const fs::path path = dir / "config.toml";
  if (!fs::exists(path)) write_file_atomic(path.string(), to_toml(cfg));
}

pid_t spawn_worker(const std::string& exe, const fs::path& dir, int threads) {
  const std::string cfg = (dir / "config.toml").string(), run_dir = dir.string(), th = std::to_string(threads);
  const std::string out = (dir / "worker.log").string();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork failed for {}", run_dir));
  if (pid == 0) {
    // If the orchestrator dies, the worker is told to checkpoint and stop: nothing runs unobserved.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execl(exe.c_str(), exe.c_str(), "train", "--quiet", "--config", cfg.c_str(), "--run-dir", run_dir.c_str(),
          "--threads", th.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

std::string last_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

}  // namespace

void register_plan(storage::Database& db, const SweepSpec& spec, const Plan& plan) {
  std::vector<storage::RunPlanRow> rows;
  for (const auto& r : plan.runs)
    rows.push_back({r.hash, r.label, to_toml(r.cfg), (fs::path(spec.runs_dir) / r.hash).string(), name(r.cfg.model.arch),
                    r.budget, r.N, r.P, r.R, r.D, r.C, r.flops_per_token, r.steps});
  storage::register_sweep(db, spec.name, spec.text, rows);
}

SweepOutcome run_local(const SweepSpec& spec, const Plan& plan, storage::Database& db, const LocalOptions& opt) {
  register_plan(db, spec, plan);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Proxies are small: one single-threaded worker per core keeps the machine busiest, and avoids
  // OpenMP threads spinning against each other under load.
  const int workers = opt.workers > 0 ? opt.workers : cores;
  const int threads = opt.threads > 0 ? opt.threads : std::max(1, cores / workers);
  const std::string exe = opt.dlcm_binary.empty() ? self_exe() : opt.dlcm_binary;
  const std::string host = hostname();

  SweepOutcome out;
  std::map<std::string, const PlannedRun*> by_hash;
  for (const auto& r : plan.runs) by_hash[r.hash] = &r;
  std::deque<storage::RunRow> queue;
  // A previous orchestrator may have died mid-run: each run directory is the truth about its run.
  for (const auto& row : storage::sweep_runs(db, spec.name))
    if (by_hash.count(row.hash) && row.status != "completed" && row.status != "diverged" && fs::exists(row.run_dir))
      storage::ingest_run_dir(db, row.hash, row.run_dir);
  double remaining_flops = 0, session_flops = 0;
  for (const auto& row : storage::sweep_runs(db, spec.name)) {
    if (!by_hash.count(row.hash)) continue;  // registered by an older version of the spec
    out.total += 1;
    if (row.status == "completed" || row.status == "diverged") {
      out.skipped += 1;
      (row.status == "completed" ? out.completed : out.diverged) += 1;
    } else if (row.status == "failed" && row.attempts >= spec.max_attempts) {
      out.failed += 1;
    } else {
      queue.push_back(row);
      remaining_flops += row.C;
    }
  }

  // Longest runs first: the last minutes of a sweep are not left to one long run on one core.
  std::stable_sort(queue.begin(), queue.end(), [](const auto& a, const auto& b) { return a.C > b.C; });

  struct Running {
    storage::RunRow row;
    std::chrono::steady_clock::time_point started;
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
      running[spawn_worker(exe, row.run_dir, threads)] = {row, std::chrono::steady_clock::now()};
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0 && running.count(pid)) {
      auto r = running.at(pid);
      running.erase(pid);
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
        const auto metrics = fs::path(r.row.run_dir) / "metrics.sqlite";
        std::string loss = "-";
        try {
          if (fs::exists(metrics)) {
            storage::Database m(metrics.string(), false);
            storage::Statement st(m.handle(), "SELECT step, value FROM metrics WHERE split='train' AND name='loss' ORDER BY step DESC LIMIT 1");
            if (st.step()) loss = fmt::format("step {} loss {:.3f}", st.column_int(0), st.column_double(1));
          }
        } catch (const std::exception&) {
        }
        line += fmt::format(" | {} {}", r.row.hash.substr(0, 8), loss);
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
