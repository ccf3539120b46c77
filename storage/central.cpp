#include "storage/central.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "storage/run_metrics.hpp"

namespace fs = std::filesystem;

namespace dlcm::storage {
namespace {

// Each entry migrates the schema from version i to i + 1.
const char* const kMigrations[] = {
    R"(CREATE TABLE dlcm_meta(key TEXT PRIMARY KEY, value TEXT);
       INSERT INTO dlcm_meta VALUES('application', 'dlcm');
       CREATE TABLE sweeps(name TEXT PRIMARY KEY, spec TEXT NOT NULL, created_at TEXT NOT NULL);
       CREATE TABLE runs(
         hash TEXT PRIMARY KEY, label TEXT, arch TEXT, config TEXT NOT NULL, run_dir TEXT NOT NULL,
         N REAL, P REAL, R REAL, D REAL, C REAL, flops_per_token REAL, steps INTEGER,
         status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
         host TEXT, created_at TEXT, started_at TEXT, finished_at TEXT,
         steps_done INTEGER NOT NULL DEFAULT 0, last_loss REAL,
         final_train_loss REAL, final_val_loss REAL, val_bpb REAL, realised_ratio REAL, result TEXT);
       CREATE TABLE sweep_runs(sweep TEXT NOT NULL REFERENCES sweeps(name), hash TEXT NOT NULL REFERENCES runs(hash),
         budget REAL NOT NULL, PRIMARY KEY(sweep, hash));
       CREATE TABLE metrics(hash TEXT NOT NULL, step INTEGER NOT NULL, split TEXT NOT NULL, domain TEXT NOT NULL,
         name TEXT NOT NULL, value REAL, PRIMARY KEY(hash, step, split, domain, name)) WITHOUT ROWID;)",
    R"(CREATE TABLE fits(id INTEGER PRIMARY KEY AUTOINCREMENT, sweep TEXT NOT NULL, law TEXT NOT NULL,
         created_at TEXT NOT NULL, result TEXT NOT NULL);)",
    R"(CREATE TABLE mup_studies(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, name TEXT NOT NULL,
         created_at TEXT NOT NULL, result TEXT NOT NULL);
       CREATE TABLE recommendations(id INTEGER PRIMARY KEY AUTOINCREMENT, sweep TEXT, fit_id INTEGER,
         budget REAL NOT NULL, created_at TEXT NOT NULL, result TEXT NOT NULL);)",
    R"(CREATE TABLE slurm_tasks(job_id INTEGER NOT NULL, array_index INTEGER NOT NULL, sweep TEXT NOT NULL,
         hash TEXT NOT NULL, attempt INTEGER NOT NULL, submission_dir TEXT NOT NULL, submitted_at TEXT NOT NULL,
         PRIMARY KEY(job_id, array_index));
       CREATE INDEX slurm_tasks_by_run ON slurm_tasks(sweep, hash);)",
    // origin: 'plan' (expanded from the spec) or 'extend' (added by `dlcm sweep extend --apply`),
    // so a launcher trains added runs the spec does not generate. verifications: `dlcm verify`.
    R"(ALTER TABLE sweep_runs ADD COLUMN origin TEXT NOT NULL DEFAULT 'plan';
       CREATE TABLE verifications(id INTEGER PRIMARY KEY AUTOINCREMENT, sweep TEXT NOT NULL, budget REAL NOT NULL,
         hash TEXT NOT NULL, created_at TEXT NOT NULL, result TEXT NOT NULL);)",
    // claims: who trains a run right now (one row per run at most), refreshed by its holder; runs
    // Slurm still has are claimed by their tasks. attempts: every try, with how it ended. Runs tried
    // before this version keep their count in runs.attempts and have no rows here.
    R"(CREATE TABLE claims(hash TEXT PRIMARY KEY, launcher TEXT NOT NULL, host TEXT NOT NULL DEFAULT '',
         pid INTEGER NOT NULL DEFAULT 0, slurm_task TEXT NOT NULL DEFAULT '', claimed_at TEXT NOT NULL,
         heartbeat REAL NOT NULL, attempt INTEGER NOT NULL DEFAULT 0);
       CREATE TABLE attempts(hash TEXT NOT NULL, n INTEGER NOT NULL, launcher TEXT NOT NULL,
         host TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL DEFAULT 0, slurm_task TEXT NOT NULL DEFAULT '',
         started_at TEXT NOT NULL, ended_at TEXT, exit_code INTEGER, reason TEXT, detail TEXT,
         counted INTEGER NOT NULL DEFAULT 1, PRIMARY KEY(hash, n));
       INSERT INTO claims(hash, launcher, slurm_task, claimed_at, heartbeat, attempt)
         SELECT t.hash, 'slurm', t.job_id || '_' || t.array_index, t.submitted_at, 0, t.attempt
         FROM slurm_tasks t JOIN runs r ON r.hash = t.hash
         WHERE r.status IN ('submitted', 'queued', 'running')
           AND t.rowid = (SELECT max(x.rowid) FROM slurm_tasks x WHERE x.hash = t.hash);)",
};

