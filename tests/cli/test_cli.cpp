// The `dlcm` binary as a user meets it: exit codes, one-line errors naming file and field,
// nothing written on bad input, and the JSON contract of `inspect`.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/corpus.hpp"
#include "test_util.hpp"
#include "corpus_fixture.hpp"

namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string out, err;
};

using dlcm::test::shell_quote;

Result run(const std::string& args) {
  const fs::path err = fs::temp_directory_path() / ("dlcm-cli-err-" + std::to_string(::getpid()));
  const auto c = dlcm::test::run_command(std::string(DLCM_BIN) + " " + args + " 2>" + shell_quote(err.string()));
  Result r{c.code, c.out, ""};
  std::ifstream in(err);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  return r;
}

class Cli : public ::testing::Test {
 protected:
  static inline fs::path root;
  static void SetUpTestSuite() {
    root = dlcm::test::root_with_corpus("cli-test");
  }
  static void TearDownTestSuite() { fs::remove_all(root); }

  static std::string write(const std::string& name, const std::string& text) {
    const auto p = root / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::string config(const std::string& extra_model = "", const std::string& data = "") const {
    return "[model]\narch = \"dlcm\"\nseq_len = 64\nd_token = 32\nn_heads_token = 2\nd_concept = 32\n"
           "n_heads_concept = 2\nconcept_layers = 1\n" + extra_model +
           "\n[train]\nsteps = 4\nbatch_size = 4\nwarmup_steps = 1\neval_every = 2\neval_windows = 2\n"
           "\n[data]\n" + (data.empty() ? "dir = " + shell_quote((root / "corpus").string()) + "\n" : data);
  }
};

}  // namespace

TEST_F(Cli, BadConfigFailsWithOneLineErrorAndWritesNothing) {
  const auto cfg = write("bad.toml", config("d_concept_width = 3\n"));
  const auto run_dir = root / "never";
  const auto r = run("train --config " + shell_quote(cfg) + " --run-dir " + shell_quote(run_dir.string()));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dlcm: error: " + cfg + ": model.d_concept_width: unknown key\n");
  EXPECT_FALSE(fs::exists(run_dir));
}

TEST_F(Cli, BadTokenFileFailsNamingTheFile) {
  const auto bin = (root / "odd.bin").string();
  std::ofstream(bin, std::ios::binary) << "abc";
  const auto cfg = write("tok.toml", config("", "train_bin = " + shell_quote(bin) + "\nval_bin = " + shell_quote(bin) +
                                                    "\nvocab_size = 256\n"));
  const auto r = run("train --config " + shell_quote(cfg) + " --run-dir " + shell_quote((root / "never2").string()));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(bin + ": odd file size 3 bytes"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(root / "never2"));
}

TEST_F(Cli, TrainsThenInspectsWithTheJsonContract) {
  const auto cfg = write("ok.toml", config());
  const auto dir = (root / "run").string();
  const auto t = run("train --quiet --threads 1 --config " + shell_quote(cfg) + " --run-dir " + shell_quote(dir));
  ASSERT_EQ(t.code, 0) << t.err;
  const auto r = run("inspect --json --run-dir " + shell_quote(dir) + " --text 'Hello, concepts!'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["tokens"].size(), 16u);
  EXPECT_EQ(j["tokens"][0], int('H'));
  EXPECT_EQ(j["boundaries"].size(), 16u);
  EXPECT_EQ(j["boundaries"][0], 1);
  EXPECT_EQ(j["next_token_logprob"].size(), 15u);
  // Re-running a finished run does no more steps and keeps its result.
  const auto again = run("train --quiet --threads 1 --config " + shell_quote(cfg) + " --run-dir " + shell_quote(dir));
  EXPECT_EQ(again.code, 0);
  std::ifstream res(fs::path(dir) / "result.json");
  EXPECT_EQ(nlohmann::json::parse(res)["steps"], 4);
}

TEST_F(Cli, UnknownDeviceIsRejected) {
  const auto cfg = write("dev.toml", config());
  const auto r = run("train --device tpu --config " + shell_quote(cfg) + " --run-dir " + shell_quote((root / "never3").string()));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--device: unknown device \"tpu\""), std::string::npos) << r.err;
}
