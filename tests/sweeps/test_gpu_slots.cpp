// Packing runs onto GPUs (`dlcm sweep run --device cuda --runs-per-gpu K`): which GPUs are
// visible, and which one the next run goes to. The CUDA run itself needs a GPU machine.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "storage/central.hpp"
#include "sweeps/launcher.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using dlcm::sweeps::pick_gpu;
using dlcm::sweeps::visible_gpus;

TEST(GpuSlots, CudaVisibleDevicesNamesTheGpusInItsOrder) {
  EXPECT_EQ(visible_gpus("2, 0,GPU-5a1c", "/nonexistent"), (std::vector<std::string>{"2", "0", "GPU-5a1c"}));
  EXPECT_TRUE(visible_gpus("", "/nonexistent").empty());  // set but empty: no GPU, as CUDA reads it
}

TEST(GpuSlots, WithoutTheVariableEveryDriverListedGpuIsVisible) {
  const auto dir = dlcm::test::temp_dir("proc-gpus");
  for (const char* bus : {"0000:17:00.0", "0000:65:00.0", "0000:ca:00.0"}) fs::create_directories(dir / bus);
  EXPECT_EQ(visible_gpus(nullptr, dir.string()), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_TRUE(visible_gpus(nullptr, (dir / "absent").string()).empty());
}

TEST(GpuSlots, RunsGoToTheLeastLoadedGpuUntilEachHoldsK) {
  std::vector<int> load(3, 0);
  std::vector<int> order;
  for (int i = 0; i < 6; ++i) {
    const int g = pick_gpu(load, 2);
    ASSERT_GE(g, 0);
    load[g] += 1;
    order.push_back(g);
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(pick_gpu(load, 2), -1);  // all full
  load[1] -= 1;                      // a run on GPU 1 finished
  EXPECT_EQ(pick_gpu(load, 2), 1);
}

TEST(GpuSlots, ASweepAskedToRunOnCudaWithoutGpusRefusesBeforeTouchingTheDatabase) {
  const auto dir = dlcm::test::temp_dir("cuda-refused");
  const auto spec = dir / "demo.toml";
  std::ofstream(spec) << "name = \"demo\"\nbudgets = [1e11]\n[grid]\nd_token = [32]\nratio = [1, 4]\n"
                         "[base.model]\nseq_len = 32\nn_heads_token = 2\nn_heads_concept = 2\n[base.data]\ndir = \"corpus\"\n";
  const auto r = dlcm::test::run_command("CUDA_VISIBLE_DEVICES= " + std::string(DLCM_BIN) + " sweep run " +
                                         dlcm::test::shell_quote(spec.string()) +
                                         " --device cuda --db " + dlcm::test::shell_quote((dir / "x.db").string()) + " 2>&1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--device cuda: no GPU visible"), std::string::npos) << r.out;
  auto db = dlcm::storage::open_central((dir / "x.db").string());
  EXPECT_FALSE(dlcm::storage::sweep_exists(db, "demo"));
}
