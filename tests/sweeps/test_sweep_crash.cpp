// A sweep survives its orchestrator: killed with every worker mid-way and re-run, each run ends
// exactly once with the rows of a clean run. Diverging runs are recorded and left out of fits.
// Hostile names (quotes, $(), backticks, semicolons, newlines, non-ASCII) are only ever data.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "corpus_fixture.hpp"
#include "storage/central.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using dlcm::test::shell_quote;

namespace {

fs::path g_root;

std::string cli(const std::string& args) { return std::string(DLCM_BIN) + " " + args; }

std::string sh(const std::string& cmd, int* code = nullptr) {
  const auto r = dlcm::test::run_command(cmd);
  if (code) *code = r.code;
  return r.out;
}

// A TOML basic string: the spec carries names as data, escapes included.
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\\\"") : c == '\\' ? std::string("\\\\") : c == '\n' ? std::string("\\n") : std::string(1, c);
  return out + "\"";
}

std::string spec(const std::string& name, const fs::path& runs_dir, const std::string& budgets,
                 const std::string& lrs = "[3e-3]") {
  return "name = " + toml_string(name) + "\nbudgets = " + budgets + "\nruns_dir = " + toml_string(runs_dir.string()) +
         "\nmin_steps = 5\nevals = 1\n[grid]\nd_token = [32]\nbaseline_layers = [2]\nd_concept = [32]\n"
         "ratio = [1, 4]\nlr = " + lrs + "\n[base.model]\nseq_len = 64\nn_heads_token = 2\nn_heads_concept = 2\n"
         "concept_layers = 1\n[base.train]\nbatch_size = 4\neval_windows = 2\n[base.data]\ndir = " +
         toml_string((g_root / "corpus").string()) + "\n";
}

std::string write(const std::string& file, const std::string& text) {
  const auto p = g_root / file;
  std::ofstream(p) << text;
  return p.string();
}

// Every exported column but the sweep's name: what a run produced.
json runs_by_hash(const std::string& export_json) {
  json out = json::object();
  for (auto r : json::parse(export_json)) {
    r.erase("sweep");
    out[r["hash"].get<std::string>()] = r;
  }
  return out;
}

int64_t scalar(dlcm::storage::Database& db, const std::string& sql, const std::string& arg) {
  dlcm::storage::Statement st(db.handle(), sql);
  st.bind(1, arg);
  st.step();
  return st.column_int(0);
}

class SweepCrash : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_root = dlcm::test::root_with_corpus("sweep-crash");
  }
  static void TearDownTestSuite() { fs::remove_all(g_root); }
};

}  // namespace