std::string now_utc() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<double> opt_double(const Statement& st, int i) {
  if (st.column_null(i)) return std::nullopt;
  return st.column_double(i);
}

Value json_num(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) return nullptr;
  return j[key].get<double>();
}

// Refuses a file that is not a dlcm database we can read, before anything is written to it. Any
// SQLite failure on the way (a truncated or damaged file) is reported as one line naming it.
int check_central(Database& db, bool existed) {
  const std::string& path = db.path();
  try {
    const int version = db.user_version();
    Statement tables(db.handle(), "SELECT count(*) FROM sqlite_master");
    tables.step();
    if (existed && version == 0 && tables.column_int(0) > 0)
      throw std::runtime_error(fmt::format("{}: not a dlcm database (it has other tables)", path));
    if (version > kSchemaVersion)
      throw std::runtime_error(fmt::format("{}: schema version {} is newer than this dlcm ({})", path, version,
                                           kSchemaVersion));
    if (version > 0) {
      Statement st(db.handle(), "SELECT value FROM dlcm_meta WHERE key = 'application'");
      if (!st.step() || st.column_text(0) != "dlcm")
        throw std::runtime_error(fmt::format("{}: not a dlcm database", path));
      // Reads every page: a truncated or damaged file fails here, not halfway through a write.
      Statement check(db.handle(), "PRAGMA quick_check");
      if (!check.step() || check.column_text(0) != "ok") {
        std::string why = check.column_text(0);
        std::replace(why.begin(), why.end(), '\n', ' ');
        throw std::runtime_error(fmt::format("{}: damaged database: {}", path, why));
      }
    }
    return version;
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    if (what.rfind(path + ":", 0) == 0) throw;
    throw std::runtime_error(fmt::format("{}: not a usable dlcm database ({})", path, what));
  }
}

}  // namespace

Database open_central_readonly(const std::string& path) {
  if (!fs::exists(path)) throw std::runtime_error(fmt::format("{}: database not found", path));
  Database db(path, false, true);
  if (check_central(db, true) == 0) throw std::runtime_error(fmt::format("{}: not a dlcm database (empty)", path));
  return db;
}

Database open_central(const std::string& path) {
  const bool existed = fs::exists(path);
  Database db(path);
  const int version = check_central(db, existed);
  db.enable_wal();
  for (int v = version; v < kSchemaVersion; ++v) {
    WriteTransaction tx(db);
    if (db.user_version() > v) continue;  // another process opening it at the same time got here first
    db.exec(kMigrations[v]);
    db.set_user_version(v + 1);
    tx.commit();
  }
  return db;
}

Database open_sweep(const std::string& path, const std::string& sweep, bool writable) {
  // open_central would create a missing file; open_central_readonly refuses it itself.
  if (writable && !fs::exists(path)) throw std::runtime_error(fmt::format("{}: database not found", path));
  auto db = writable ? open_central(path) : open_central_readonly(path);
  if (!sweep_exists(db, sweep)) throw std::runtime_error(fmt::format("{}: no sweep named \"{}\"", path, sweep));
  return db;
}

