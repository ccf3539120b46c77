#pragma once
// The local launcher (DESIGN §6): runs a sweep's pending runs as `dlcm-train train` child processes on
// this machine, splitting the cores, ingesting each run directory into the central database.
#include <optional>
#include <string>
#include <vector>

#include "storage/central.hpp"
#include "sweeps/spec.hpp"

namespace dlcm::sweeps {

struct LocalOptions {
  std::string trainer_binary;  // the trainer the workers run (default: core's trainer_exe(), dlcm-train)
  int workers = 0;          // 0: one per core (cpu), or GPUs × runs_per_gpu (cuda)
  int threads = 0;          // threads per worker; 0: cores / workers
  bool quiet = false;
  std::string device = "cpu";  // cpu | cuda: what the workers train on
  int runs_per_gpu = 1;        // cuda: proxies too small to fill a GPU share one, K at a time
  // Seconds without a heartbeat from a worker before it is killed as hung and its run retried
  // from its checkpoint; 0: kHungMargin × the run's own slowest step so far, at least kHungFloor.
  double hung_after = 0;
};

constexpr double kHungMargin = 20, kHungFloor = 60;  // seconds, see LocalOptions::hung_after

// A worker's heartbeat.json (train/run_dir.cpp), written at most once a second while it trains.
struct Heartbeat {
  int64_t pid = -1, step = 0;
  double wall = 0, max_gap = 0;  // wall: unix seconds of the beat, by the worker's clock; max_gap: its slowest gap
};
std::optional<Heartbeat> read_heartbeat(const std::string& run_dir);
// This host's clock, in unix seconds (what heartbeats and claims are compared with).
double unix_now();
// Seconds of silence after which a worker counts as hung: hung_after when set, else kHungMargin ×
// its slowest gap so far, at least kHungFloor (which is also what a worker gets before its first beat).
double hung_limit(double hung_after, const std::optional<Heartbeat>& beat);
// A claim whose holder has not refreshed it for this long is stale, wherever the holder runs
// (local orchestrators refresh theirs every 2 s).
constexpr double kClaimStaleSeconds = 120;

// The GPUs workers may use, as CUDA_VISIBLE_DEVICES names them: that variable when set, else every
// GPU the NVIDIA driver lists under proc_gpus (/proc/driver/nvidia/gpus).
std::vector<std::string> visible_gpus(const char* cuda_visible_devices,
                                      const std::string& proc_gpus = "/proc/driver/nvidia/gpus");
// The GPU the next run goes to: the least loaded one with fewer than runs_per_gpu runs (lowest
// index on ties), or -1 when all are full.
int pick_gpu(const std::vector<int>& running_per_gpu, int runs_per_gpu);

struct SweepOutcome {
  int total = 0, completed = 0, diverged = 0, failed = 0, pending = 0, skipped = 0;
  int hung = 0;  // workers this orchestrator killed as hung (their runs retried)
  bool interrupted = false;
};

// This process as a claim holder: launcher "local" (an orchestrator) or "slurm" (a submitter).
storage::Holder this_process(const std::string& launcher);
// Why the holder of `c` is gone (its process exited on this host, its heartbeat stopped for
// kClaimStaleSeconds), or nothing while it lives. A claim passed to a Slurm task lives until
// collect() sees the task end.
std::optional<std::string> holder_gone(const storage::Claim& c, const std::string& host, double now_unix);
// `c` is held by a live holder other than `me`.
bool held_by_other(const std::optional<storage::Claim>& c, const storage::Holder& me);
// Claims the run for `me`: free, or held by a holder that is gone (whose open attempt then ends as
// `orphaned`, not counted). false when a live holder has it, or a trainer still holds its run
// directory's lock (an orphaned worker finishing its checkpoint, a hand-started `dlcm train`).
bool claim(storage::Database& db, const storage::RunRow& run, const std::optional<storage::Claim>& current,
           const storage::Holder& me);
// result.json's status in a run directory ("" when there is none yet).
std::string result_status(const std::string& run_dir);

// Registers the sweep's plan in the database, then trains every run that is not finished: the
// plan's and those added to the sweep (added_runs). Re-running skips completed and diverged runs
// and resumes the rest from their checkpoints. Each run is claimed before it starts: runs other
// live holders claimed (another `sweep run`, Slurm tasks) are left to them, and the orchestrator
// waits on other local orchestrators' runs until they end, taking over those whose holder dies.
SweepOutcome run_local(const SweepSpec& spec, const Plan& plan, storage::Database& db, const LocalOptions& opt);

// Writes the run's config where the worker reads it (unless already there); the trainer refuses a
// directory that holds a different one, so a changed plan can never mix into an old run.
void prepare_run_dir(const std::string& dir, const RunConfig& cfg);

// The plan's rows as the database stores them.
void register_plan(storage::Database& db, const SweepSpec& spec, const Plan& plan);
// The runs added to the sweep beside its spec (origin "extend": `dlcm sweep extend --apply`), from
// their stored configs, whatever their status: the spec does not generate them, so both launchers
// take them from here, besides the plan's.
std::vector<PlannedRun> added_runs(storage::Database& db, const SweepSpec& spec);

}  // namespace dlcm::sweeps
