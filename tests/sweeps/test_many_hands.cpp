// Many hands on one sweep, through the real `dlcm` binary and one real database: several
// orchestrators share a sweep (each run claimed once, trained once, one attempt each); `sweep
// status` and `sweep collect` polled meanwhile never move a run backwards; an orchestrator
// SIGKILLed mid-sweep has its claims taken over without spending attempts; a worker that stops
// (SIGSTOP) is killed as hung and its run finished from its checkpoint; a trainer started by hand
// on a run's directory is waited for, and a second one on it exits 5 having tried nothing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "corpus_fixture.hpp"
#include "storage/central.hpp"
#include "sweeps/launcher.hpp"
#include "sweeps/spec.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using dlcm::test::read_text;
using dlcm::test::wait_exit;

namespace {

fs::path g_root;

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A sweep of a baseline and a DLCM run per budget, at the scale of the other sweep tests.
std::string write_spec(const std::string& name, const std::string& budgets) {
  const auto p = g_root / (name + ".toml");
  std::ofstream(p) << "name = \"" << name << "\"\nbudgets = " << budgets << "\nruns_dir = \"" << (g_root / name).string()
                   << "\"\nmin_steps = 5\nevals = 1\n[grid]\nd_token = [32]\nbaseline_layers = [2]\nd_concept = [32]\n"
                      "ratio = [1, 4]\n[base.model]\nseq_len = 64\nn_heads_token = 2\nn_heads_concept = 2\n"
                      "concept_layers = 1\n[base.train]\nbatch_size = 4\neval_windows = 2\ncheckpoint_every = 10\n"
                      "[base.data]\ndir = \""
                   << (g_root / "corpus").string() << "\"\n";
  return p.string();
}

// `dlcm ARGS` started in the background, its stderr to `log`; returns its pid.
pid_t start(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    std::vector<char*> argv{const_cast<char*>(DLCM_BIN)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(DLCM_BIN, argv.data());
    _exit(127);
  }
  return pid;
}

std::vector<std::string> sweep_run(const std::string& db, const std::string& spec, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"sweep", "run", "--workers", "1", "--threads", "1", "--db", db, spec};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

int64_t scalar(dlcm::storage::Database& db, const std::string& sql, const std::string& arg) {
  dlcm::storage::Statement st(db.handle(), sql);
  st.bind(1, arg);
  st.step();
  return st.column_int(0);
}

// Every run completed, with exactly one training-loss row per step in the central database, and
// trained in `sessions` trainer sessions (log.txt has one "dlcm train:" line per session).
void expect_each_run_trained_once(const std::string& db_path, const std::string& name, int attempts = 1) {
  auto db = dlcm::storage::open_central(db_path);
  const auto runs = dlcm::storage::sweep_runs(db, name);
  ASSERT_FALSE(runs.empty());
  for (const auto& r : runs) {
    EXPECT_EQ(r.status, "completed") << r.hash;
    EXPECT_EQ(r.steps_done, r.steps) << r.hash;
    EXPECT_EQ(r.attempts, attempts) << r.hash;
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM metrics WHERE hash = ? AND split = 'train' AND name = 'loss'", r.hash),
              r.steps) << r.hash;
    EXPECT_EQ(scalar(db, "SELECT count(DISTINCT step) FROM metrics WHERE hash = ? AND split = 'train' AND name = 'loss'",
                     r.hash), r.steps) << r.hash;
  }
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM claims WHERE ? = ?", ""), 0) << "a claim outlived its run";
}

