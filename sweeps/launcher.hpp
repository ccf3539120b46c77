#pragma once
// The local launcher (DESIGN §6): runs a sweep's pending runs as `dlcm train` child processes on
// this machine, splitting the cores, ingesting each run directory into the central database.
#include <string>
#include <vector>

#include "storage/sqlite.hpp"
#include "sweeps/spec.hpp"

namespace dlcm::sweeps {

struct LocalOptions {
  std::string dlcm_binary;  // the `dlcm` executable the workers run (default: this process's)
  int workers = 0;          // 0: one per core (cpu), or GPUs × runs_per_gpu (cuda)
  int threads = 0;          // threads per worker; 0: cores / workers
  bool quiet = false;
  std::string device = "cpu";  // cpu | cuda: what the workers train on
  int runs_per_gpu = 1;        // cuda: proxies too small to fill a GPU share one, K at a time
};

// The GPUs workers may use, as CUDA_VISIBLE_DEVICES names them: that variable when set, else every
// GPU the NVIDIA driver lists under proc_gpus (/proc/driver/nvidia/gpus).
std::vector<std::string> visible_gpus(const char* cuda_visible_devices,
                                      const std::string& proc_gpus = "/proc/driver/nvidia/gpus");
// The GPU the next run goes to: the least loaded one with fewer than runs_per_gpu runs (lowest
// index on ties), or -1 when all are full.
int pick_gpu(const std::vector<int>& running_per_gpu, int runs_per_gpu);

struct SweepOutcome {
  int total = 0, completed = 0, diverged = 0, failed = 0, pending = 0, skipped = 0;
  bool interrupted = false;
};

// Registers the sweep's plan in the database, then trains every run that is not finished: the
// plan's and those added to the sweep (added_runs). Re-running skips completed and diverged runs
// and resumes the rest from their checkpoints.
SweepOutcome run_local(const SweepSpec& spec, const Plan& plan, storage::Database& db, const LocalOptions& opt);

// Writes the run's config where the worker reads it (unless already there); the trainer refuses a
// directory that holds a different one, so a changed plan can never mix into an old run.
void prepare_run_dir(const std::string& dir, const RunConfig& cfg);
// This process's executable: the `dlcm` that workers run.
std::string self_exe();

// The plan's rows as the database stores them.
void register_plan(storage::Database& db, const SweepSpec& spec, const Plan& plan);
// The runs added to the sweep beside its spec (origin "extend": `dlcm sweep extend --apply`), from
// their stored configs, whatever their status: the spec does not generate them, so both launchers
// take them from here, besides the plan's.
std::vector<PlannedRun> added_runs(storage::Database& db, const SweepSpec& spec);

}  // namespace dlcm::sweeps