bool sweep_exists(Database& db, const std::string& sweep) {
  Statement st(db.handle(), "SELECT 1 FROM sweeps WHERE name = ?");
  st.bind(1, sweep);
  return st.step();
}

std::string sweep_spec(Database& db, const std::string& sweep) {
  Statement st(db.handle(), "SELECT spec FROM sweeps WHERE name = ?");
  st.bind(1, sweep);
  if (!st.step()) throw std::runtime_error(fmt::format("{}: no sweep named \"{}\"", db.path(), sweep));
  return st.column_text(0);
}

void register_sweep(Database& db, const std::string& name, const std::string& spec_text,
                    const std::vector<RunPlanRow>& runs, const std::string& origin) {
  WriteTransaction tx(db);
  const std::string now = now_utc();
  {
    Statement st(db.handle(),
                 "INSERT INTO sweeps(name, spec, created_at) VALUES(?, ?, ?) "
                 "ON CONFLICT(name) DO UPDATE SET spec = excluded.spec");
    st.bind(1, name).bind(2, spec_text).bind(3, now);
    st.step();
  }
  Statement run(db.handle(),
                "INSERT OR IGNORE INTO runs(hash, label, arch, config, run_dir, N, P, R, D, C, flops_per_token, steps, "
                "created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  Statement link(db.handle(), "INSERT OR IGNORE INTO sweep_runs(sweep, hash, budget, origin) VALUES(?, ?, ?, ?)");
  for (const auto& r : runs) {
    run.bind(1, r.hash).bind(2, r.label).bind(3, r.arch).bind(4, r.config).bind(5, r.run_dir).bind(6, r.N);
    run.bind(7, r.P).bind(8, r.R).bind(9, r.D).bind(10, r.C).bind(11, r.flops_per_token).bind(12, r.steps);
    run.bind(13, now);
    run.step();
    run.reset();
    link.bind(1, name).bind(2, r.hash).bind(3, r.budget).bind(4, origin);
    link.step();
    link.reset();
  }
  tx.commit();
}

std::vector<RunRow> sweep_runs(Database& db, const std::string& sweep) {
  // A database opened read-only is not migrated: before schema 5 every run came from its plan.
  const int version = db.user_version();
  const std::string origin = version >= 5 ? "s.origin" : "'plan'";
  // Before schema 6 no attempt history exists.
  const std::string reason = version >= 6 ? "coalesce((SELECT a.reason FROM attempts a WHERE a.hash = r.hash AND "
                                            "a.ended_at IS NOT NULL ORDER BY a.n DESC LIMIT 1), '')"
                                          : "''";
  Statement st(db.handle(),
               "SELECT r.hash, s.sweep, r.label, r.arch, r.status, r.run_dir, coalesce(r.host, ''), r.config, "
               "s.budget, r.N, r.P, r.R, r.D, r.C, r.flops_per_token, r.steps, r.steps_done, r.attempts, "
               "r.last_loss, r.final_train_loss, r.final_val_loss, r.val_bpb, r.realised_ratio, coalesce(r.result, '{}'), " +
                   origin + ", " + reason + " FROM sweep_runs s JOIN runs r ON r.hash = s.hash WHERE s.sweep = ? ORDER BY s.budget, r.label");
  st.bind(1, sweep);
  std::vector<RunRow> out;
  while (st.step()) {
    RunRow r;
    r.hash = st.column_text(0);
    r.sweep = st.column_text(1);
    r.label = st.column_text(2);
    r.arch = st.column_text(3);
    r.status = st.column_text(4);
    r.run_dir = st.column_text(5);
    r.host = st.column_text(6);
    r.config = st.column_text(7);
    r.budget = st.column_double(8);
    r.N = st.column_double(9);
    r.P = st.column_double(10);
    r.R = st.column_double(11);
    r.D = st.column_double(12);
    r.C = st.column_double(13);
    r.flops_per_token = st.column_double(14);
    r.steps = st.column_int(15);
    r.steps_done = st.column_int(16);
    r.attempts = st.column_int(17);
    r.last_loss = opt_double(st, 18);
    r.final_train_loss = opt_double(st, 19);
    r.final_val_loss = opt_double(st, 20);
    r.val_bpb = opt_double(st, 21);
    r.realised_ratio = opt_double(st, 22);
    r.origin = st.column_text(24);
    r.last_reason = st.column_text(25);
    const auto result = nlohmann::json::parse(st.column_text(23), nullptr, false);
    if (result.is_object()) {
      if (result.contains("tokens") && result["tokens"].is_number()) r.tokens = result["tokens"].get<double>();
      if (result.contains("epochs") && result["epochs"].is_number()) r.epochs = result["epochs"].get<double>();
      if (result.contains("run_mean_ratio") && result["run_mean_ratio"].is_number())
        r.train_ratio = result["run_mean_ratio"].get<double>();
      if (result.contains("wall_seconds") && result["wall_seconds"].is_number())
        r.wall_seconds = result["wall_seconds"].get<double>();
      if (result.contains("build") && result["build"].is_object()) r.build = result["build"].dump();
    }
    out.push_back(std::move(r));
  }
  return out;
}

void set_status(Database& db, const std::string& hash, const std::string& status) {
  WriteTransaction tx(db);
  Statement st(db.handle(), "UPDATE runs SET status = ? WHERE hash = ?");
  st.bind(1, status).bind(2, hash);
  st.step();
  tx.commit();
}

std::string describe(const Holder& h) {
  if (h.launcher == "slurm")  // a task, or a submission between its claim and sbatch's answer
    return h.slurm_task.empty() ? fmt::format("slurm submission {}:{}", h.host, h.pid) : "slurm task " + h.slurm_task;
  return fmt::format("{} {}:{}", h.launcher, h.host, h.pid);
}

namespace {

Holder holder_of(const Statement& st, int first) {
  return {st.column_text(first), st.column_text(first + 1), st.column_int(first + 2), st.column_text(first + 3)};
}

// Attempt n of the run starts (inside the caller's transaction).
int64_t begin_attempt_in(Database& db, const std::string& hash, const Holder& h, RunStatus status,
                         const std::string& now) {
  // Numbered past every earlier attempt, recorded or (before schema 6) only counted.
  Statement next(db.handle(),
                 "SELECT max(coalesce((SELECT max(n) FROM attempts WHERE hash = ?1), 0), attempts) + 1 FROM runs "
                 "WHERE hash = ?1");
  next.bind(1, hash);
  if (!next.step()) throw std::runtime_error(fmt::format("run {} is not in the database", hash));
  const int64_t n = next.column_int(0);
  Statement run(db.handle(), "UPDATE runs SET status = ?, attempts = attempts + 1, host = ?, started_at = ? WHERE hash = ?");
  run.bind(1, to_string(status)).bind(2, h.host.empty() ? Value(nullptr) : Value(h.host)).bind(3, now).bind(4, hash);
  run.step();
  Statement add(db.handle(), "INSERT INTO attempts(hash, n, launcher, host, pid, slurm_task, started_at) "
                             "VALUES(?, ?, ?, ?, ?, ?, ?)");
  add.bind(1, hash).bind(2, n).bind(3, h.launcher).bind(4, h.host).bind(5, h.pid).bind(6, h.slurm_task).bind(7, now);
  add.step();
  Statement claim(db.handle(), "UPDATE claims SET attempt = ? WHERE hash = ?");
  claim.bind(1, n).bind(2, hash);
  claim.step();
  return n;
}

void end_attempt_in(Database& db, const std::string& hash, int64_t n, std::optional<int64_t> exit_code,
                    const std::string& reason, const std::string& detail, bool counted, const std::string& status) {
  // Only an open attempt ends, once: a second report of the same end changes nothing.
  Statement end(db.handle(), "UPDATE attempts SET ended_at = ?, exit_code = ?, reason = ?, detail = ?, counted = ? "
                             "WHERE hash = ? AND n = ? AND ended_at IS NULL");
  end.bind(1, now_utc()).bind(2, exit_code ? Value(*exit_code) : Value(nullptr)).bind(3, reason).bind(4, detail);
  end.bind(5, int64_t{counted}).bind(6, hash).bind(7, n);
  end.step();
  const bool ended = sqlite3_changes(db.handle()) > 0;
  if (ended && !counted) {
    Statement back(db.handle(), "UPDATE runs SET attempts = max(attempts - 1, 0) WHERE hash = ?");
    back.bind(1, hash);
    back.step();
  }
  if (!status.empty()) {
    Statement st(db.handle(), "UPDATE runs SET status = ?1 WHERE hash = ?2 AND status NOT IN (?3, ?4)");  // a final one stays
    st.bind(1, status).bind(2, hash).bind(3, to_string(RunStatus::completed)).bind(4, to_string(RunStatus::diverged));
    st.step();
  }
}

}  // namespace

bool claim_run(Database& db, const std::string& hash, const Holder& me) {
  WriteTransaction tx(db);
  const double now = now_unix();
  Statement st(db.handle(), "INSERT INTO claims(hash, launcher, host, pid, slurm_task, claimed_at, heartbeat) "
                            "VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(hash) DO NOTHING");
  st.bind(1, hash).bind(2, me.launcher).bind(3, me.host).bind(4, me.pid).bind(5, me.slurm_task).bind(6, now_utc());
  st.bind(7, now);
  st.step();
  const bool won = sqlite3_changes(db.handle()) > 0;
  tx.commit();
  return won;
}

bool take_over_claim(Database& db, const Claim& stale, const Holder& me) {
  WriteTransaction tx(db);
  Statement st(db.handle(), "UPDATE claims SET launcher = ?, host = ?, pid = ?, slurm_task = ?, claimed_at = ?, "
                            "heartbeat = ?, attempt = 0 WHERE hash = ? AND launcher = ? AND host = ? AND pid = ? AND "
                            "slurm_task = ? AND claimed_at = ?");
  st.bind(1, me.launcher).bind(2, me.host).bind(3, me.pid).bind(4, me.slurm_task).bind(5, now_utc());
  st.bind(6, now_unix()).bind(7, stale.hash).bind(8, stale.holder.launcher).bind(9, stale.holder.host);
  st.bind(10, stale.holder.pid).bind(11, stale.holder.slurm_task).bind(12, stale.claimed_at);
  st.step();
  const bool won = sqlite3_changes(db.handle()) > 0;
  tx.commit();
  return won;
}

void release_claim(Database& db, const std::string& hash, const Holder& me) {
  WriteTransaction tx(db);
  Statement st(db.handle(), "DELETE FROM claims WHERE hash = ? AND launcher = ? AND host = ? AND pid = ? AND slurm_task = ?");
  st.bind(1, hash).bind(2, me.launcher).bind(3, me.host).bind(4, me.pid).bind(5, me.slurm_task);
  st.step();
  tx.commit();
}

void refresh_claims(Database& db, const Holder& me) {
  WriteTransaction tx(db);
  Statement st(db.handle(), "UPDATE claims SET heartbeat = ? WHERE launcher = ? AND host = ? AND pid = ? AND slurm_task = ?");
  st.bind(1, now_unix()).bind(2, me.launcher).bind(3, me.host).bind(4, me.pid).bind(5, me.slurm_task);
  st.step();
  tx.commit();
}

std::map<std::string, Claim> sweep_claims(Database& db, const std::string& sweep) {
  std::map<std::string, Claim> out;
  if (db.user_version() < 6) return out;
  Statement st(db.handle(), "SELECT c.hash, c.launcher, c.host, c.pid, c.slurm_task, c.claimed_at, c.heartbeat, c.attempt "
                            "FROM claims c JOIN sweep_runs s ON s.hash = c.hash WHERE s.sweep = ?");
  st.bind(1, sweep);
  while (st.step())
    out[st.column_text(0)] = {st.column_text(0), holder_of(st, 1), st.column_text(5), st.column_double(6), st.column_int(7)};
  return out;
}

int64_t begin_attempt(Database& db, const std::string& hash, const Holder& holder, RunStatus status) {
  WriteTransaction tx(db);
  const int64_t n = begin_attempt_in(db, hash, holder, status, now_utc());
  tx.commit();
  return n;
}

void end_attempt(Database& db, const std::string& hash, int64_t n, std::optional<int64_t> exit_code,
                 const std::string& reason, const std::string& detail, bool counted, const std::string& status) {
  WriteTransaction tx(db);
  end_attempt_in(db, hash, n, exit_code, reason, detail, counted, status);
  tx.commit();
}

std::vector<Attempt> attempt_history(Database& db, const std::string& hash) {
  std::vector<Attempt> out;
  if (db.user_version() < 6) return out;
  Statement st(db.handle(), "SELECT n, launcher, host, pid, slurm_task, started_at, coalesce(ended_at, ''), exit_code, "
                            "coalesce(reason, ''), coalesce(detail, ''), counted FROM attempts WHERE hash = ? ORDER BY n");
  st.bind(1, hash);
  while (st.step()) {
    Attempt a;
    a.n = st.column_int(0);
    a.holder = holder_of(st, 1);
    a.started_at = st.column_text(5);
    a.ended_at = st.column_text(6);
    if (!st.column_null(7)) a.exit_code = st.column_int(7);
    a.reason = st.column_text(8);
    a.detail = st.column_text(9);
    a.counted = st.column_int(10) != 0;
    out.push_back(std::move(a));
  }
  return out;
}

std::string ingest_run_dir(Database& db, const std::string& hash, const std::string& run_dir) {
  const fs::path dir(run_dir);
  std::vector<MetricRow> metrics;
  if (fs::exists(dir / "metrics.sqlite")) {
    auto m = open_run_metrics((dir / "metrics.sqlite").string());
    metrics = read_metrics(m);
  }
  nlohmann::json result;
  if (fs::exists(dir / "result.json")) {
    std::ifstream in(dir / "result.json");
    try {
      result = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}: unreadable result: {}", (dir / "result.json").string(), e.what()));
    }
  }
  int64_t steps_done = 0;
  Value last_loss = nullptr;
  for (const auto& r : metrics)
    if (r.split == "train" && r.domain == "all" && r.name == "loss" && r.step >= steps_done) {
      steps_done = r.step;
      last_loss = r.value;
    }
  WriteTransaction tx(db);
  {
    // The run directory is the truth: rows of steps a resumed run recomputed or dropped go too.
    Statement clear(db.handle(), "DELETE FROM metrics WHERE hash = ?");
    clear.bind(1, hash);
    clear.step();
    Statement st(db.handle(),
                 "INSERT OR REPLACE INTO metrics(hash, step, split, domain, name, value) VALUES(?, ?, ?, ?, ?, ?)");
    for (const auto& r : metrics) {
      st.bind(1, hash).bind(2, r.step).bind(3, r.split).bind(4, r.domain).bind(5, r.name).bind(6, r.value);
      st.step();
      st.reset();
    }
  }
  std::string status;
  if (!result.is_null()) {
    status = result.value("status", "");
    const bool final = is_final(status);
    Statement st(db.handle(),
                 "UPDATE runs SET status = coalesce(?, status), steps_done = ?, last_loss = ?, final_train_loss = ?, "
                 "final_val_loss = ?, val_bpb = ?, realised_ratio = ?, result = ?, finished_at = coalesce(?, finished_at) "
                 "WHERE hash = ?");
    st.bind(1, final ? Value(status) : Value(nullptr)).bind(2, result.value("steps", steps_done)).bind(3, last_loss);
    st.bind(4, json_num(result, "final_train_loss")).bind(5, json_num(result, "final_val_loss"));
    st.bind(6, json_num(result, "val_bpb")).bind(7, json_num(result, "realised_ratio")).bind(8, result.dump());
    st.bind(9, final ? Value(now_utc()) : Value(nullptr)).bind(10, hash);
    st.step();
  } else if (!metrics.empty()) {
    Statement st(db.handle(), "UPDATE runs SET steps_done = ?, last_loss = ? WHERE hash = ?");
    st.bind(1, steps_done).bind(2, last_loss).bind(3, hash);
    st.step();
  }
  tx.commit();
  return status;
}