class ManyHands : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { g_root = dlcm::test::root_with_corpus("many-hands"); }
  static void TearDownTestSuite() { fs::remove_all(g_root); }

  // N orchestrators started together on one sweep: all exit 0, each run trained once in one
  // session and one attempt, and the orchestrators' progress lines name what the others hold.
  static void share(const std::string& name, int n, const std::string& budgets) {
    const auto spec = write_spec(name, budgets);
    const auto db = (g_root / (name + ".db")).string();
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) pids.push_back(start(sweep_run(db, spec), g_root / log_name(name, i)));
    for (int i = 0; i < n; ++i) EXPECT_EQ(wait_exit(pids[i]), 0) << read_text(g_root / log_name(name, i));
    expect_each_run_trained_once(db, name);
    int sessions = 0, runs = 0, attempts_recorded = 0, lines_naming_another = 0;
    auto central = dlcm::storage::open_central_readonly(db);
    for (const auto& r : dlcm::storage::sweep_runs(central, name)) {
      runs += 1;
      const int s = count(read_text(fs::path(r.run_dir) / "log.txt"), "dlcm train:");
      EXPECT_EQ(s, 1) << r.hash << " trained in " << s << " sessions";
      sessions += s;
      const auto history = dlcm::storage::attempt_history(central, r.hash);
      attempts_recorded += static_cast<int>(history.size());
      ASSERT_EQ(history.size(), 1u) << r.hash;
      EXPECT_EQ(history[0].reason, "completed");
      EXPECT_EQ(history[0].exit_code, 0);
    }
    for (int i = 0; i < n; ++i) {
      const auto log = read_text(g_root / log_name(name, i));
      for (int j = 0; j < n; ++j)
        if (j != i && log.find("held by others:") != std::string::npos &&
            log.find(":" + std::to_string(pids[j]) + ")") != std::string::npos)
          lines_naming_another += 1;
    }
    EXPECT_GE(lines_naming_another, 1) << "no orchestrator's progress named what another held";
    std::printf("%d orchestrators on one sweep: %d runs, %d trainer sessions, %d attempts recorded, all exits 0; "
                "%d progress logs named another's runs\n",
                n, runs, sessions, attempts_recorded, lines_naming_another);
  }
  static std::string log_name(const std::string& name, int i) { return name + "-" + std::to_string(i) + ".log"; }
};

}  // namespace

TEST_F(ManyHands, TwoOrchestratorsOnOneSweepTrainEachRunOnce) { share("two", 2, "[1e9, 3e9]"); }

TEST_F(ManyHands, ThreeOrchestratorsOnOneSweepTrainEachRunOnce) { share("three", 3, "[1e9, 2e9, 3e9]"); }

TEST_F(ManyHands, StatusAndCollectPolledDuringASweepNeverMoveARunBackwards) {
  const auto spec = write_spec("poll", "[1e10, 3e10]");
  const auto db = (g_root / "poll.db").string();
  // First a sweep interrupted mid-run: its run directory says "interrupted" while it is resumed,
  // which an ingest that settled unfinished runs would take for pending.
  const pid_t first = start(sweep_run(db, spec), g_root / "poll-first.log");
  bool checkpointed = false;
  for (int i = 0; i < 2400 && !checkpointed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(g_root / "poll", ec)) checkpointed = checkpointed || fs::exists(d.path() / "checkpoint.pt");
  }
  ASSERT_TRUE(checkpointed);
  kill(first, SIGINT);
  ASSERT_EQ(wait_exit(first), 130) << read_text(g_root / "poll-first.log");
  const pid_t a = start(sweep_run(db, spec), g_root / "poll-a.log");
  const pid_t b = start(sweep_run(db, spec), g_root / "poll-b.log");
  static const std::map<std::string, int> rank = {{"pending", 0}, {"running", 1}, {"completed", 2}};
  std::map<std::string, int> seen;  // each run's furthest state so far
  int polls = 0, regressions = 0;
  std::set<std::string> states;
  int code_a = -1, code_b = -1;
  for (bool a_on = true, b_on = true; a_on || b_on;) {
    // Both readers of the issue: status (reads only) and collect (settles only what is final).
    const auto shown = dlcm::test::run_command(std::string(DLCM_BIN) + " sweep status --json --db " + db + " poll 2>&1");
    if (shown.code != 0) {
      EXPECT_EQ(polls, 0) << shown.out;  // only before the orchestrators have registered the sweep
    } else {
      if (polls % 2 == 1) dlcm::test::run_command(std::string(DLCM_BIN) + " sweep collect --db " + db + " poll >/dev/null 2>&1");
      for (const auto& r : json::parse(shown.out)) {
        const std::string s = r["status"];
        states.insert(s);
        ASSERT_TRUE(rank.count(s)) << "unexpected status " << s;
        const std::string h = r["hash"];
        if (seen.count(h) && rank.at(s) < seen[h]) regressions += 1;
        seen[h] = std::max(seen[h], rank.at(s));
      }
      polls += 1;
    }
    // waitpid reaps: note each exit status as it comes.
    int st = 0;
    if (a_on && waitpid(a, &st, WNOHANG) == a) a_on = false, code_a = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (b_on && waitpid(b, &st, WNOHANG) == b) b_on = false, code_b = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  EXPECT_EQ(code_a, 0) << read_text(g_root / "poll-a.log");
  EXPECT_EQ(code_b, 0) << read_text(g_root / "poll-b.log");
  EXPECT_EQ(regressions, 0);
  EXPECT_GE(polls, 2);
  expect_each_run_trained_once(db, "poll");
  std::printf("status/collect polled %d times during a 2-orchestrator sweep: %d regressions (states seen: %zu)\n", polls,
              regressions, states.size());
}

