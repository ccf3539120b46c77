// The central database: schema versioning, idempotent ingestion, foreign files left alone.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "storage/central.hpp"
#include "storage/run_metrics.hpp"
#include "test_util.hpp"

using namespace dlcm::storage;
namespace fs = std::filesystem;

namespace {
using dlcm::test::temp_dir;

int64_t count(Database& db, const std::string& table) {
  Statement st(db.handle(), "SELECT count(*) FROM " + table);
  st.step();
  return st.column_int(0);
}
}  // namespace

TEST(Central, IngestingTwiceChangesNothing) {
  const auto dir = temp_dir("twice");
  auto db = open_central((dir / "dlcm.db").string());
  EXPECT_EQ(db.user_version(), kSchemaVersion);
  const auto run = dir / "run";
  fs::create_directories(run);
  {
    auto m = open_run_metrics((run / "metrics.sqlite").string());
    write_metrics(m, {{1, "train", "all", "loss", 5.0}, {2, "train", "all", "loss", 4.0}, {2, "val", "code", "loss", 4.5}});
  }
  std::ofstream(run / "result.json") << R"({"status": "completed", "steps": 2, "final_train_loss": 4.0,
                                           "final_val_loss": 4.5, "val_bpb": 6.49, "realised_ratio": 3.9})";
  register_sweep(db, "s", "spec", {{"h1", "run one", "cfg", run.string(), "dlcm", 1e12, 1e6, 0.5, 4, 1e5, 1e12, 6e6, 2}});
  EXPECT_EQ(ingest_run_dir(db, "h1", run.string()), "completed");
  const auto first = sweep_runs(db, "s");
  EXPECT_EQ(ingest_run_dir(db, "h1", run.string()), "completed");
  const auto second = sweep_runs(db, "s");
  EXPECT_EQ(count(db, "metrics"), 3);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].status, "completed");
  EXPECT_EQ(second[0].steps_done, 2);
  EXPECT_EQ(*second[0].final_val_loss, 4.5);
  EXPECT_EQ(*second[0].last_loss, 4.0);
  EXPECT_EQ(*first[0].realised_ratio, *second[0].realised_ratio);
  // Registering the same plan again keeps the results.
  register_sweep(db, "s", "spec", {{"h1", "run one", "cfg", run.string(), "dlcm", 1e12, 1e6, 0.5, 4, 1e5, 1e12, 6e6, 2}});
  EXPECT_EQ(sweep_runs(db, "s")[0].status, "completed");
  EXPECT_EQ(count(db, "runs"), 1);
}

TEST(Central, AnInterruptedAttemptGoesBackToPendingAndIsNotCounted) {
  const auto dir = temp_dir("interrupted");
  auto db = open_central((dir / "dlcm.db").string());
  const auto run = dir / "run";
  fs::create_directories(run);
  std::ofstream(run / "result.json") << R"({"status": "interrupted", "steps": 1})";
  register_sweep(db, "s", "spec", {{"h1", "r", "cfg", run.string(), "dlcm", 1, 1, 0, 1, 1, 1, 1, 5}});
  const Holder me{"local", "host", 42, ""};
  const int64_t n = begin_attempt(db, "h1", me);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(sweep_runs(db, "s")[0].status, "running");
  EXPECT_EQ(sweep_runs(db, "s")[0].attempts, 1);
  // An unfinished run directory is not the database's to settle: its holder says what it is.
  ingest_run_dir(db, "h1", run.string());
  EXPECT_EQ(sweep_runs(db, "s")[0].status, "running");
  EXPECT_EQ(sweep_runs(db, "s")[0].steps_done, 1);
  end_attempt(db, "h1", n, 4, "interrupted", "", false, "pending");
  end_attempt(db, "h1", n, 4, "interrupted", "", false, "pending");  // told twice, counted back once
  auto r = sweep_runs(db, "s")[0];
  EXPECT_EQ(r.status, "pending");
  EXPECT_EQ(r.attempts, 0);
  EXPECT_EQ(r.last_reason, "interrupted");
  // The next try is attempt 2 in the history, and the first real try by count.
  EXPECT_EQ(begin_attempt(db, "h1", me), 2);
  std::ofstream(run / "result.json") << R"({"status": "completed", "steps": 5})";
  EXPECT_EQ(ingest_run_dir(db, "h1", run.string()), "completed");
  end_attempt(db, "h1", 2, 0, "completed", "", true, "failed");  // a final status is never overwritten
  r = sweep_runs(db, "s")[0];
  EXPECT_EQ(r.status, "completed");
  EXPECT_EQ(r.attempts, 1);
  const auto history = attempt_history(db, "h1");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_FALSE(history[0].counted);
  EXPECT_EQ(history[0].exit_code, 4);
  EXPECT_EQ(history[1].reason, "completed");
  EXPECT_EQ(history[1].holder, me);
  EXPECT_FALSE(history[1].ended_at.empty());
}

