#pragma once
// The central study database (default ./dlcm.db): sweeps, runs, their metrics, fits and
// recommendations. Schema versioned with PRAGMA user_version and migrated forward on open.
// Only the orchestrator writes it; runs write their own directories and are ingested from there.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/sqlite.hpp"
#include "storage/status.hpp"

namespace dlcm::storage {

constexpr int kSchemaVersion = 6;

// Opens or creates the database and brings its schema to kSchemaVersion. A file that is not a
// dlcm database (a foreign SQLite file, a newer schema, not SQLite at all) is refused untouched.
Database open_central(const std::string& path);
// Opens an existing dlcm database to read it, changing nothing (no migration, no WAL switch).
Database open_central_readonly(const std::string& path);

// What the planner knows about a run before it trains.
struct RunPlanRow {
  std::string hash, label, config, run_dir, arch;
  double budget = 0, N = 0, P = 0, R = 1, D = 0, C = 0, flops_per_token = 0;
  int64_t steps = 0;
};

struct RunRow {
  std::string hash, sweep, label, arch, status, run_dir, host, config;
  std::string origin = "plan";  // "plan" or "extend" (sweep_runs.origin)
  double budget = 0, N = 0, P = 0, R = 1, D = 0, C = 0, flops_per_token = 0;
  int64_t steps = 0, steps_done = 0, attempts = 0;
  std::optional<double> last_loss, final_train_loss, final_val_loss, val_bpb, realised_ratio;
  // result.json: tokens trained, and tokens/concepts over every training step (run_mean_ratio), the
  // ratio its compute was spent at; realised_ratio above is that of the validation boundaries;
  // wall_seconds of the trainer's last session.
  std::optional<double> tokens, train_ratio, wall_seconds;
  std::optional<double> epochs;  // result.json: tokens / the corpus's training tokens
  std::string build;             // result.json's `build` (JSON text): the binary that trained it; empty if unknown
  std::string last_reason;       // how its latest ended attempt ended (attempts.reason); empty if none recorded
};

// Registers the sweep and its runs; runs already known keep their status, results and origin.
// origin: "plan" for runs the spec expands to, "extend" for runs added to it (dlcm sweep extend).
void register_sweep(Database& db, const std::string& name, const std::string& spec_text,
                    const std::vector<RunPlanRow>& runs, const std::string& origin = "plan");
std::vector<RunRow> sweep_runs(Database& db, const std::string& sweep);
bool sweep_exists(Database& db, const std::string& sweep);
// The spec text the sweep was registered with; throws naming the database when there is no such sweep.
std::string sweep_spec(Database& db, const std::string& sweep);
// Opens an existing database holding this sweep, read-only (no -wal/-shm files appear) or for
// writing; throws naming the file when there is no database or no such sweep.
Database open_sweep(const std::string& path, const std::string& sweep, bool writable = false);

// Sets a status without touching results (tests, and the settling of statuses).
void set_status(Database& db, const std::string& hash, const std::string& status);

// ---- claims: who trains a run (schema 6) ----
// A run is claimed before it starts and released when its attempt ends: an orchestrator skips
// runs another live holder claimed, and takes over (without spending an attempt) a claim whose
// holder is gone. Deciding whether a holder is gone (its pid, its heartbeat, Slurm) is the
// launchers' business (sweeps::holder_gone); here claims are rows changed under BEGIN IMMEDIATE.
struct Holder {
  std::string launcher = "local";  // local: an orchestrator on `host`; slurm: a submission's array task
  std::string host;                // local, and a Slurm submission not yet recorded: the submitting host
  int64_t pid = 0;                 // the orchestrator's (or submitter's) process
  std::string slurm_task;          // slurm: JOBID_INDEX once sbatch accepted it
  bool operator==(const Holder&) const = default;
};
// "local HOST:PID", "slurm task JOBID_INDEX" or "slurm submission HOST:PID": how status and
// progress lines name a holder.
std::string describe(const Holder& h);

struct Claim {
  std::string hash;
  Holder holder;
  std::string claimed_at;  // UTC
  double heartbeat = 0;    // unix seconds of the holder's last refresh
  int64_t attempt = 0;     // the attempt it runs (attempts.n); 0 before one started
};
// Claims the run for `me` when nobody holds it; false when someone does.
bool claim_run(Database& db, const std::string& hash, const Holder& me);
// Takes over `stale` (whose holder is gone) only if it is still that claim (a compare-and-swap:
// of two orchestrators taking over one claim, one wins). Its open attempt is the taker's to end.
bool take_over_claim(Database& db, const Claim& stale, const Holder& me);
// Drops the run's claim if `me` holds it.
void release_claim(Database& db, const std::string& hash, const Holder& me);
// The holder is alive: stamps the heartbeat of every claim it holds.
void refresh_claims(Database& db, const Holder& me);
// The sweep's claims by run hash (none before schema 6).
std::map<std::string, Claim> sweep_claims(Database& db, const std::string& sweep);

// ---- attempts: each real try of a run (schema 6) ----
struct Attempt {
  int64_t n = 0;  // 1, 2, ... per run
  Holder holder;
  std::string started_at, ended_at;  // UTC; ended_at empty while it runs
  std::optional<int64_t> exit_code;
  std::string reason, detail;  // reason: an AttemptEnd's word (status.hpp)
  bool counted = true;         // false: not a try of the run (interrupted, holder gone, directory busy)
};
// The holder starts training the run: status `status` (running, or submitted to Slurm), one more
// attempt, an attempt row, the holder's claim pointed at it. Returns the attempt's number.
int64_t begin_attempt(Database& db, const std::string& hash, const Holder& holder,
                      RunStatus status = RunStatus::running);
// Ends attempt n: its exit, reason and detail; `counted` false gives the attempt back (runs.attempts
// goes down). `status`, when not empty, becomes the run's status unless it is already final
// (completed or diverged, from its run directory). One transaction.
void end_attempt(Database& db, const std::string& hash, int64_t n, std::optional<int64_t> exit_code,
                 const std::string& reason, const std::string& detail, bool counted, const std::string& status);
// The run's attempts, oldest first (none before schema 6).
std::vector<Attempt> attempt_history(Database& db, const std::string& hash);

// Reads a run directory (result.json, metrics.sqlite) into the database. Idempotent: ingesting
// the same directory twice leaves the same rows. Returns the status found ("" if nothing yet).
// Only a final result (completed, diverged) changes the run's status: what an unfinished run is
// (pending, running, failed) is its holder's to say.
std::string ingest_run_dir(Database& db, const std::string& hash, const std::string& run_dir);

// One array task of a Slurm submission: which run it trains and where its submission lives.
struct SlurmTask {
  int64_t job_id = 0, array_index = 0, attempt = 0;
  std::string submission_dir;
};
// Records an `sbatch --array` submission: task i trains hashes[i]. Each run becomes `submitted`
// with one more attempt, and its claim (taken by `submitter` before sbatch) passes to its task, in
// the same transaction.
void record_slurm_submission(Database& db, const std::string& sweep, int64_t job_id,
                             const std::string& submission_dir, const std::vector<std::string>& hashes,
                             const Holder& submitter);
// Each run's most recent task (by run hash); runs never submitted are absent.
std::map<std::string, SlurmTask> latest_slurm_tasks(Database& db, const std::string& sweep);

// Stores a fit's JSON output; returns its id.
int64_t store_fit(Database& db, const std::string& sweep, const std::string& law, const std::string& result_json);

// A stored JSON result (a μP study): its id, name, creation time and text.
struct StoredResult {
  int64_t id = 0;
  std::string name, created_at, result;
};

// μP studies: kind "coord-check" or "lr-transfer"; result is the command's JSON output.
int64_t store_mup_study(Database& db, const std::string& kind, const std::string& name,
                        const std::string& result_json);
// The newest study of this kind (of this name, when name is not empty).
std::optional<StoredResult> latest_mup_study(Database& db, const std::string& kind, const std::string& name = "");

// Every study of this kind, newest first (a coord-check per parametrisation, say).
std::vector<StoredResult> mup_studies(Database& db, const std::string& kind);

// A stored fit: name holds its sweep, plus the law.
struct StoredFit {
  int64_t id = 0;
  std::string sweep, law, created_at, result;
};
std::optional<StoredFit> load_fit(Database& db, int64_t id);

// A recommendation's JSON output (dlcm recommend); sweep may be empty when fitted from a stored fit.
int64_t store_recommendation(Database& db, const std::string& sweep, std::optional<int64_t> fit_id, double budget,
                             const std::string& result_json);

struct StoredRecommendation {
  int64_t id = 0;
  std::string sweep;
  std::optional<int64_t> fit_id;
  double budget = 0;
  std::string created_at, result;
};
// The sweep's recommendations, smallest budget first, newest first within a budget.
std::vector<StoredRecommendation> recommendations(Database& db, const std::string& sweep);

// A `dlcm verify` result (its JSON): the run `hash` trained to test the sweep's recommendation at `budget`.
int64_t store_verification(Database& db, const std::string& sweep, double budget, const std::string& hash,
                           const std::string& result_json);
struct StoredVerification {
  int64_t id = 0;
  std::string sweep;
  double budget = 0;
  std::string hash, created_at, result;
};
// The sweep's verifications, newest first.
std::vector<StoredVerification> verifications(Database& db, const std::string& sweep);

// One validation metric (e.g. "ratio", "loss") per run and domain of the sweep, at each run's last
// evaluation: what the report's tokens-per-concept table reads.
struct DomainMetric {
  std::string hash, domain;
  double value = 0;
};
std::vector<DomainMetric> final_val_metrics(Database& db, const std::string& sweep, const std::string& name);

// One metric's series per run of the sweep (split, domain "all"), by hash, steps increasing: what
// the report's training curves read.
struct MetricPoint {
  int64_t step = 0;
  double value = 0;
};
std::map<std::string, std::vector<MetricPoint>> metric_series(Database& db, const std::string& sweep,
                                                              const std::string& split, const std::string& name);

}  // namespace dlcm::storage