TEST_F(ManyHands, AnOrchestratorKilledMidSweepHasItsClaimsTakenOverWithoutSpendingAttempts) {
  const auto spec = write_spec("killed", "[1e10, 2e10, 3e10]");
  const auto db = (g_root / "killed.db").string();
  const pid_t a = start(sweep_run(db, spec), g_root / "killed-a.log");
  const pid_t b = start(sweep_run(db, spec), g_root / "killed-b.log");
  // Kill b once a run it holds has checkpointed (its worker then stops at SIGTERM, orphaned).
  std::string victim;
  for (int i = 0; i < 2400 && victim.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (!fs::exists(db)) continue;
    try {
      auto central = dlcm::storage::open_central_readonly(db);
      for (const auto& [hash, c] : dlcm::storage::sweep_claims(central, "killed"))
        if (c.holder.pid == b && c.attempt > 0 && fs::exists(g_root / "killed" / hash / "checkpoint.pt")) victim = hash;
    } catch (const std::exception&) {  // not yet a dlcm database
    }
  }
  ASSERT_FALSE(victim.empty()) << "b never checkpointed a run of its own";
  ASSERT_EQ(kill(b, SIGKILL), 0);
  EXPECT_EQ(wait_exit(b), -SIGKILL);
  // b restarted while a still runs: between them they finish the sweep.
  const pid_t b2 = start(sweep_run(db, spec), g_root / "killed-b2.log");
  EXPECT_EQ(wait_exit(a), 0) << read_text(g_root / "killed-a.log");
  EXPECT_EQ(wait_exit(b2), 0) << read_text(g_root / "killed-b2.log");
  // Every run one real attempt: the killed holder's try is in the history, not counted.
  expect_each_run_trained_once(db, "killed");
  auto central = dlcm::storage::open_central_readonly(db);
  const auto history = dlcm::storage::attempt_history(central, victim);
  ASSERT_GE(history.size(), 2u);
  EXPECT_EQ(history.front().holder.pid, b);
  EXPECT_FALSE(history.front().counted);
  EXPECT_TRUE(history.front().reason == "orphaned" || history.front().reason == "interrupted") << history.front().reason;
  EXPECT_EQ(history.back().reason, "completed");
  const auto log = read_text(g_root / "killed" / victim / "log.txt");
  EXPECT_NE(log.find("resumed from"), std::string::npos) << log;
  int sessions = 0;
  for (const auto& r : dlcm::storage::sweep_runs(central, "killed")) {
    const int s = count(read_text(fs::path(r.run_dir) / "log.txt"), "dlcm train:");
    EXPECT_LE(s, r.hash == victim ? 2 : 1) << r.hash;  // trained again only from the orphan's checkpoint
    sessions += s;
  }
  const auto shown = dlcm::test::run_command(std::string(DLCM_BIN) + " sweep status --db " + db + " killed --run " + victim);
  EXPECT_EQ(shown.code, 0);
  EXPECT_NE(shown.out.find("orphaned*"), std::string::npos) << shown.out;
  std::printf("orchestrator SIGKILLed holding %s: %zu attempts recorded for it (first not counted), %d trainer "
              "sessions over the sweep, all runs completed with 1 attempt\n",
              victim.substr(0, 8).c_str(), history.size(), sessions);
}