TEST(Central, OneClaimPerRunAndAStaleOneIsTakenOverOnce) {
  const auto dir = temp_dir("claims");
  auto db = open_central((dir / "dlcm.db").string());
  register_sweep(db, "s", "spec", {{"h1", "r", "cfg", "d1", "dlcm", 1, 1, 0, 1, 1, 1, 1, 5}});
  const Holder a{"local", "host", 1, ""}, b{"local", "host", 2, ""}, c{"local", "other", 3, ""};
  EXPECT_TRUE(claim_run(db, "h1", a));
  EXPECT_FALSE(claim_run(db, "h1", b));
  const auto held = sweep_claims(db, "s");
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held.at("h1").holder, a);
  EXPECT_EQ(describe(a), "local host:1");
  // Two orchestrators take over the same stale claim: the first wins, the second finds it changed.
  EXPECT_TRUE(take_over_claim(db, held.at("h1"), b));
  EXPECT_FALSE(take_over_claim(db, held.at("h1"), c));
  EXPECT_EQ(sweep_claims(db, "s").at("h1").holder, b);
  release_claim(db, "h1", a);  // not a's any more: stays
  EXPECT_EQ(sweep_claims(db, "s").size(), 1u);
  release_claim(db, "h1", b);
  EXPECT_TRUE(sweep_claims(db, "s").empty());
}

TEST(Central, ForeignAndTruncatedFilesAreRefusedUntouched) {
  const auto dir = temp_dir("foreign");
  const auto other = (dir / "other.db").string();
  {
    Database d(other);
    d.exec("CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES('mine');");
  }
  const auto size = fs::file_size(other);
  try {
    open_central(other);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("other.db: not a dlcm database"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fs::file_size(other), size);
  // A database cut short (first 1000 bytes of a real one) is refused, not repaired into something else.
  const auto real = (dir / "real.db").string(), cut = (dir / "cut.db").string();
  { auto d = open_central(real); }
  {
    std::ifstream in(real, std::ios::binary);
    std::string bytes(1000, '\0');
    in.read(bytes.data(), 1000);
    std::ofstream(cut, std::ios::binary) << bytes;
  }
  EXPECT_THROW(open_central(cut), std::runtime_error);
  EXPECT_EQ(fs::file_size(cut), 1000u);
}

TEST(Central, AnOlderSchemaIsMigratedForwardKeepingItsRows) {
  const auto dir = temp_dir("migrate");
  const auto path = (dir / "dlcm.db").string();
  {
    auto db = open_central(path);
    register_sweep(db, "s", "spec", {{"h1", "r", "cfg", "dir", "dlcm", 1, 1, 0, 1, 1, 1, 1, 5}});
    // Roll the file back to schema 1 (before the fits table).
    db.exec("DROP TABLE fits; DROP TABLE mup_studies; DROP TABLE recommendations; DROP TABLE slurm_tasks; "
            "DROP TABLE verifications; DROP TABLE claims; DROP TABLE attempts; ALTER TABLE sweep_runs DROP COLUMN origin; "
            "PRAGMA user_version = 1;");
  }
  auto db = open_central(path);
  EXPECT_EQ(db.user_version(), kSchemaVersion);
  EXPECT_EQ(sweep_runs(db, "s").size(), 1u);
  EXPECT_EQ(sweep_runs(db, "s")[0].origin, "plan");
  EXPECT_EQ(store_fit(db, "s", "chinchilla", "{}"), 1);
  EXPECT_EQ(count(db, "fits"), 1);
}

TEST(Central, ASchemaFiveDatabaseReadsReadOnlyAndMigratesWithItsRunsAndLiveSlurmTasksClaimed) {
  const auto dir = temp_dir("read-v5");
  const auto path = (dir / "dlcm.db").string();
  {
    auto db = open_central(path);
    register_sweep(db, "s", "spec", {{"h1", "r", "cfg", "d1", "dlcm", 1, 1, 0, 1, 1, 1, 1, 5},
                                     {"h2", "q", "cfg", "d2", "dlcm", 1, 1, 0, 1, 1, 1, 1, 5}});
    record_slurm_submission(db, "s", 10, "/runs/slurm/a", {"h1", "h2"}, Holder{"slurm", "host", 7, ""});
    set_status(db, "h2", "completed");
    // Roll the file back to schema 5: a database of the previous dlcm, with a live Slurm task.
    db.exec("DROP TABLE claims; DROP TABLE attempts; PRAGMA user_version = 5;");
  }
  {
    auto db = open_central_readonly(path);
    EXPECT_EQ(db.user_version(), 5);  // nothing migrated
    const auto runs = sweep_runs(db, "s");
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0].attempts, 1);
    EXPECT_EQ(runs[0].last_reason, "");
    EXPECT_TRUE(sweep_claims(db, "s").empty());
    EXPECT_TRUE(attempt_history(db, "h1").empty());
  }
  auto db = open_central(path);
  EXPECT_EQ(db.user_version(), kSchemaVersion);
  // The run Slurm still has is claimed by its task, so no local launcher starts it too.
  const auto claims = sweep_claims(db, "s");
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims.at("h1").holder.slurm_task, "10_0");
  EXPECT_EQ(claims.at("h1").attempt, 1);
  // Attempts made before the history existed keep their count; the next one is numbered after them.
  EXPECT_EQ(begin_attempt(db, "h2", Holder{"local", "host", 1, ""}), 2);
}

