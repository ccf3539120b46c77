// A tiny sweep end to end through the real `dlcm` binary and a real SQLite database: every run
// recorded, a re-run does no work, a killed worker's run resumes from its checkpoint, a run added
// by `sweep extend` is trained (and submitted) besides the spec's.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "data/corpus.hpp"
#include "reports/extend.hpp"
#include "storage/central.hpp"
#include "sweeps/slurm.hpp"
#include "test_util.hpp"
#include "corpus_fixture.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path g_root;

std::string sh(const std::string& cmd, int* code = nullptr) {
  const auto r = dlcm::test::run_command(cmd);
  if (code) *code = r.code;
  return r.out;
}

std::string spec(const std::string& name, const std::string& budgets) {
  return "name = \"" + name + "\"\nbudgets = " + budgets + "\nruns_dir = \"" + (g_root / name).string() +
         "\"\nmin_steps = 5\nevals = 1\n[grid]\nd_token = [32]\nbaseline_layers = [2]\nd_concept = [32]\n"
         "ratio = [1, 4]\n[base.model]\nseq_len = 64\nn_heads_token = 2\nn_heads_concept = 2\nconcept_layers = 1\n"
         "[base.train]\nbatch_size = 4\neval_windows = 2\n[base.data]\ndir = \"" + (g_root / "corpus").string() + "\"\n";
}

class LocalSweep : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_root = dlcm::test::root_with_corpus("sweep-test");
  }
  static void TearDownTestSuite() { fs::remove_all(g_root); }
  static std::string write(const std::string& name, const std::string& text) {
    const auto p = g_root / (name + ".toml");
    std::ofstream(p) << text;
    return p.string();
  }
  static std::string dlcm(const std::string& args) { return std::string(DLCM_BIN) + " " + args; }
};

}  // namespace

