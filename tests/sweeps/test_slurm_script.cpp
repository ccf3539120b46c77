// The Slurm launcher's parts that need no Slurm: the generated batch script keeps hostile values as
// data (run through the real bash), Slurm's answers are parsed, and a run's state is settled only
// by the run itself.
#include <gtest/gtest.h>

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
  const auto s = parse_task_states("12_3|RUNNING\n12_[4-6,9%2]|PENDING\n13_0|CANCELLED by 0\n13.batch|x\nnoise\n");
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s.at({12, 3}), "RUNNING");
  for (int i : {4, 5, 6, 9}) EXPECT_EQ(s.at({12, i}), "PENDING") << i;
  EXPECT_EQ(s.at({13, 0}), "CANCELLED");
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
}