TEST(Central, ASchemaFourDatabaseReadsReadOnlyWithEveryRunFromItsPlan) {
  const auto dir = temp_dir("read-v4");
  const auto path = (dir / "dlcm.db").string();
  {
    auto db = open_central(path);
    register_sweep(db, "s", "spec", {{"h1", "r", "cfg", "dir", "dlcm", 1, 1, 0, 1, 1, 1, 1, 5}});
    db.exec("DROP TABLE verifications; DROP TABLE claims; DROP TABLE attempts; ALTER TABLE sweep_runs DROP COLUMN "
            "origin; PRAGMA user_version = 4;");
  }
  auto db = open_central_readonly(path);
  EXPECT_EQ(db.user_version(), 4);  // nothing migrated
  const auto runs = sweep_runs(db, "s");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].origin, "plan");
}

TEST(Central, TheNewestMupStudyOfAKindIsReturned) {
  const auto dir = temp_dir("mup-studies");
  auto db = open_central((dir / "dlcm.db").string());
  EXPECT_FALSE(latest_mup_study(db, "lr-transfer").has_value());
  store_mup_study(db, "lr-transfer", "a", R"({"v":1})");
  store_mup_study(db, "coord-check", "c", R"({"v":2})");
  const int64_t id = store_mup_study(db, "lr-transfer", "b", R"({"v":3})");
  const auto newest = latest_mup_study(db, "lr-transfer");
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->id, id);
  EXPECT_EQ(newest->result, R"({"v":3})");
  EXPECT_EQ(latest_mup_study(db, "lr-transfer", "a")->result, R"({"v":1})");
  EXPECT_EQ(store_recommendation(db, "s", std::nullopt, 1e18, "{}"), 1);
  EXPECT_EQ(store_recommendation(db, "", int64_t{4}, 1e19, "{}"), 2);
  EXPECT_EQ(count(db, "recommendations"), 2);
}

TEST(Central, EachSlurmSubmissionIsAnAttemptAndTheLatestTaskIsTheRuns) {
  const auto dir = temp_dir("slurm-tasks");
  auto db = open_central((dir / "dlcm.db").string());
  register_sweep(db, "s", "spec", {{"h1", "a", "cfg", "d1", "dlcm", 1, 1, 0, 1, 1, 1, 1, 5},
                                   {"h2", "b", "cfg", "d2", "dlcm", 1, 1, 0, 1, 1, 1, 1, 5}});
  const Holder submitter{"slurm", "host", 7, ""};
  EXPECT_TRUE(claim_run(db, "h1", submitter));
  record_slurm_submission(db, "s", 10, "/runs/slurm/a", {"h1", "h2"}, submitter);
  record_slurm_submission(db, "s", 12, "/runs/slurm/b", {"h2"}, submitter);
  const auto runs = sweep_runs(db, "s");
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& r : runs) {
    EXPECT_EQ(r.status, "submitted");
    EXPECT_EQ(r.attempts, r.hash == "h1" ? 1 : 2);
  }
  const auto tasks = latest_slurm_tasks(db, "s");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks.at("h1").job_id, 10);
  EXPECT_EQ(tasks.at("h1").array_index, 0);
  EXPECT_EQ(tasks.at("h2").job_id, 12);
  EXPECT_EQ(tasks.at("h2").array_index, 0);
  EXPECT_EQ(tasks.at("h2").attempt, 2);
  EXPECT_EQ(tasks.at("h2").submission_dir, "/runs/slurm/b");
  EXPECT_EQ(count(db, "slurm_tasks"), 3);
  // The submitter's claim passed to the task; each submission is an attempt of that task.
  EXPECT_EQ(sweep_claims(db, "s").at("h1").holder, (Holder{"slurm", "", 0, "10_0"}));
  EXPECT_EQ(describe(sweep_claims(db, "s").at("h1").holder), "slurm task 10_0");
  EXPECT_EQ(sweep_claims(db, "s").at("h1").attempt, 1);
  ASSERT_EQ(attempt_history(db, "h2").size(), 2u);
  EXPECT_EQ(attempt_history(db, "h2")[1].holder.slurm_task, "12_0");
  // A hash the sweep does not know is refused whole: no task of that submission is recorded.
  EXPECT_THROW(record_slurm_submission(db, "s", 13, "/runs/slurm/c", {"h1", "nope"}, submitter), std::runtime_error);
  EXPECT_EQ(count(db, "slurm_tasks"), 3);
  EXPECT_EQ(sweep_runs(db, "s")[0].attempts, 1);
}