void record_slurm_submission(Database& db, const std::string& sweep, int64_t job_id,
                             const std::string& submission_dir, const std::vector<std::string>& hashes,
                             const Holder& submitter) {
  WriteTransaction tx(db);
  const std::string now = now_utc();
  Statement pass(db.handle(), "UPDATE claims SET launcher = 'slurm', host = '', pid = 0, slurm_task = ?, heartbeat = ? "
                              "WHERE hash = ? AND launcher = ? AND host = ? AND pid = ? AND slurm_task = ?");
  Statement add(db.handle(), "INSERT INTO slurm_tasks(job_id, array_index, sweep, hash, attempt, submission_dir, "
                             "submitted_at) VALUES(?, ?, ?, ?, ?, ?, ?)");
  for (size_t i = 0; i < hashes.size(); ++i) {
    const Holder task{"slurm", "", 0, fmt::format("{}_{}", job_id, i)};
    pass.bind(1, task.slurm_task).bind(2, now_unix()).bind(3, hashes[i]).bind(4, submitter.launcher);
    pass.bind(5, submitter.host).bind(6, submitter.pid).bind(7, submitter.slurm_task);
    pass.step();
    pass.reset();
    const int64_t attempt = begin_attempt_in(db, hashes[i], task, RunStatus::submitted, now);
    add.bind(1, job_id).bind(2, static_cast<int64_t>(i)).bind(3, sweep).bind(4, hashes[i]).bind(5, attempt);
    add.bind(6, submission_dir).bind(7, now);
    add.step();
    add.reset();
  }
  tx.commit();
}

