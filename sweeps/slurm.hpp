#pragma once
// The Slurm launcher (DESIGN §6): a sweep's runs go out as one `sbatch --array`, task i training
// the run on line i of the submission's manifest. Workers write only their run directories; the
// orchestrator follows the array through sacct (or squeue where accounting is off) and ingests.
//
//   <runs_dir>/slurm/<submission>/submit.sh      the batch script (sbatch reads it from here)
//                                 manifest.tsv   index <TAB> run hash; run dir = <runs_dir>/<hash>
//                                 logs/<i>.log   task i's output, every restart appended
//                                 exit/<i>       task i's worker exit code, once it ended for good
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/central.hpp"
#include "storage/status.hpp"
#include "sweeps/spec.hpp"

namespace dlcm::sweeps {

struct SlurmOptions {
  std::string trainer_binary;     // the trainer the tasks run (default: core's trainer_exe(), dlcm-train)
  std::string partition, time;    // empty: the cluster's defaults
  int cpus_per_task = 1;          // also the worker's thread count
  int gpus_per_task = 0;          // > 0: the worker trains on CUDA
  int max_running = 0;            // array throttle (%K); 0: no limit
  int signal_seconds = 120;       // USR1 this long before the time limit: checkpoint and requeue
  bool resubmit_failed = false;   // only failed runs still under the spec's max_attempts
  bool dry_run = false;           // build the script, submit nothing, write no files
};

struct Submission {
  std::vector<std::string> hashes;  // array task i trains hashes[i]
  std::string dir, script;          // the submission folder and its batch script
  int64_t job_id = 0;               // the array's job id; 0 when nothing was submitted
  int at_attempt_limit = 0;         // failed runs left out: their attempts are used up
};

// Registers the plan, collects what earlier submissions left, then submits every pending run of
// the plan or added to the sweep (added_runs), and every failed one under the attempt limit — or
// with resubmit_failed only the failed ones. Runs queued or running in Slurm are never submitted
// twice. Throws if sbatch refuses.
Submission submit_slurm(const SweepSpec& spec, const Plan& plan, storage::Database& db, const SlurmOptions& opt);

// A sweep's runs as they are now.
struct ObservedRun {
  storage::RunRow run;
  std::optional<storage::SlurmTask> task;  // its latest Slurm task, if ever submitted
  std::string slurm_state;                 // what Slurm says of that task ("" when it does not know it)
  std::optional<storage::Claim> claim;     // who holds it now, if anyone
};
struct Observation {
  std::vector<ObservedRun> runs;
  bool slurm_unreachable = false;  // Slurm did not answer: submitted runs keep their recorded status
  std::vector<std::string> hung;   // collect: each task it cancelled as hung, and why
};

// Ingests every unfinished run whose evidence is final (a completed or diverged result.json; a
// Slurm task that has ended: its exit record, or Slurm's last word on it) and settles those runs,
// ending their Slurm attempts and claims; nothing else is written. Slurm is asked about all live
// tasks in one query; its word (queued, running) is shown in the observation, never stored.
// With hung_after (`sweep collect` passes its --hung-after, 0 for the default rule; submit, sweep run
// and verify pass none and leave running tasks alone), a task Slurm says is RUNNING whose worker has
// been silent longer than hung_limit(*hung_after, its heartbeat) since the task (re)started is
// cancelled (scancel) and its attempt ends `hung`, counted: the run is failed, and submitted again
// (or trained locally) while under max_attempts.
Observation collect(storage::Database& db, const std::string& sweep, std::optional<double> hung_after = std::nullopt);
// The same observation, written nowhere: what `sweep status` shows (db may be read-only).
Observation observe(storage::Database& db, const std::string& sweep);

// ---- parts, exposed for tests ----

// Single-quotes a value for the shell: the one way any value enters a generated script.
std::string shell_quote(const std::string& s);

struct BatchScript {
  std::string job_name, trainer_binary, workdir, runs_dir, submission_dir;
  int tasks = 0;
  SlurmOptions opt;
};
std::string batch_script(const BatchScript& b);

// The state a submitted run is in. result_status: result.json's status ("" if none);
// slurm_state: Slurm's state of the task (nullopt when Slurm no longer knows it);
// exit_code: the task's exit record. Returns queued, running, completed, diverged (from
// result.json only), pending (interrupted or cancelled: resumable) or failed.
storage::RunStatus resolve_state(const std::string& result_status, const std::optional<std::string>& slurm_state,
                                 std::optional<int> exit_code);

// Slurm's word on one array task: its state, and when its current run started (unix seconds; none
// while it waits or where Slurm gives no time).
struct TaskState {
  std::string state;
  std::optional<double> started;
};
// Each array task's, keyed by (array job id, task index), for the given array jobs in one query:
// sacct where accounting exists, else squeue. nullopt: Slurm did not answer.
using TaskStates = std::map<std::pair<int64_t, int64_t>, TaskState>;
std::optional<TaskStates> query_task_states(const std::vector<int64_t>& job_ids);
// When the task whose log (logs/<i>.log) this is last started, in unix seconds by the node's clock:
// the batch script's "<UTC time> task <i> (job ..., restart <k>) on <host>: run <hash>" line.
std::optional<double> task_started_at(const std::string& task_log);
// Parses lines of "JOBID_INDEX|STATE|START" or "JOBID_[1-3,5%2]|STATE|START" (sacct -P, squeue),
// START in Slurm's local "YYYY-MM-DDTHH:MM:SS" or a word (Unknown, N/A) for none.
TaskStates parse_task_states(const std::string& text);

}  // namespace dlcm::sweeps
