#pragma once
// The central study database (default ./dlcm.db): sweeps, runs, their metrics, fits and
// recommendations. Schema versioned with PRAGMA user_version and migrated forward on open.
// Only the orchestrator writes it; runs write their own directories and are ingested from there.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/sqlite.hpp"

namespace dlcm::storage {

constexpr int kSchemaVersion = 3;

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
  double budget = 0, N = 0, P = 0, R = 1, D = 0, C = 0, flops_per_token = 0;
  int64_t steps = 0, steps_done = 0, attempts = 0;
  std::optional<double> last_loss, final_train_loss, final_val_loss, val_bpb, realised_ratio;
};

// Registers the sweep and its runs; runs already known keep their status and results.
void register_sweep(Database& db, const std::string& name, const std::string& spec_text,
                    const std::vector<RunPlanRow>& runs);
std::vector<RunRow> sweep_runs(Database& db, const std::string& sweep);
bool sweep_exists(Database& db, const std::string& sweep);

// A worker is about to train this run: status running, one more attempt, host and start time.
void mark_started(Database& db, const std::string& hash, const std::string& host);
// Sets a status without touching results (pending after an interruption, failed on a crash).
void set_status(Database& db, const std::string& hash, const std::string& status);

// Reads a run directory (result.json, metrics.sqlite) into the database. Idempotent: ingesting
// the same directory twice leaves the same rows. Returns the status found ("" if nothing yet).
std::string ingest_run_dir(Database& db, const std::string& hash, const std::string& run_dir);

// What a scaling-law fit reads of a sweep's run: finished runs only, with the compute spent.
struct FitPoint {
  std::string hash, status;  // completed or diverged
  double N = 0, P = 0, R = 1, D = 0, C = 0, loss = 0;
};
// Completed and diverged runs of the sweep (the caller excludes and reports the diverged).
// R is the run's mean realised training ratio (result.json); C is the compute the run was planned
// at, so runs of one budget stay together even when their realised ratios differ from the target.
std::vector<FitPoint> fit_points(Database& db, const std::string& sweep);
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

// A recommendation's JSON output (dlcm recommend); sweep may be empty when fitted from a stored fit.
int64_t store_recommendation(Database& db, const std::string& sweep, std::optional<int64_t> fit_id, double budget,
                             const std::string& result_json);

}  // namespace dlcm::storage