std::map<std::string, SlurmTask> latest_slurm_tasks(Database& db, const std::string& sweep) {
  if (db.user_version() < 4) return {};  // read-only on an older schema: no such table yet
  Statement st(db.handle(),
               "SELECT hash, job_id, array_index, attempt, submission_dir FROM slurm_tasks WHERE sweep = ? "
               "ORDER BY rowid");
  st.bind(1, sweep);
  std::map<std::string, SlurmTask> out;
  while (st.step())  // later submissions replace earlier ones
    out[st.column_text(0)] = {st.column_int(1), st.column_int(2), st.column_int(3), st.column_text(4)};
  return out;
}

namespace {
// One row into a table of stored results, in its own transaction; returns the new row's id.
int64_t insert_result(Database& db, const std::string& sql, const std::vector<Value>& values) {
  WriteTransaction tx(db);
  Statement st(db.handle(), sql);
  for (size_t i = 0; i < values.size(); ++i) st.bind(static_cast<int>(i + 1), values[i]);
  st.step();
  const int64_t id = sqlite3_last_insert_rowid(db.handle());
  tx.commit();
  return id;
}
}  // namespace

int64_t store_fit(Database& db, const std::string& sweep, const std::string& law, const std::string& result_json) {
  return insert_result(db, "INSERT INTO fits(sweep, law, created_at, result) VALUES(?, ?, ?, ?)",
                       {sweep, law, now_utc(), result_json});
}