TEST_F(LocalSweep, RunsEverythingOnceAndAReRunDoesNoWork) {
  const auto path = write("e2e", spec("e2e", "[1e9, 3e9]"));
  const auto db = (g_root / "e2e.db").string();
  int code = -1;
  sh(dlcm("sweep run --quiet --workers 2 --db " + db + " " + path), &code);
  ASSERT_EQ(code, 0);
  const auto status = json::parse(sh(dlcm("sweep status --json --db " + db + " e2e")));
  ASSERT_EQ(status.size(), 4u);  // 2 budgets × (baseline + DLCM R = 4)
  for (const auto& r : status) {
    EXPECT_EQ(r["status"], "completed") << r.dump();
    EXPECT_EQ(r["steps_done"], r["steps"]);
    EXPECT_EQ(r["attempts"], 1);
  }
  // Re-running: nothing trains again (attempts stay 1, run directories untouched).
  const auto mtime = fs::last_write_time(g_root / "e2e" / status[0]["hash"].get<std::string>() / "result.json");
  sh(dlcm("sweep run --quiet --db " + db + " " + path), &code);
  EXPECT_EQ(code, 0);
  for (const auto& r : json::parse(sh(dlcm("sweep status --json --db " + db + " e2e")))) EXPECT_EQ(r["attempts"], 1);
  EXPECT_EQ(fs::last_write_time(g_root / "e2e" / status[0]["hash"].get<std::string>() / "result.json"), mtime);
  // The export is one row per run, with what the fits read.
  const auto csv = sh(dlcm("export e2e --format csv --db " + db));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  EXPECT_NE(csv.find("sweep,hash,label,status,"), std::string::npos) << csv.substr(0, 200);
  for (const char* col : {",N,", ",N_total,", ",P,", ",R,", ",R_target,", ",D,", ",C,", ",C_planned,", ",loss,",
                          ",realised_ratio,"})
    EXPECT_NE(csv.find(col), std::string::npos) << col;
  const auto js = json::parse(sh(dlcm("export e2e --format json --db " + db)));
  ASSERT_EQ(js.size(), 4u);
  EXPECT_GT(js[0]["final_val_loss"].get<double>(), 0.0);
  // Chinchilla's law describes one architecture: pooling the baseline with DLCM runs is refused.
  const auto pooled = sh(dlcm("fit --sweep e2e --law chinchilla --json --threads 1 --db " + db + " 2>&1"), &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(pooled.find("give --runs baseline or --runs dlcm"), std::string::npos) << pooled;
  // The sweep feeds the fitter straight from the database, and the fit is stored there.
  const auto fit = json::parse(sh(dlcm("fit --sweep e2e --law chinchilla --runs baseline --json --threads 1 --db " + db), &code));
  EXPECT_EQ(code, 0);
  EXPECT_EQ(fit["n_points"], 2);
  EXPECT_EQ(fit["fit_id"], 1);
  EXPECT_EQ(fit["source"]["sweep"], "e2e");
  const auto again = json::parse(sh(dlcm("fit --sweep e2e --law chinchilla --runs baseline --json --threads 1 --db " + db)));
  EXPECT_EQ(again["fit_id"], 2);
  EXPECT_EQ(again["params"], fit["params"]);
  // --runs picks one architecture: the e2e sweep has one baseline and one DLCM run per budget.
  const auto base = sh(dlcm("fit --sweep e2e --law isoflop --runs baseline --db " + db + " 2>&1"), &code);
  EXPECT_NE(code, 0);  // two baseline runs at two budgets cannot make a parabola
  EXPECT_NE(base.find("budget"), std::string::npos) << base;
  const auto dl = json::parse(sh(dlcm("fit --sweep e2e --law chinchilla --runs dlcm --json --threads 1 --db " + db)));
  EXPECT_EQ(dl["n_points"], 2);
  EXPECT_EQ(dl["source"]["runs"], "dlcm");
}

TEST_F(LocalSweep, AKilledWorkersRunResumesFromItsCheckpoint) {
  const auto path = write("kill", spec("kill", "[4e9]"));
  const auto db = (g_root / "kill.db").string();
  const auto plan = json::parse(sh(dlcm("sweep plan --json --no-calibrate " + path)));
  ASSERT_EQ(plan.size(), 2u);
  const std::string victim = plan[1]["hash"];  // the DLCM run
  const int64_t steps = plan[1]["steps"];
  ASSERT_GE(steps, 40);
  const auto run_dir = g_root / "kill" / victim;
  FILE* orchestrator = popen(dlcm("sweep run --quiet --workers 1 --db " + db + " " + path + " 2>&1").c_str(), "r");
  // Wait for the victim's first checkpoint, then SIGKILL its worker mid-run.
  pid_t worker = 0;
  for (int i = 0; i < 1200 && !worker; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!fs::exists(run_dir / "checkpoint.pt")) continue;
    for (const auto& e : fs::directory_iterator("/proc")) {
      std::string c;
      try {  // a process that exits while being read fails the read (ESRCH): it is not the worker
        std::ifstream cmd(e.path() / "cmdline");
        c.assign(std::istreambuf_iterator<char>(cmd), {});
      } catch (const std::exception&) {
        continue;
      }
      if (c.find("train") != std::string::npos && c.find(run_dir.string()) != std::string::npos)
        worker = static_cast<pid_t>(std::stol(e.path().filename().string()));
    }
  }
  ASSERT_GT(worker, 0) << "worker never reached its first checkpoint";
  kill(worker, SIGKILL);
  char buf[4096];
  while (fread(buf, 1, sizeof buf, orchestrator) > 0) {
  }
  const int first = pclose(orchestrator);
  EXPECT_EQ(WEXITSTATUS(first), 2);  // a failed run is reported
  auto rows = json::parse(sh(dlcm("sweep status --json --db " + db + " kill")));
  for (const auto& r : rows)
    if (r["hash"] == victim) {
      EXPECT_EQ(r["status"], "failed");
      EXPECT_LT(r["steps_done"].get<int64_t>(), steps);
    }
  int code = -1;
  sh(dlcm("sweep run --quiet --db " + db + " " + path), &code);
  EXPECT_EQ(code, 0);
  for (const auto& r : json::parse(sh(dlcm("sweep status --json --db " + db + " kill")))) {
    EXPECT_EQ(r["status"], "completed");
    EXPECT_EQ(r["steps_done"], r["steps"]);
  }
  std::ifstream log(run_dir / "log.txt");
  std::string text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(text.find("resumed from"), std::string::npos);
}