TEST_F(ManyHands, AStoppedWorkerIsKilledAsHungAndItsRunFinishedFromItsCheckpoint) {
  const auto spec = write_spec("hung", "[6e10]");
  const auto db = (g_root / "hung.db").string();
  const pid_t o = start(sweep_run(db, spec, {"--hung-after", "4"}), g_root / "hung.log");
  // The worker names itself in its heartbeat; stop it once it is past its first checkpoint.
  pid_t worker = 0;
  std::string victim;
  for (int i = 0; i < 2400 && !worker; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(g_root / "hung", ec)) {
      const auto beat = json::parse(read_text(d.path() / "heartbeat.json"), nullptr, false);
      if (!beat.is_object() || beat.value("step", 0) < 10 || !fs::exists(d.path() / "checkpoint.pt")) continue;
      worker = beat.value("pid", 0);
      victim = d.path().filename().string();
    }
  }
  ASSERT_GT(worker, 0) << "no worker got past its first checkpoint";
  ASSERT_EQ(kill(worker, SIGSTOP), 0);
  EXPECT_EQ(wait_exit(o), 0) << read_text(g_root / "hung.log");
  EXPECT_NE(kill(worker, 0), 0) << "the stopped worker is still there";
  auto central = dlcm::storage::open_central_readonly(db);
  for (const auto& r : dlcm::storage::sweep_runs(central, "hung")) {
    EXPECT_EQ(r.status, "completed") << r.hash;
    EXPECT_EQ(r.steps_done, r.steps);
    EXPECT_EQ(r.attempts, r.hash == victim ? 2 : 1) << r.hash;  // a hang is a real try
  }
  const auto history = dlcm::storage::attempt_history(central, victim);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].reason, "hung");
  EXPECT_EQ(history[0].exit_code, -SIGKILL);
  EXPECT_EQ(history[1].reason, "completed");
  EXPECT_NE(read_text(g_root / "hung" / victim / "log.txt").find("resumed from"), std::string::npos);
  EXPECT_NE(read_text(g_root / "hung.log").find("killed as hung"), std::string::npos);
  const auto shown = dlcm::test::run_command(std::string(DLCM_BIN) + " sweep status --json --db " + db + " hung --run " +
                                             victim.substr(0, 8));
  ASSERT_EQ(shown.code, 0);
  const auto j = json::parse(shown.out);
  EXPECT_EQ(j["history"].size(), 2u);
  EXPECT_EQ(j["history"][0]["reason"], "hung");
  std::printf("worker SIGSTOPped at step >= 10: killed as hung after 4 s without a heartbeat, run resumed and "
              "completed (attempts 2: hung, completed)\n");
}

TEST_F(ManyHands, ATrainerStartedByHandIsLeftAloneAndASecondOneExitsFive) {
  const auto spec_path = write_spec("byhand", "[3e10]");
  const auto db = (g_root / "byhand.db").string();
  const auto spec = dlcm::sweeps::load_spec(spec_path);
  const auto plan = dlcm::sweeps::plan(spec);
  ASSERT_EQ(plan.runs.size(), 2u);
  const auto& run = plan.runs.back();
  const auto dir = g_root / "byhand" / run.hash;
  dlcm::sweeps::prepare_run_dir(dir.string(), run.cfg);
  const std::vector<std::string> train = {"train", "--quiet", "--threads", "1", "--config", (dir / "config.toml").string(),
                                          "--run-dir", dir.string()};
  const pid_t hand = start(train, g_root / "byhand-train.log");
  for (int i = 0; i < 2400 && !fs::exists(dir / "heartbeat.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ASSERT_TRUE(fs::exists(dir / "heartbeat.json"));
  // A second trainer on that directory tries nothing and says so with its own exit status.
  const pid_t second = start(train, g_root / "byhand-second.log");
  EXPECT_EQ(wait_exit(second), 5);
  EXPECT_NE(read_text(g_root / "byhand-second.log").find("run directory is in use"), std::string::npos);
  // The sweep trains the other run, waits for the hand-started one and takes its result.
  const pid_t o = start(sweep_run(db, spec_path), g_root / "byhand.log");
  EXPECT_EQ(wait_exit(hand), 0) << read_text(g_root / "byhand-train.log");
  EXPECT_EQ(wait_exit(o), 0) << read_text(g_root / "byhand.log");
  auto central = dlcm::storage::open_central_readonly(db);
  for (const auto& r : dlcm::storage::sweep_runs(central, "byhand")) {
    EXPECT_EQ(r.status, "completed") << r.hash;
    EXPECT_EQ(r.attempts, r.hash == run.hash ? 0 : 1) << r.hash;  // trained by hand: no launcher's attempt
    EXPECT_EQ(count(read_text(fs::path(r.run_dir) / "log.txt"), "dlcm train:"), 1) << r.hash;
  }
}