TEST_F(SweepCrash, KillingTheOrchestratorAndItsWorkersThenReRunningFinishesEveryRunOnce) {
  const std::string budgets = "[1e9, 3e9]";
  const auto clean_spec = write("clean.toml", spec("clean", g_root / "clean", budgets));
  const auto crash_spec = write("crashed.toml", spec("crashed", g_root / "crashed", budgets));
  const auto clean_db = (g_root / "clean.db").string(), crash_db = (g_root / "crashed.db").string();
  int code = -1;
  sh(cli("sweep run --quiet --workers 2 --threads 1 --db " + clean_db + " " + clean_spec), &code);
  ASSERT_EQ(code, 0);

  // The orchestrator in its own process group, so one kill takes it and every worker at once.
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDERR_FILENO);
    execl(DLCM_BIN, DLCM_BIN, "sweep", "run", "--quiet", "--workers", "2", "--threads", "1", "--db", crash_db.c_str(),
          crash_spec.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  // Kill once a run has finished and another is between checkpoints.
  auto moment = [&] {
    int finished = 0, midway = 0;
    std::error_code ec;
    for (auto& d : fs::directory_iterator(g_root / "crashed", ec)) {
      if (fs::exists(d.path() / "result.json")) finished += 1;
      else if (fs::exists(d.path() / "checkpoint.pt")) midway += 1;
    }
    return finished >= 1 && midway >= 1;
  };
  for (int i = 0; i < 1200 && !moment(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ASSERT_EQ(kill(-pid, SIGKILL), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the workers are gone too
  const auto before = json::parse(sh(cli("sweep status --json --db " + crash_db + " crashed")));
  int unfinished = 0;
  for (const auto& r : before) unfinished += r["status"] != "completed";
  EXPECT_GE(unfinished, 1) << before.dump();

  sh(cli("sweep run --quiet --workers 2 --threads 1 --db " + crash_db + " " + crash_spec), &code);
  ASSERT_EQ(code, 0);
  const auto after = json::parse(sh(cli("sweep status --json --db " + crash_db + " crashed")));
  ASSERT_EQ(after.size(), 4u);
  auto db = dlcm::storage::open_central(crash_db);
  for (const auto& r : after) {
    const std::string hash = r["hash"];
    EXPECT_EQ(r["status"], "completed") << r.dump();
    EXPECT_EQ(r["steps_done"], r["steps"]);
    EXPECT_GE(r["attempts"].get<int>(), 1);
    EXPECT_LE(r["attempts"].get<int>(), 2);  // at most the killed attempt and the one that finished
    // One training-loss row per step, steps 1..steps, nothing twice and nothing past the end.
    const int64_t steps = r["steps"];
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM metrics WHERE hash = ? AND split = 'train' AND name = 'loss'", hash), steps);
    EXPECT_EQ(scalar(db, "SELECT count(DISTINCT step) FROM metrics WHERE hash = ? AND split = 'train' AND name = 'loss'", hash), steps);
    EXPECT_EQ(scalar(db, "SELECT max(step) FROM metrics WHERE hash = ?", hash), steps);
  }
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM runs WHERE status = 'running' AND ? = ?", ""), 0);
  // The same runs, bit for bit, as the sweep nobody killed (same threads, same seeds).
  const auto clean = runs_by_hash(sh(cli("export clean --format json --db " + clean_db)));
  const auto crashed = runs_by_hash(sh(cli("export crashed --format json --db " + crash_db)));
  EXPECT_EQ(crashed, clean);
  std::printf("orchestrator kill: %d of 4 runs unfinished at the kill; all 4 completed once on re-run\n", unfinished);
}

TEST_F(SweepCrash, ADivergingRunIsMarkedDivergedAndLeftOutOfTheFit) {
  // lr = 30 blows every run at that rate up; the sweep goes on with the others.
  const auto path = write("diverge.toml", spec("diverge", g_root / "diverge", "[5e8, 1e9]", "[3e-3, 30]"));
  const auto db = (g_root / "diverge.db").string();
  int code = -1;
  sh(cli("sweep run --quiet --workers 2 --threads 1 --db " + db + " " + path), &code);
  EXPECT_EQ(code, 0);
  int completed = 0, diverged = 0;
  for (const auto& r : json::parse(sh(cli("sweep status --json --db " + db + " diverge")))) {
    const bool big_lr = r["label"].get<std::string>().find("lr30") != std::string::npos;
    EXPECT_EQ(r["status"], big_lr ? "diverged" : "completed") << r.dump();
    (r["status"] == "diverged" ? diverged : completed) += 1;
  }
  EXPECT_EQ(completed, 4);
  EXPECT_EQ(diverged, 4);
  const auto fit = json::parse(sh(cli("fit --sweep diverge --law chinchilla --runs baseline --json --threads 1 --db " + db), &code));
  EXPECT_EQ(code, 0);
  EXPECT_EQ(fit["n_points"], 2);
  EXPECT_EQ(fit["source"]["excluded_diverged"].size(), 4u);
  const auto text = sh(cli("fit --sweep diverge --law chinchilla --runs baseline --threads 1 --db " + db));
  EXPECT_NE(text.find("excluded 4 diverged runs"), std::string::npos) << text;
}

TEST_F(SweepCrash, HostileNamesAndPathsAreOnlyData) {
  const fs::path mark = g_root / "INJECTED";
  const std::string payload = "$(touch " + mark.string() + ") `touch " + mark.string() + "`; touch " + mark.string();
  const std::string name = "q'\"" + payload + "\nline two — 名前 ü";
  const fs::path runs_dir = g_root / ("runs \"'" + payload + "\n é");
  const auto path = write("hostile.toml", spec(name, runs_dir, "[5e8, 1e9]"));
  const auto db = (g_root / "hostile.db").string();
  int code = -1;
  sh(cli("sweep plan --no-calibrate " + shell_quote(path)), &code);
  EXPECT_EQ(code, 0);
  sh(cli("sweep run --quiet --workers 2 --threads 1 --db " + shell_quote(db) + " " + shell_quote(path)), &code);
  EXPECT_EQ(code, 0);
  const auto status = json::parse(sh(cli("sweep status --json --db " + shell_quote(db) + " " + shell_quote(name)), &code));
  EXPECT_EQ(code, 0);
  ASSERT_EQ(status.size(), 4u);
  for (const auto& r : status) {
    EXPECT_EQ(r["status"], "completed");
    EXPECT_TRUE(fs::exists(runs_dir / r["hash"].get<std::string>() / "result.json"));
  }
  const auto exported = json::parse(sh(cli("export --format json --db " + shell_quote(db) + " " + shell_quote(name))));
  ASSERT_EQ(exported.size(), 4u);
  EXPECT_EQ(exported[0]["sweep"], name);
  const auto csv = sh(cli("export --format csv --db " + shell_quote(db) + " " + shell_quote(name)));
  std::string quoted = "\"";  // CSV quoting: the name's quote doubled, its newline inside the field
  for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  EXPECT_NE(csv.find(quoted + "\","), std::string::npos) << csv;
  const auto fit = json::parse(sh(cli("fit --sweep " + shell_quote(name) + " --law chinchilla --runs baseline --json --threads 1 --db " +
                                       shell_quote(db)), &code));
  EXPECT_EQ(code, 0);
  EXPECT_EQ(fit["source"]["sweep"], name);
  EXPECT_FALSE(fs::exists(mark)) << "a name was run as a command";
}
