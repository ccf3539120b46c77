// `dlcm` hands train, inspect and mup coord-check to its trainer, dlcm-train (src/cli/trainer.hpp):
// what a user sees is the trainer's own answer, exit code and error line, and `dlcm` itself never
// loads LibTorch. In a build without LibTorch those commands fail with one line saying so.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.hpp"

namespace fs = std::filesystem;
using dlcm::test::run_command;
using dlcm::test::shell_quote;

namespace {

// stdout and stderr together: a failing command prints nothing on stdout.
dlcm::test::Command run(const std::string& bin, const std::string& args) { return run_command(bin + " " + args + " 2>&1"); }

}  // namespace

#ifdef DLCM_TRAIN_BIN

TEST(Forwarding, TrainPassesTheTrainersExitCodeAndErrorLineThrough) {
  const auto dir = dlcm::test::temp_dir("forwarding");
  const auto cfg = (dir / "bad.toml").string();
  std::ofstream(cfg) << "[model]\nd_concept_width = 3\n";
  const auto run_dir = dir / "never";
  const std::string args = "train --config " + shell_quote(cfg) + " --run-dir " + shell_quote(run_dir.string());
  const auto via_dlcm = run(DLCM_BIN, args), direct = run(DLCM_TRAIN_BIN, args);
  EXPECT_EQ(via_dlcm.code, 1);
  EXPECT_EQ(via_dlcm.out, "dlcm: error: " + cfg + ": model.d_concept_width: unknown key\n");
  EXPECT_EQ(direct.code, via_dlcm.code);
  EXPECT_EQ(direct.out, via_dlcm.out);
  EXPECT_FALSE(fs::exists(run_dir));
  // A usage error keeps the trainer's own code (CLI11's RequiredError), not a generic 1.
  const auto usage = run(DLCM_BIN, "train --config " + shell_quote(cfg));
  EXPECT_EQ(usage.code, 106);
  EXPECT_EQ(usage.out.substr(0, usage.out.find('\n')), "--run-dir is required");
  EXPECT_EQ(run(DLCM_TRAIN_BIN, "train --config " + shell_quote(cfg)).code, 106);
  fs::remove_all(dir);
}

TEST(Forwarding, OnlyTheTrainerLinksLibTorch) {
  const auto libtorch = [](const char* bin) { return run_command("ldd " + shell_quote(bin) + " | grep -c libtorch").out; };
  EXPECT_EQ(libtorch(DLCM_BIN), "0\n");
  EXPECT_NE(libtorch(DLCM_TRAIN_BIN), "0\n");
}

#else

TEST(Forwarding, WithoutLibTorchTheTrainersCommandsFailInOneLine) {
  const std::string line = "dlcm: error: this build has no trainer: configure with -DDLCM_WITH_TORCH=ON\n";
  for (const char* args : {"train --config c.toml --run-dir r", "inspect --run-dir r --text hi", "mup coord-check --config c.toml"}) {
    const auto r = run(DLCM_BIN, args);
    EXPECT_EQ(r.code, 1) << args;
    EXPECT_EQ(r.out, line) << args;
  }
  EXPECT_NE(run(DLCM_BIN, "--version").out.find("\ntrainer: this build has no trainer"), std::string::npos);
  // verify would store a recommendation, then train it: it stops before touching the database.
  const auto dir = dlcm::test::temp_dir("forwarding-verify");
  const auto db = (dir / "new.db").string();
  const auto v = run(DLCM_BIN, "verify --sweep demo --budget 1e12 --db " + shell_quote(db));
  EXPECT_EQ(v.code, 1);
  EXPECT_EQ(v.out, line);
  EXPECT_FALSE(fs::exists(db));
  fs::remove_all(dir);
}

#endif
