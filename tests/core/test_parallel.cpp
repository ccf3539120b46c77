// Where a training process sits in a data-parallel run: explicit options, an srun step, or alone.
#include <gtest/gtest.h>

#include <stdexcept>

#include "core/parallel.hpp"
#include "test_util.hpp"

using namespace dlcm;

namespace {

// The environment srun gives task `rank` of a two-task step of job 77.
Environment srun_task(int rank) {
  return {{"SLURM_JOB_ID", "77"},      {"SLURM_STEP_ID", "3"},         {"SLURM_PROCID", std::to_string(rank)},
          {"SLURM_LOCALID", "0"},      {"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_NTASKS", "2"},
          {"SLURM_CPUS_PER_TASK", "3"}};
}

ParallelRequest in_run_dir() {
  ParallelRequest r;
  r.run_dir = "/runs/a";
  return r;
}

std::string error_of(const ParallelRequest& req, const Environment& env) {
  return test::error_of([&] { resolve_parallel(req, env); });
}

}  // namespace

TEST(Parallel, AloneWhenNeitherOptionsNorSrunSayOtherwise) {
  const Parallel p = resolve_parallel(in_run_dir(), {});
  EXPECT_EQ(p.rank, 0);
  EXPECT_EQ(p.world_size, 1);
  EXPECT_EQ(p.threads, 0);
  EXPECT_EQ(p.rendezvous, "");
  EXPECT_EQ(p.source, "single");
}

TEST(Parallel, SrunTaskTakesRankWorldThreadsAndAFileStoreInTheRunDirectory) {
  auto env = srun_task(1);
  env["SLURM_LOCALID"] = "1";
  const Parallel p = resolve_parallel(in_run_dir(), env);
  EXPECT_EQ(p.rank, 1);
  EXPECT_EQ(p.world_size, 2);
  EXPECT_EQ(p.local_rank, 1);
  EXPECT_EQ(p.threads, 3);  // Slurm does not pin threads: the allocation's CPUs per task
  EXPECT_EQ(p.rendezvous, "/runs/a/.rendezvous-77.3.0");
  EXPECT_EQ(p.source, "slurm");
  // Both tasks of the step meet at the same file.
  EXPECT_EQ(resolve_parallel(in_run_dir(), srun_task(0)).rendezvous, p.rendezvous);
}

TEST(Parallel, RequeuedJobMeetsAtAFreshStoreFile) {
  auto env = srun_task(0);
  env["SLURM_RESTART_COUNT"] = "2";
  EXPECT_EQ(resolve_parallel(in_run_dir(), env).rendezvous, "/runs/a/.rendezvous-77.3.2");
}

TEST(Parallel, BatchScriptWithoutSrunTrainsAlone) {
  // sbatch --ntasks=4 exports SLURM_NTASKS and SLURM_PROCID to the script itself, but no step id.
  Environment env = {{"SLURM_JOB_ID", "77"}, {"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "0"},
                     {"SLURM_CPUS_PER_TASK", "2"}};
  const Parallel p = resolve_parallel(in_run_dir(), env);
  EXPECT_EQ(p.world_size, 1);
  EXPECT_EQ(p.threads, 2);
}

TEST(Parallel, OneTaskStepIsAlone) {
  auto env = srun_task(0);
  env["SLURM_STEP_NUM_TASKS"] = env["SLURM_NTASKS"] = "1";
  EXPECT_EQ(resolve_parallel(in_run_dir(), env).world_size, 1);
}

TEST(Parallel, ExplicitOptionsWinOverSlurm) {
  auto req = in_run_dir();
  req.rank = 3;
  req.world_size = 4;
  req.rendezvous = "node7:29500";
  req.threads = 5;
  const Parallel p = resolve_parallel(req, srun_task(1));
  EXPECT_EQ(p.rank, 3);
  EXPECT_EQ(p.world_size, 4);
  EXPECT_EQ(p.rendezvous, "node7:29500");
  EXPECT_EQ(p.threads, 5);
  EXPECT_EQ(p.source, "options");
}

TEST(Parallel, GlooInterfaceComesFromTheEnvironment) {
  EXPECT_EQ(resolve_parallel(in_run_dir(), {{"GLOO_SOCKET_IFNAME", "ib0"}}).interface, "ib0");
}

TEST(Parallel, BadOptionsAndVariablesAreNamed) {
  auto req = in_run_dir();
  req.rank = 0;
  EXPECT_NE(error_of(req, {}).find("--world-size"), std::string::npos);
  req.world_size = 2;
  EXPECT_NE(error_of(req, {}).find("--rendezvous"), std::string::npos);
  req.rendezvous = "127.0.0.1:4000";
  req.rank = 2;
  EXPECT_NE(error_of(req, {}).find("--rank: 2 is not below --world-size 2"), std::string::npos);
  req.rank = -1;
  EXPECT_NE(error_of(req, {}).find("--rank: required"), std::string::npos);
  EXPECT_NE(error_of(in_run_dir(), {{"SLURM_CPUS_PER_TASK", "two"}}).find("SLURM_CPUS_PER_TASK"), std::string::npos);
  auto env = srun_task(0);
  env["SLURM_PROCID"] = "5";
  EXPECT_NE(error_of(in_run_dir(), env).find("SLURM_PROCID: 5"), std::string::npos);
}

TEST(Parallel, HostPortIsTcpAnythingWithASlashIsAFile) {
  const auto ep = tcp_endpoint("node1:29500");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->first, "node1");
  EXPECT_EQ(ep->second, 29500);
  EXPECT_FALSE(tcp_endpoint("/tmp/rdzv"));
  EXPECT_FALSE(tcp_endpoint("./rdzv:12"));
  EXPECT_FALSE(tcp_endpoint("node1:0"));
  EXPECT_FALSE(tcp_endpoint("node1:port"));
  EXPECT_FALSE(tcp_endpoint(":29500"));
}

TEST(Parallel, BatchMustSplitEvenlyOverRanksAndMicroBatches) {
  EXPECT_NO_THROW(check_batch_split(8, 2, 2, "c.toml"));
  try {
    check_batch_split(8, 1, 3, "c.toml");
    FAIL() << "8 rows do not split over 3 ranks";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("c.toml: train.batch_size: 8", 0), 0u) << e.what();
  }
}
