// The Slurm launcher's parts that need no Slurm: the generated batch script keeps hostile values as
// data (run through the real bash), Slurm's answers are parsed, and a run's state is settled only
// by the run itself.
#include <gtest/gtest.h>

#include <ctime>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sweeps/slurm.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace dlcm::sweeps;
using dlcm::test::run_command;
using dlcm::test::temp_dir;

namespace {

// Values that would run code if they ever reached the shell unquoted; each would touch `marker`.
std::vector<std::string> hostile(const fs::path& marker) {
  const std::string m = marker.string();
  return {"it's a 'quoted' \"name\"",
          "$(touch " + m + ")",
          "`touch " + m + "`",
          "a b\nc; touch " + m + "\n",
          "'; touch " + m + "; echo '",
          "\\'$(touch " + m + ")\\",
          "ünïcødé 日本語 $HOME ${PATH} %a %j",
          ""};
}

BatchScript script_for(const std::string& v) {
  BatchScript b;
  b.job_name = "dlcm-test";
  b.trainer_binary = "/bin/" + v;
  b.workdir = v + "/work";
  b.runs_dir = "/runs/" + v;
  b.submission_dir = "/runs/" + v + "/slurm/1";
  b.tasks = 5;
  return b;
}

}  // namespace

TEST(SlurmScript, HostileValuesStayDataThroughBash) {
  const auto dir = temp_dir("slurm-quote");
  const auto marker = dir / "pwned";
  for (const auto& v : hostile(marker)) {
    const auto b = script_for(v);
    // The script's value assignments, run by bash, give back exactly the values: nothing ran.
    std::string text = batch_script(b);
    text = text.substr(0, text.find("task=$SLURM_ARRAY_TASK_ID"));
    text += R"(printf '%s\0' "$trainer" "$workdir" "$runs" "$sub")";
    std::ofstream(dir / "s.sh") << text;
    const auto r = run_command("bash " + (dir / "s.sh").string());
    EXPECT_EQ(r.code, 0) << v;
    EXPECT_EQ(r.out, b.trainer_binary + '\0' + b.workdir + '\0' + b.runs_dir + '\0' + b.submission_dir + '\0') << v;
    const auto q = run_command("bash -c " + dlcm::test::shell_quote("printf %s " + shell_quote(v)));
    EXPECT_EQ(q.out, v);
    EXPECT_FALSE(fs::exists(marker)) << "injected command ran for: " << v;
  }
}

TEST(SlurmScript, DirectivesCarryTheRequest) {
  auto b = script_for("x");
  b.opt.max_running = 2;
  b.opt.cpus_per_task = 3;
  b.opt.partition = "debug";
  b.opt.time = "1:00:00";
  const auto s = batch_script(b);
  for (const char* line : {"#SBATCH --array=0-4%2\n", "#SBATCH --cpus-per-task=3\n", "#SBATCH --partition=debug\n",
                           "#SBATCH --time=1:00:00\n", "#SBATCH --requeue\n", "#SBATCH --signal=B:USR1@120\n",
                           "#SBATCH --job-name=dlcm-test\n", "--threads \"${SLURM_CPUS_PER_TASK:-1}\""})
    EXPECT_NE(s.find(line), std::string::npos) << line;
  EXPECT_EQ(s.find("--gpus-per-task"), std::string::npos);
  EXPECT_EQ(s.find("--device cuda"), std::string::npos);
  b.opt.max_running = 0;
  b.opt.gpus_per_task = 1;
  const auto g = batch_script(b);
  EXPECT_NE(g.find("#SBATCH --array=0-4\n"), std::string::npos);
  EXPECT_NE(g.find("#SBATCH --gpus-per-task=1\n"), std::string::npos);
  EXPECT_NE(g.find("--device cuda &\n"), std::string::npos);
  const auto r = run_command("bash -n /dev/stdin <<'EOF'\n" + g + "EOF\n");
  EXPECT_EQ(r.code, 0);
}

