// Many processes writing one central database at once: every row lands, no "database is locked"
// reaches anyone. Eight forked writers each register and ingest 500 run directories of their own,
// racing from an empty file (so the schema creation races too).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "storage/central.hpp"
#include "storage/run_metrics.hpp"
#include "test_util.hpp"

using namespace dlcm::storage;
namespace fs = std::filesystem;

namespace {

constexpr int kWriters = 8, kRunsEach = 500, kStepsPerRun = 4;

std::string run_hash(int writer, int run) { return fmt::format("w{}r{:04d}", writer, run); }

// A finished run's metrics.sqlite, written once and copied into every run directory (creating
// 4000 SQLite files one by one would dominate the test).
void make_template(const fs::path& path) {
  std::vector<MetricRow> rows;
  for (int s = 1; s <= kStepsPerRun; ++s) rows.push_back({s, "train", "all", "loss", 5.0 - s * 0.1});
  rows.push_back({kStepsPerRun, "val", "all", "loss", 4.0});
  auto m = open_run_metrics(path.string());
  write_metrics(m, rows);
  m.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

// A finished run directory as a worker leaves it: metrics.sqlite and result.json.
void make_run_dir(const fs::path& dir, const fs::path& metrics, int run) {
  fs::create_directories(dir);
  fs::copy_file(metrics, dir / "metrics.sqlite");
  std::ofstream(dir / "result.json") << fmt::format(R"({{"status": "completed", "steps": {}, "final_val_loss": {}}})",
                                                    kStepsPerRun, 4.0 - run * 1e-4);
}

// One writer process: prepares its run directories, waits for the start signal, then registers
// its sweep and ingests each directory in its own transaction. Exit status = failures seen.
int writer(int w, const fs::path& root, int start_fd) {
  int failures = 0;
  std::vector<RunPlanRow> plan;
  for (int r = 0; r < kRunsEach; ++r) {
    const auto dir = root / "runs" / run_hash(w, r);
    make_run_dir(dir, root / "template.sqlite", r);
    plan.push_back({run_hash(w, r), "run", "cfg", dir.string(), "dlcm", 1, 1, 1, 1, 1, 1, 1, kStepsPerRun});
  }
  char go;
  if (read(start_fd, &go, 1) != 1) return 100;
  try {
    auto db = open_central((root / "dlcm.db").string());
    register_sweep(db, fmt::format("sweep{}", w), "spec", plan);
    for (int r = 0; r < kRunsEach; ++r)
      try {
        if (ingest_run_dir(db, run_hash(w, r), plan[r].run_dir) != "completed") ++failures;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "writer %d: %s\n", w, e.what());
        ++failures;
      }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer %d: %s\n", w, e.what());
    return 101;
  }
  return std::min(failures, 99);
}

}  // namespace

TEST(Concurrency, EightProcessesIngestingFiveHundredRunsEachLoseNothing) {
  const auto root = dlcm::test::temp_dir("concurrent");
  make_template(root / "template.sqlite");
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters; ++w) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(pipe_fds[1]);
      _exit(writer(w, root, pipe_fds[0]));
    }
    pids.push_back(pid);
  }
  close(pipe_fds[0]);
  // Closing the write end would wake them one by one as each finishes preparing; one byte each
  // lets all of them start together once every directory exists.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  for (int w = 0; w < kWriters; ++w) ASSERT_EQ(write(pipe_fds[1], "g", 1), 1);
  close(pipe_fds[1]);
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "writer " << pid << " saw failures";
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto db = open_central((root / "dlcm.db").string());
  auto count = [&](const std::string& sql) {
    Statement st(db.handle(), sql);
    st.step();
    return st.column_int(0);
  };
  const int64_t runs = count("SELECT count(*) FROM runs WHERE status = 'completed'");
  const int64_t metrics = count("SELECT count(*) FROM metrics");
  EXPECT_EQ(runs, kWriters * kRunsEach);
  EXPECT_EQ(metrics, kWriters * kRunsEach * (kStepsPerRun + 1));
  EXPECT_EQ(count("SELECT count(DISTINCT hash) FROM metrics"), kWriters * kRunsEach);
  EXPECT_EQ(count("SELECT count(*) FROM sweep_runs"), kWriters * kRunsEach);
  // For the closing note: what was written, lost, and how long it took (never asserted).
  std::printf("concurrent ingestion: %d writers x %d runs: %lld runs, %lld metric rows written, %lld runs lost, %.2f s\n",
              kWriters, kRunsEach, static_cast<long long>(runs), static_cast<long long>(metrics),
              static_cast<long long>(kWriters * kRunsEach - runs), secs);
  fs::remove_all(root);
}