int64_t store_mup_study(Database& db, const std::string& kind, const std::string& name,
                        const std::string& result_json) {
  return insert_result(db, "INSERT INTO mup_studies(kind, name, created_at, result) VALUES(?, ?, ?, ?)",
                       {kind, name, now_utc(), result_json});
}

std::optional<StoredResult> latest_mup_study(Database& db, const std::string& kind, const std::string& name) {
  if (db.user_version() < 3) return std::nullopt;  // read-only on an older schema: no such table yet
  Statement st(db.handle(),
               "SELECT id, name, created_at, result FROM mup_studies WHERE kind = ?1 AND (?2 = '' OR name = ?2) "
               "ORDER BY id DESC LIMIT 1");
  st.bind(1, kind).bind(2, name);
  if (!st.step()) return std::nullopt;
  return StoredResult{st.column_int(0), st.column_text(1), st.column_text(2), st.column_text(3)};
}

int64_t store_recommendation(Database& db, const std::string& sweep, std::optional<int64_t> fit_id, double budget,
                             const std::string& result_json) {
  return insert_result(db, "INSERT INTO recommendations(sweep, fit_id, budget, created_at, result) VALUES(?, ?, ?, ?, ?)",
                       {sweep, fit_id ? Value(*fit_id) : Value(nullptr), budget, now_utc(), result_json});
}