TEST(SlurmScript, TaskStatesParseFromSacctAndSqueue) {
  const auto s = parse_task_states(
      "12_3|RUNNING|2026-11-30T12:30:01\n12_[4-6,9%2]|PENDING|N/A\n13_0|CANCELLED by 0|Unknown\n13.batch|x\nnoise\n"
      "14_1|COMPLETED\n");
  ASSERT_EQ(s.size(), 7u);
  EXPECT_EQ(s.at({12, 3}).state, "RUNNING");
  std::tm tm{};
  tm.tm_year = 126, tm.tm_mon = 10, tm.tm_mday = 30, tm.tm_hour = 12, tm.tm_min = 30, tm.tm_sec = 1, tm.tm_isdst = -1;
  EXPECT_EQ(s.at({12, 3}).started, static_cast<double>(std::mktime(&tm)));  // Slurm prints local time
  for (int i : {4, 5, 6, 9}) {
    EXPECT_EQ(s.at({12, i}).state, "PENDING") << i;
    EXPECT_FALSE(s.at({12, i}).started) << i;
  }
  EXPECT_EQ(s.at({13, 0}).state, "CANCELLED");
  EXPECT_FALSE(s.at({13, 0}).started);
  EXPECT_EQ(s.at({14, 1}).state, "COMPLETED");  // no start column: no start
}

// collect() times a task's silence from its last start, which it reads from the line the batch
// script writes to the task's log each time it starts.
TEST(SlurmScript, ATasksLastStartIsReadFromTheLineItsScriptLogs) {
  BatchScript b;
  b.tasks = 1;
  const auto script = batch_script(b);
  const auto at = script.find("echo \"$(date -u +%FT%TZ) task");
  ASSERT_NE(at, std::string::npos) << script;
  const auto echo = script.substr(at, script.find('\n', at) - at);
  const auto before = std::time(nullptr);
  const auto line = run_command("task=3 run=abc SLURM_JOB_ID=7 SLURM_RESTART_COUNT=2 bash -c " + dlcm::test::shell_quote(echo)).out;
  const auto after = std::time(nullptr);
  const auto started = task_started_at("old noise\n" + line + "2026-11-30T23:59:59Z worker exited with 0\n");
  ASSERT_TRUE(started) << line;
  EXPECT_GE(*started, static_cast<double>(before));
  EXPECT_LE(*started, static_cast<double>(after));
  // The last start wins (a requeued task's log holds every start); nothing started: nothing.
  const auto both = task_started_at("2026-11-30T10:00:00Z task 3 (job 7, restart 0) on n1: run abc\n"
                                    "2026-11-30T10:00:05Z worker exited with 4\n"
                                    "2026-11-30T12:30:01Z task 3 (job 7, restart 1) on n2: run abc\n");
  ASSERT_TRUE(both);
  EXPECT_EQ(*both, 1796041801.0);  // 2026-11-30T12:30:01Z
  EXPECT_FALSE(task_started_at(""));
  EXPECT_FALSE(task_started_at("dlcm: no run for task 3 in /x/manifest.tsv\n"));
}

namespace {

// resolve_state's answer as the word `sweep status` shows and the database stores.
std::string state(const std::string& result_status, const std::optional<std::string>& slurm_state,
                  std::optional<int> exit_code) {
  return dlcm::storage::to_string(resolve_state(result_status, slurm_state, exit_code));
}

}  // namespace

TEST(SlurmScript, OnlyTheRunSaysATaskHasEnded) {
  // The run directory's verdict wins over anything Slurm says.
  EXPECT_EQ(state("completed", std::string("RUNNING"), std::nullopt), "completed");
  EXPECT_EQ(state("diverged", std::nullopt, 3), "diverged");
  // Live tasks are queued or running, whatever an older exit record of a requeued task says.
  EXPECT_EQ(state("", std::string("PENDING"), std::nullopt), "queued");
  EXPECT_EQ(state("interrupted", std::string("REQUEUED"), 4), "queued");
  EXPECT_EQ(state("", std::string("RUNNING"), std::nullopt), "running");
  EXPECT_EQ(state("", std::string("COMPLETING"), std::nullopt), "running");
  // Ended: a checkpointed stop is resumable; anything else without a finished result failed.
  EXPECT_EQ(state("interrupted", std::string("COMPLETED"), 4), "pending");
  EXPECT_EQ(state("", std::string("FAILED"), 1), "failed");
  EXPECT_EQ(state("", std::string("COMPLETED"), 0), "failed");
  EXPECT_EQ(state("", std::string("TIMEOUT"), std::nullopt), "failed");
  EXPECT_EQ(state("", std::nullopt, std::nullopt), "failed");  // forgotten by Slurm, no record
  EXPECT_EQ(state("interrupted", std::nullopt, std::nullopt), "pending");
  EXPECT_EQ(state("", std::string("CANCELLED"), std::nullopt), "pending");
  // A trainer that found the run directory locked (exit 5) tried nothing: the run waits, uncounted.
  EXPECT_EQ(state("", std::string("COMPLETED"), 5), "pending");
  EXPECT_EQ(state("interrupted", std::string("FAILED"), 5), "pending");
}

