// A tiny sweep through a real Slurm (scripts/slurm-up.sh; skipped where none answers): one job
// array runs to completion and is collected, whatever the sweep's name and runs directory hold; a
// task requeued mid-run resumes from its checkpoint; a failing task is resubmitted alone.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "data/corpus.hpp"
#include "storage/central.hpp"
#include "storage/run_metrics.hpp"
#include "test_util.hpp"
#include "corpus_fixture.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using dlcm::test::shell_quote;

namespace {

fs::path g_root;

std::string toml_string(const std::string& s) {
  std::string q = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') q += std::string("\\") + c;
    else if (c == '\n') q += "\\n";
    else q += c;
  }
  return q + "\"";
}

class SlurmSweep : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!dlcm::test::slurm_unavailable().empty()) return;
    g_root = dlcm::test::root_with_corpus("slurm-test");
  }
  static void TearDownTestSuite() {
    if (!g_root.empty()) fs::remove_all(g_root);
  }
  void SetUp() override {
    const auto why = dlcm::test::slurm_unavailable();
    if (!why.empty()) GTEST_SKIP() << why;
  }

  // A sweep of a baseline and a DLCM run per budget, at the scale of the local sweep tests.
  static std::string write_spec(const std::string& file, const std::string& name, const fs::path& runs_dir,
                                const std::string& budgets, const std::string& extra = "",
                                const std::string& ratios = "[1, 4]") {
    const auto p = g_root / (file + ".toml");
    std::ofstream(p) << "name = " << toml_string(name) << "\nbudgets = " << budgets
                     << "\nruns_dir = " << toml_string(runs_dir.string()) << "\nmin_steps = 5\nevals = 1\n" << extra
                     << "[grid]\nd_token = [32]\nbaseline_layers = [2]\nd_concept = [32]\nratio = " << ratios
                     << "\n[base.model]\nseq_len = 64\nn_heads_token = 2\nn_heads_concept = 2\nconcept_layers = 1\n"
                        "[base.train]\nbatch_size = 4\neval_windows = 2\ncheckpoint_every = 10\n[base.data]\ndir = "
                     << toml_string((g_root / "corpus").string()) << "\n";
    return p.string();
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static dlcm::test::Command dlcm(const std::string& args) {
    return dlcm::test::run_command(std::string(DLCM_BIN) + " " + args + " 2>&1");
  }
  static json status(const std::string& db, const std::string& name) {
    const auto r = dlcm("sweep status --json --db " + shell_quote(db) + " " + shell_quote(name));
    EXPECT_EQ(r.code, 0) << r.out;
    return json::parse(r.out.substr(r.out.find('[')));
  }
  // Polls `sweep status` until every run is in one of `states` (or two minutes pass), then
  // `sweep collect`s, which stores what status only showed, and returns the stored statuses.
  static json wait_until(const std::string& db, const std::string& name, const std::set<std::string>& states) {
    json s;
    for (int i = 0; i < 240; ++i) {
      s = status(db, name);
      bool all = true;
      for (const auto& r : s) all = all && states.count(r["status"].get<std::string>());
      if (all) {
        const auto c = dlcm("sweep collect --db " + shell_quote(db) + " " + shell_quote(name));
        EXPECT_EQ(c.code, 0) << c.out;
        return status(db, name);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    ADD_FAILURE() << "runs never settled: " << s.dump(1);
    return s;
  }
};

}  // namespace

TEST_F(SlurmSweep, AHostileSweepRunsAsOneArrayAndIsCollected) {
  const auto marker = g_root / "pwned";
  const std::string name = "it's \"$(touch " + marker.string() + ")\" `touch " + marker.string() + "`\nnamé 日本";
  const auto runs = g_root / ("runs it's $(touch " + marker.string() + ") `touch " + marker.string() + "`\n% ü");
  const auto spec = write_spec("hostile", name, runs, "[1e9]");
  const auto db = (g_root / "hostile.db").string();
  const auto dry = dlcm("sweep submit --dry-run --db " + db + " " + spec);
  ASSERT_EQ(dry.code, 0) << dry.out;
  EXPECT_NE(dry.out.find("#SBATCH --array=0-1\n"), std::string::npos) << dry.out;
  EXPECT_FALSE(fs::exists(runs / "slurm")) << "a dry run writes no submission";

  // A request Slurm refuses leaves no submission behind and the runs pending.
  const auto refused = dlcm("sweep submit --partition nosuch --db " + db + " " + spec);
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.out.find("sbatch refused the sweep's array"), std::string::npos) << refused.out;
  EXPECT_TRUE(fs::is_empty(runs / "slurm"));
  for (const auto& r : status(db, name)) EXPECT_EQ(r["status"], "pending");

  const auto sub = dlcm("sweep submit --launcher slurm --max-running 2 --db " + db + " " + spec);
  ASSERT_EQ(sub.code, 0) << sub.out;
  EXPECT_NE(sub.out.find("submitted 2 runs as job array"), std::string::npos) << sub.out;
  // A second submit while the array is queued or running submits nothing.
  const auto again = dlcm("sweep submit --db " + db + " " + spec);
  EXPECT_NE(again.out.find("nothing to submit"), std::string::npos) << again.out;
  // Nor does the local launcher train what Slurm has (attempts stay 1 below).
  EXPECT_EQ(dlcm("sweep run --quiet --db " + db + " " + spec).code, 0);

  const auto s = wait_until(db, name, {"completed", "diverged", "failed"});
  ASSERT_EQ(s.size(), 2u);
  for (const auto& r : s) {
    EXPECT_EQ(r["status"], "completed") << r.dump();
    EXPECT_EQ(r["steps_done"], r["steps"]);
    EXPECT_EQ(r["attempts"], 1);
    EXPECT_TRUE(fs::exists(runs / r["hash"].get<std::string>() / "result.json"));
  }
  EXPECT_FALSE(fs::exists(marker)) << "an injected command ran";
  // One submission folder: its manifest names both runs, each task logged and left an exit record.
  std::vector<fs::path> subs(fs::directory_iterator(runs / "slurm"), {});
  ASSERT_EQ(subs.size(), 1u);
  std::ifstream manifest(subs[0] / "manifest.tsv");
  std::string text((std::istreambuf_iterator<char>(manifest)), {});
  for (const auto& r : s) EXPECT_NE(text.find(r["hash"].get<std::string>()), std::string::npos);
  for (const char* i : {"0", "1"}) {
    std::ifstream code(subs[0] / "exit" / i);
    int c = -1;
    code >> c;
    EXPECT_EQ(c, 0) << i;
    EXPECT_TRUE(fs::exists(subs[0] / "logs" / (std::string(i) + ".log")));
  }
  // Collecting again changes nothing; the database holds both runs' metrics once.
  const auto col = dlcm("sweep collect --db " + db + " " + shell_quote(name));
  EXPECT_EQ(col.code, 0) << col.out;
  EXPECT_NE(col.out.find("2 runs: 2 completed"), std::string::npos) << col.out;
  auto central = dlcm::storage::open_central(db);
  dlcm::storage::Statement st(central.handle(),
                              "SELECT count(*), count(DISTINCT hash || step) FROM metrics WHERE split = 'train' AND "
                              "domain = 'all' AND name = 'loss'");
  st.step();
  EXPECT_EQ(st.column_int(0), s[0]["steps"].get<int64_t>() + s[1]["steps"].get<int64_t>());
  EXPECT_EQ(st.column_int(0), st.column_int(1));
}

