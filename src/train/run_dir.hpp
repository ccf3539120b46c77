#pragma once
// The run directory besides its checkpoints and metrics: the lock that makes one process its
// trainer, config.toml, log.txt, heartbeat.json and result.json. Rank 0 alone writes there.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "core/build_info.hpp"
#include "core/config.hpp"
#include "data/corpus.hpp"
#include "train/checkpoint.hpp"
#include "train/eval.hpp"
#include "train/train.hpp"

namespace dlcm::train {

// The lock is on the directory itself: no lock file to go stale or to add to a directory. It dies
// with the process, so a launcher can tell a live trainer from a dead one (sweeps/launcher.cpp).
struct RunDirLock {
  int fd = -1;
  RunDirLock() = default;
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;
  ~RunDirLock();
};

// Rank 0's account of the run: log.txt, and stderr unless quiet. On other ranks it says nothing.
struct RunLog {
  bool on = false;    // rank 0
  bool echo = false;  // to stderr too (not --quiet)
  bool tty = false;   // stderr is a terminal: the step line is redrawn in place
  std::ofstream file;
  void say(const std::string& line);
  // The step line: redrawn on a terminal; kept (logged, and printed when not on a terminal) when `keep`.
  void step_line(const std::string& line, bool keep);
};

// Creates the directory and takes its lock (RunDirectoryBusy when another process holds it: a
// re-run racing a dying worker), removes what killed trainers left, checks config.toml against
// `config_text` (written when new), and opens log.txt.
void open_run_dir(RunDirLock& lock, RunLog& log, const std::filesystem::path& dir, const std::string& rendezvous,
                  const std::string& config_text);

// The worker's heartbeat, <run dir>/heartbeat.json: its pid, step and the longest gap between two
// beats so far (a step, with any evaluation and checkpoint in it). The local orchestrator kills a
// worker whose heartbeat stops for far longer than that (sweeps/launcher.cpp). Written at most once
// a second, so tiny steps do not turn into a file write each.
struct Heartbeat {
  using Clock = std::chrono::steady_clock;
  std::filesystem::path file;
  bool on = false;
  std::optional<Clock::time_point> last_beat;
  Clock::time_point last_write{};
  double max_gap = 0;
  void beat(int64_t step);
};

// How the run was trained, as result.json records it beside its outcome.
struct RunFacts {
  int threads = 0, world_size = 1;
  std::string device;
  double wall_seconds = 0, tokens_per_second = 0;
  BuildInfo build;  // the binary that trained it (its last session, when resumed)
};

// result.json: the run's outcome, which the launchers, `sweep collect` and the fits read. `evals`
// is the last evaluation: empty when the run diverged before its first.
void write_result(const std::filesystem::path& dir, const RunConfig& cfg, const data::Corpus& corpus,
                  const Progress& pr, const TrainSummary& summary, const std::map<std::string, DomainEval>& evals,
                  const RunFacts& facts);

}  // namespace dlcm::train