TEST_F(LocalSweep, AnInterruptedSweepStopsWithRunsLeftInTheQueue) {
  const auto path = write("intr", spec("intr", "[1e9, 3e9]"));
  const auto db = (g_root / "intr.db").string();
  const std::string cmd = "exec " + dlcm("sweep run --quiet --workers 1 --db " + db + " " + path) + " >/dev/null 2>&1";
  const pid_t orchestrator = fork();
  ASSERT_GE(orchestrator, 0);
  if (orchestrator == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Interrupt once the first worker is running: three runs are still queued.
  for (int i = 0; i < 1200 && !(fs::exists(g_root / "intr") && !fs::is_empty(g_root / "intr")); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(orchestrator, SIGINT);
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 1200 && !exited; ++i) {  // up to a minute
    exited = waitpid(orchestrator, &status, WNOHANG) == orchestrator;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!exited) {
    kill(orchestrator, SIGKILL);
    waitpid(orchestrator, &status, 0);
  }
  ASSERT_TRUE(exited) << "the orchestrator kept waiting on its queue after SIGINT";
  EXPECT_EQ(WEXITSTATUS(status), 130);
  int pending = 0;
  for (const auto& r : json::parse(sh(dlcm("sweep status --json --db " + db + " intr")))) {
    EXPECT_NE(r["status"], "running") << r.dump();
    pending += r["status"] == "pending";
  }
  EXPECT_GE(pending, 3);
}

TEST_F(LocalSweep, RunsAddedBySweepExtendAreTrainedAndSubmittedOnce) {
  const auto path = write("added", spec("added", "[1e9]"));
  const auto db = (g_root / "added.db").string();
  int code = -1;
  sh(dlcm("sweep run --quiet --db " + db + " " + path), &code);
  ASSERT_EQ(code, 0);
  const auto sweep = dlcm::sweeps::load_spec(path);
  dlcm::reports::ExtendProposal added, stale;
  {
    auto d = dlcm::storage::open_central(db);
    // One size per family: extend proposes a smaller and a larger one of each; the smaller baseline
    // is applied, and another proposal is registered as an older version of the spec would have.
    dlcm::reports::ExtendOptions one_per_side;
    one_per_side.per_side = 1;
    auto ext = dlcm::reports::plan_extension(d, "added", one_per_side);
    for (const auto& p : ext.proposals) {
      if (p.family == "baseline" && p.side == "small") added = p;
      else if (stale.hash.empty()) stale = p;
    }
    ASSERT_FALSE(added.hash.empty() || stale.hash.empty()) << dlcm::reports::to_json(ext).dump(1);
    ext.proposals = {added};
    ASSERT_EQ(dlcm::reports::apply_extension(d, ext), 1u);
    dlcm::storage::register_sweep(d, "added", sweep.text,
                                  {{stale.hash, stale.label, dlcm::to_toml(stale.cfg), (g_root / "added" / stale.hash).string(),
                                    dlcm::name(stale.cfg.model.arch), stale.budget, stale.N, stale.P, stale.R, stale.D,
                                    stale.C, stale.flops_per_token, stale.steps}});
    // The Slurm path submits the added run, and only it (a dry run needs no Slurm: nothing was submitted before).
    dlcm::sweeps::SlurmOptions o;
    o.dry_run = true;
    o.trainer_binary = DLCM_TRAIN_BIN;
    const auto sub = dlcm::sweeps::submit_slurm(sweep, dlcm::sweeps::plan(sweep), d, o);
    EXPECT_EQ(sub.hashes, std::vector<std::string>{added.hash});
    EXPECT_NE(sub.script.find("#SBATCH --array=0-0\n"), std::string::npos) << sub.script;
  }
  sh(dlcm("sweep run --quiet --db " + db + " " + path), &code);
  ASSERT_EQ(code, 0);
  const auto status = json::parse(sh(dlcm("sweep status --json --db " + db + " added")));
  ASSERT_EQ(status.size(), 4u);  // baseline and DLCM R = 4, the added run, the stale one
  for (const auto& r : status) {
    if (r["hash"] == stale.hash) {  // planned by no version of the spec in use: left alone
      EXPECT_EQ(r["status"], "pending") << r.dump();
      EXPECT_EQ(r["attempts"], 0);
      EXPECT_EQ(r["origin"], "plan");
      continue;
    }
    EXPECT_EQ(r["status"], "completed") << r.dump();
    EXPECT_EQ(r["steps_done"], r["steps"]);
    EXPECT_EQ(r["attempts"], 1);
    EXPECT_EQ(r["origin"], r["hash"] == added.hash ? "extend" : "plan");  // register_plan keeps it
  }
  // Re-running trains nothing, and Slurm gets nothing either.
  const auto result = g_root / "added" / added.hash / "result.json";
  const auto mtime = fs::last_write_time(result);
  sh(dlcm("sweep run --quiet --db " + db + " " + path), &code);
  EXPECT_EQ(code, 0);
  for (const auto& r : json::parse(sh(dlcm("sweep status --json --db " + db + " added"))))
    EXPECT_EQ(r["attempts"], r["hash"] == stale.hash ? 0 : 1) << r.dump();
  EXPECT_EQ(fs::last_write_time(result), mtime);
  EXPECT_EQ(sh(dlcm("sweep submit --dry-run --db " + db + " " + path + " 2>&1")), "sweep added: nothing to submit\n");
  const auto table = sh(dlcm("sweep status --db " + db + " added"));
  EXPECT_NE(table.find("+" + added.label), std::string::npos) << table;
  EXPECT_NE(table.find("(+ 1 added by `sweep extend`)"), std::string::npos) << table;
}