TEST_F(SlurmSweep, ARequeuedTaskResumesFromItsCheckpointWithNoDuplicateRows) {
  const auto runs = g_root / "requeue";
  const auto spec = write_spec("requeue", "requeue", runs, "[2e10]");
  const auto db = (g_root / "requeue.db").string();
  ASSERT_EQ(dlcm("sweep submit --db " + db + " " + spec).code, 0);
  auto s = status(db, "requeue");
  ASSERT_EQ(s.size(), 2u);
  // The DLCM run is the one interrupted; the baseline beside it runs undisturbed.
  const std::string hash = s[1]["hash"], task = s[1]["slurm"]["task"];
  const int64_t steps = s[1]["steps"];
  ASSERT_GE(steps, 200);  // the signal, sent after the first checkpoint (step 10), lands mid-run
  const auto run_dir = runs / hash;
  // Once the first checkpoint is written, the task gets the signal Slurm sends before a time limit.
  for (int i = 0; i < 1200 && !fs::exists(run_dir / "checkpoint.pt"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(run_dir / "checkpoint.pt")) << "the task never checkpointed";
  // Under load the controller can lag the task it launched ("Invalid job id specified" for a task
  // already training): retry until it knows the task, for up to 20 s.
  auto sig = dlcm::test::run_command("scancel --signal=USR1 --batch " + task + " 2>&1");
  for (int i = 0; i < 80 && sig.code != 0 && sig.out.find("Invalid job id") != std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    sig = dlcm::test::run_command("scancel --signal=USR1 --batch " + task + " 2>&1");
  }
  ASSERT_EQ(sig.code, 0) << sig.out;
  s = wait_until(db, "requeue", {"completed", "diverged", "failed"});
  for (const auto& r : s) {
    EXPECT_EQ(r["status"], "completed") << r.dump();
    EXPECT_EQ(r["attempts"], 1);  // a requeue is not a new attempt
    EXPECT_EQ(r["steps_done"], r["steps"]);
  }
  const auto task_log = read(fs::path(s[1]["slurm"]["submission"].get<std::string>()) / "logs" / "1.log");
  EXPECT_NE(task_log.find("restart 1)"), std::string::npos) << task_log;
  EXPECT_NE(task_log.find("worker exited with 4"), std::string::npos) << task_log;
  // Only the signalled task went back to the queue.
  const auto other_log = read(fs::path(s[0]["slurm"]["submission"].get<std::string>()) / "logs" / "0.log");
  EXPECT_EQ(other_log.find("restart 1)"), std::string::npos) << other_log;
  EXPECT_EQ(read(runs / s[0]["hash"].get<std::string>() / "log.txt").find("resumed from"), std::string::npos);
  const auto log = read(run_dir / "log.txt");
  EXPECT_NE(log.find("resumed from"), std::string::npos) << log;
  // Exactly one training-loss row per step, in the run's own file and in the central database.
  auto m = dlcm::storage::open_run_metrics((run_dir / "metrics.sqlite").string());
  std::set<int64_t> seen;
  int64_t rows = 0;
  for (const auto& r : dlcm::storage::read_metrics(m))
    if (r.split == "train" && r.domain == "all" && r.name == "loss") rows += 1, seen.insert(r.step);
  EXPECT_EQ(rows, steps);
  EXPECT_EQ(static_cast<int64_t>(seen.size()), steps);
  EXPECT_EQ(*seen.begin(), 1);
  EXPECT_EQ(*seen.rbegin(), steps);
  // The interrupted run ends where an uninterrupted run of its config ends, to the last bit.
  const auto ref = g_root / "requeue-reference";
  const auto r = dlcm("train --quiet --threads 1 --config " + shell_quote((run_dir / "config.toml").string()) +
                      " --run-dir " + shell_quote(ref.string()));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto a = json::parse(read(run_dir / "result.json")), b = json::parse(read(ref / "result.json"));
  EXPECT_EQ(a["final_train_loss"].get<double>(), b["final_train_loss"].get<double>());
  EXPECT_EQ(a["final_val_loss"].get<double>(), b["final_val_loss"].get<double>());
}

TEST_F(SlurmSweep, AFailingTaskShowsFailedAndOnlyItIsResubmitted) {
  const auto runs = g_root / "failing";
  const auto spec = write_spec("failing", "failing", runs, "[1e9]", "max_attempts = 2\n");
  const auto db = (g_root / "failing.db").string();
  const auto plan = json::parse(dlcm("sweep plan --json --no-calibrate " + spec).out);
  ASSERT_EQ(plan.size(), 2u);
  const std::string victim = plan[1]["hash"], healthy = plan[0]["hash"];
  // A corrupt config in one run directory: that worker fails, every time, until it is mended.
  fs::create_directories(runs / victim);
  std::ofstream(runs / victim / "config.toml") << "[model\nthis is not toml\n";
  ASSERT_EQ(dlcm("sweep submit --db " + db + " " + spec).code, 0);
  auto s = wait_until(db, "failing", {"completed", "diverged", "failed"});
  for (const auto& r : s) {
    EXPECT_EQ(r["status"], r["hash"] == victim ? "failed" : "completed") << r.dump();
    EXPECT_EQ(r["attempts"], 1);
  }
  // Mended, and resubmitted alone: a new one-task array.
  fs::remove(runs / victim / "config.toml");
  const auto sub = dlcm("sweep submit --resubmit-failed --db " + db + " " + spec);
  ASSERT_EQ(sub.code, 0) << sub.out;
  EXPECT_NE(sub.out.find("submitted 1 runs"), std::string::npos) << sub.out;
  s = wait_until(db, "failing", {"completed", "diverged", "failed"});
  for (const auto& r : s) {
    EXPECT_EQ(r["status"], "completed") << r.dump();
    EXPECT_EQ(r["attempts"], r["hash"] == victim ? 2 : 1);
    if (r["hash"] == victim) {
      const fs::path sub_dir = r["slurm"]["submission"].get<std::string>();
      EXPECT_EQ(read(sub_dir / "manifest.tsv"), "0\t" + victim + "\n");
    }
  }
  EXPECT_NE(dlcm("sweep submit --db " + db + " " + spec).out.find("nothing to submit"), std::string::npos);
}

// A Slurm task whose worker stops (a stuck filesystem, a deadlock: here SIGSTOP) would hold its
// allocation until the time limit. collect cancels it once the worker is silent past --hung-after,
// counts the try as hung, and the run is submitted again and finished from its checkpoint.
TEST_F(SlurmSweep, ACollectCancelsATaskWhoseWorkerStoppedAndTheRunIsFinishedOnResubmission) {
  const auto runs = g_root / "stuck";
  const auto spec = write_spec("stuck", "stuck", runs, "[2e11]", "", "[1]");
  const auto db = (g_root / "stuck.db").string();
  ASSERT_EQ(dlcm("sweep submit --db " + db + " " + spec).code, 0);
  auto s = status(db, "stuck");
  ASSERT_EQ(s.size(), 1u);
  const std::string hash = s[0]["hash"];
  const auto run_dir = runs / hash;
  // The worker names itself in its heartbeat; stop it once it is past its first checkpoint.
  pid_t worker = 0;
  for (int i = 0; i < 2400 && !worker; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    const auto beat = json::parse(read(run_dir / "heartbeat.json"), nullptr, false);
    if (beat.is_object() && beat.value("step", 0) >= 10 && fs::exists(run_dir / "checkpoint.pt")) worker = beat.value("pid", 0);
  }
  ASSERT_GT(worker, 0) << "the task's worker never got past its first checkpoint";
  ASSERT_EQ(kill(worker, SIGSTOP), 0);
  // Within the limit, nothing happens; past it, the task is cancelled and the try counted.
  auto c = dlcm("sweep collect --hung-after 30 --db " + db + " stuck");
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_EQ(c.out.find("hung"), std::string::npos) << c.out;
  std::this_thread::sleep_for(std::chrono::seconds(4));
  c = dlcm("sweep collect --hung-after 3 --db " + db + " stuck");
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_NE(c.out.find("cancelled as hung"), std::string::npos) << c.out;
  s = status(db, "stuck");
  EXPECT_EQ(s[0]["status"], "failed") << s.dump();
  EXPECT_EQ(s[0]["attempts"], 1);
  EXPECT_EQ(s[0]["last_reason"], "hung") << s.dump();
  // Slurm's TERM waits in the stopped worker; letting it run ends it, as Slurm's KillWait would.
  kill(worker, SIGCONT);
  for (int i = 0; i < 600 && kill(worker, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_NE(kill(worker, 0), 0) << "the cancelled task's worker is still there";
  // The cancelled task's end is not a second try.
  ASSERT_EQ(dlcm("sweep collect --db " + db + " stuck").code, 0);
  EXPECT_EQ(status(db, "stuck")[0]["attempts"], 1);
  const auto sub = dlcm("sweep submit --db " + db + " " + spec);
  ASSERT_EQ(sub.code, 0) << sub.out;
  EXPECT_NE(sub.out.find("submitted 1 runs"), std::string::npos) << sub.out;
  s = wait_until(db, "stuck", {"completed", "diverged", "failed"});
  EXPECT_EQ(s[0]["status"], "completed") << s.dump();
  EXPECT_EQ(s[0]["attempts"], 2);  // hung, completed
  EXPECT_EQ(s[0]["steps_done"], s[0]["steps"]);
  EXPECT_NE(read(run_dir / "log.txt").find("resumed from"), std::string::npos);
  const auto history = json::parse(dlcm("sweep status --json --db " + db + " stuck --run " + hash.substr(0, 8)).out);
  ASSERT_EQ(history["history"].size(), 2u) << history.dump();
  EXPECT_EQ(history["history"][0]["reason"], "hung");
  EXPECT_EQ(history["history"][1]["reason"], "completed");
}

TEST_F(SlurmSweep, LocalAndSlurmTogetherTrainEachRunOnce) {
  const auto runs = g_root / "mixed";
  const auto spec = write_spec("mixed", "mixed", runs, "[1e10, 2e10]");
  const auto db = (g_root / "mixed.db").string();
  // A local orchestrator with one worker starts first; a submission follows while it trains.
  const std::string local_cmd = std::string(DLCM_BIN) + " sweep run --workers 1 --threads 1 --db " + shell_quote(db) +
                                " " + shell_quote(spec) + " 2>" + shell_quote((g_root / "mixed-local.log").string());
  FILE* local = popen(local_cmd.c_str(), "r");
  ASSERT_NE(local, nullptr);
  bool claimed = false;
  for (int i = 0; i < 2400 && !claimed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    try {
      auto central = dlcm::storage::open_central_readonly(db);
      for (const auto& [hash, c] : dlcm::storage::sweep_claims(central, "mixed"))
        claimed = claimed || (c.holder.launcher == "local" && c.attempt > 0);
    } catch (const std::exception&) {  // not yet a dlcm database with this sweep
    }
  }
  ASSERT_TRUE(claimed) << "the local orchestrator never claimed a run";
  const auto sub = dlcm("sweep submit --db " + shell_quote(db) + " " + shell_quote(spec));
  ASSERT_EQ(sub.code, 0) << sub.out;
  int submitted = 0;
  if (sub.out.find("submitted ") != std::string::npos)
    submitted = std::stoi(sub.out.substr(sub.out.find("submitted ") + 10));
  EXPECT_GE(submitted, 1) << sub.out;
  EXPECT_LE(submitted, 3) << "a run the local orchestrator held was submitted too: " << sub.out;
  // The local orchestrator leaves Slurm's runs to Slurm and exits once its own are done.
  char buf[256];
  while (fread(buf, 1, sizeof buf, local) > 0) {
  }
  const int code = pclose(local);
  EXPECT_EQ(WEXITSTATUS(code), 0) << read(g_root / "mixed-local.log");
  const auto s = wait_until(db, "mixed", {"completed", "diverged", "failed"});
  ASSERT_EQ(s.size(), 4u);
  auto central = dlcm::storage::open_central_readonly(db);
  int by_slurm = 0, by_local = 0;
  for (const auto& r : s) {
    const std::string hash = r["hash"];
    EXPECT_EQ(r["status"], "completed") << r.dump();
    EXPECT_EQ(r["attempts"], 1) << r.dump();
    // Trained in one trainer session, by one launcher.
    const auto log = read(runs / hash / "log.txt");
    size_t sessions = 0;
    for (size_t at = log.find("dlcm train:"); at != std::string::npos; at = log.find("dlcm train:", at + 1)) ++sessions;
    EXPECT_EQ(sessions, 1u) << hash;
    const auto history = dlcm::storage::attempt_history(central, hash);
    ASSERT_EQ(history.size(), 1u) << hash;
    EXPECT_EQ(history[0].reason, "completed")
        << dlcm("sweep status --db " + shell_quote(db) + " mixed --run " + hash).out << read(g_root / "mixed-local.log");
    (history[0].holder.launcher == "slurm" ? by_slurm : by_local) += 1;
  }
  EXPECT_EQ(by_slurm, submitted);
  EXPECT_EQ(by_slurm + by_local, 4);
  EXPECT_TRUE(dlcm::storage::sweep_claims(central, "mixed").empty());
  std::printf("local and Slurm on one sweep: %d runs trained locally, %d by Slurm tasks, each once (attempts 1)\n",
              by_local, by_slurm);
}

TEST(SlurmSubmit, FailedRunsAtTheAttemptLimitAndBadDirectivesSubmitNothing) {
  // Needs no Slurm (but a trainer): the run fails under the local launcher, and nothing reaches sbatch.
  const auto dir = dlcm::test::temp_dir("slurm-limit");
  const auto spec = dir / "limit.toml";
  std::ofstream(spec) << "name = \"limit\"\nbudgets = [1e9]\nruns_dir = \"" << (dir / "runs").string()
                      << "\"\nmin_steps = 5\nmax_attempts = 1\n[grid]\nd_token = [32]\nbaseline_layers = [2]\n"
                         "ratio = [1]\n[base.model]\nseq_len = 64\nn_heads_token = 2\n[base.train]\nbatch_size = 4\n"
                         "[base.data]\ndir = \"" << (dir / "corpus").string() << "\"\n";
  const std::string bin = DLCM_BIN, db = (dir / "dlcm.db").string();
  const auto plan = nlohmann::json::parse(dlcm::test::run_command(bin + " sweep plan --json --no-calibrate " + spec.string()).out);
  ASSERT_EQ(plan.size(), 1u);
  const fs::path run_dir = dir / "runs" / plan[0]["hash"].get<std::string>();
  fs::create_directories(run_dir);
  std::ofstream(run_dir / "config.toml") << "not = [toml\n";
  // A corpus to pass the launcher's check (a missing one stops the sweep before any run starts);
  // the worker fails on the config before reading it.
  fs::create_directories(dir / "corpus");
  std::ofstream(dir / "corpus" / "meta.json") << "{}\n";
  EXPECT_EQ(dlcm::test::run_command(bin + " sweep run --quiet --db " + db + " " + spec.string() + " 2>&1").code, 2);
  const auto r = dlcm::test::run_command(bin + " sweep submit --resubmit-failed --db " + db + " " + spec.string() + " 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "sweep limit: nothing to submit; 1 failed runs are at max_attempts = 1\n");
  const auto bad = dlcm::test::run_command(bin + " sweep submit --partition 'a b' --db " + db + " " + spec.string() + " 2>&1");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("--partition: \"a b\" is not a valid value"), std::string::npos) << bad.out;
  EXPECT_FALSE(fs::exists(dir / "runs" / "slurm"));
}
