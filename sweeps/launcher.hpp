#pragma once
// The local launcher (DESIGN §6): runs a sweep's pending runs as `dlcm train` child processes on
// this machine, splitting the cores, ingesting each run directory into the central database.
#include <string>

#include "storage/sqlite.hpp"
#include "sweeps/spec.hpp"

namespace dlcm::sweeps {

struct LocalOptions {
  std::string dlcm_binary;  // the `dlcm` executable the workers run (default: this process's)
  int workers = 0;          // 0: one per core
  int threads = 0;          // threads per worker; 0: cores / workers
  bool quiet = false;
};

struct SweepOutcome {
  int total = 0, completed = 0, diverged = 0, failed = 0, pending = 0, skipped = 0;
  bool interrupted = false;
};

// Registers the sweep's plan in the database, then trains every run that is not finished.
// Re-running skips completed and diverged runs and resumes the rest from their checkpoints.
SweepOutcome run_local(const SweepSpec& spec, const Plan& plan, storage::Database& db, const LocalOptions& opt);

// Writes the run's config where the worker reads it (unless already there); the trainer refuses a
// directory that holds a different one, so a changed plan can never mix into an old run.
void prepare_run_dir(const std::string& dir, const RunConfig& cfg);
// This process's executable: the `dlcm` that workers run.
std::string self_exe();

// The plan's rows as the database stores them.
void register_plan(storage::Database& db, const SweepSpec& spec, const Plan& plan);

}  // namespace dlcm::sweeps