std::vector<StoredResult> mup_studies(Database& db, const std::string& kind) {
  if (db.user_version() < 3) return {};  // read-only on an older schema: no such table yet
  Statement st(db.handle(), "SELECT id, name, created_at, result FROM mup_studies WHERE kind = ? ORDER BY id DESC");
  st.bind(1, kind);
  std::vector<StoredResult> out;
  while (st.step()) out.push_back({st.column_int(0), st.column_text(1), st.column_text(2), st.column_text(3)});
  return out;
}

std::optional<StoredFit> load_fit(Database& db, int64_t id) {
  if (db.user_version() < 2) return std::nullopt;  // read-only on an older schema: no such table yet
  Statement st(db.handle(), "SELECT id, sweep, law, created_at, result FROM fits WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return StoredFit{st.column_int(0), st.column_text(1), st.column_text(2), st.column_text(3), st.column_text(4)};
}

std::vector<StoredRecommendation> recommendations(Database& db, const std::string& sweep) {
  if (db.user_version() < 3) return {};  // read-only on an older schema: no such table yet
  Statement st(db.handle(),
               "SELECT id, coalesce(sweep, ''), fit_id, budget, created_at, result FROM recommendations "
               "WHERE sweep = ? ORDER BY budget, id DESC");
  st.bind(1, sweep);
  std::vector<StoredRecommendation> out;
  while (st.step())
    out.push_back({st.column_int(0), st.column_text(1),
                   st.column_null(2) ? std::nullopt : std::optional<int64_t>(st.column_int(2)), st.column_double(3),
                   st.column_text(4), st.column_text(5)});
  return out;
}

int64_t store_verification(Database& db, const std::string& sweep, double budget, const std::string& hash,
                           const std::string& result_json) {
  return insert_result(db, "INSERT INTO verifications(sweep, budget, hash, created_at, result) VALUES(?, ?, ?, ?, ?)",
                       {sweep, budget, hash, now_utc(), result_json});
}

std::vector<StoredVerification> verifications(Database& db, const std::string& sweep) {
  if (db.user_version() < 5) return {};  // read-only on an older schema: no such table yet
  Statement st(db.handle(),
               "SELECT id, sweep, budget, hash, created_at, result FROM verifications WHERE sweep = ? ORDER BY id DESC");
  st.bind(1, sweep);
  std::vector<StoredVerification> out;
  while (st.step())
    out.push_back({st.column_int(0), st.column_text(1), st.column_double(2), st.column_text(3), st.column_text(4),
                   st.column_text(5)});
  return out;
}

std::vector<DomainMetric> final_val_metrics(Database& db, const std::string& sweep, const std::string& name) {
  Statement st(db.handle(),
               "SELECT m.hash, m.domain, m.value FROM metrics m JOIN sweep_runs s ON s.hash = m.hash "
               "WHERE s.sweep = ?1 AND m.split = 'val' AND m.name = ?2 AND m.value IS NOT NULL AND m.step = "
               "(SELECT max(step) FROM metrics x WHERE x.hash = m.hash AND x.split = 'val' AND x.name = ?2) "
               "ORDER BY m.hash, m.domain");
  st.bind(1, sweep).bind(2, name);
  std::vector<DomainMetric> out;
  while (st.step()) out.push_back({st.column_text(0), st.column_text(1), st.column_double(2)});
  return out;
}

std::map<std::string, std::vector<MetricPoint>> metric_series(Database& db, const std::string& sweep,
                                                              const std::string& split, const std::string& name) {
  Statement st(db.handle(),
               "SELECT m.hash, m.step, m.value FROM metrics m JOIN sweep_runs s ON s.hash = m.hash "
               "WHERE s.sweep = ? AND m.split = ? AND m.domain = 'all' AND m.name = ? AND m.value IS NOT NULL "
               "ORDER BY m.hash, m.step");
  st.bind(1, sweep).bind(2, split).bind(3, name);
  std::map<std::string, std::vector<MetricPoint>> out;
  while (st.step()) out[st.column_text(0)].push_back({st.column_int(1), st.column_double(2)});
  return out;
}

}  // namespace dlcm::storage
