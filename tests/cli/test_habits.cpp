// A researcher's habits through the real `dlcm` binary: `--set KEY=VALUE` overrides reaching the
// run directory, the run's identity and the stored spec; `dlcm(-train) --version` and the build block every
// run records; a missing corpus naming the command that builds it; `sweep status --watch`.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "core/config.hpp"
#include "core/files.hpp"
#include "corpus_fixture.hpp"
#include "storage/central.hpp"
#include "storage/run_metrics.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using dlcm::test::shell_quote;

namespace {

struct Result {
  int code;
  std::string out, err;
};

Result run(const std::string& args) {
  const fs::path err = fs::temp_directory_path() / ("dlcm-habits-err-" + std::to_string(::getpid()));
  const auto c = dlcm::test::run_command(std::string(DLCM_BIN) + " " + args + " 2>" + shell_quote(err.string()));
  Result r{c.code, c.out, ""};
  r.err = dlcm::read_file(err.string());
  fs::remove(err);
  return r;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class Habits : public ::testing::Test {
 protected:
  static inline fs::path root;
  static void SetUpTestSuite() { root = dlcm::test::root_with_corpus("habits"); }
  static void TearDownTestSuite() { fs::remove_all(root); }

  static std::string write(const std::string& name, const std::string& text) {
    const auto p = root / name;
    std::ofstream(p) << text;
    return p.string();
  }
  static std::string corpus() { return (root / "corpus").string(); }
  static std::string config(const std::string& dir) {
    return "[model]\narch = \"dlcm\"\nseq_len = 64\nd_token = 32\nn_heads_token = 2\nd_concept = 32\n"
           "n_heads_concept = 2\nconcept_layers = 1\n[train]\nsteps = 4\nbatch_size = 4\nwarmup_steps = 1\n"
           "eval_every = 2\neval_windows = 2\n[data]\ndir = \"" + dir + "\"\n";
  }
  static std::string spec(const std::string& name, const std::string& budgets, const std::string& dir) {
    return "name = \"" + name + "\"\nbudgets = " + budgets + "\nruns_dir = \"" + (root / name).string() +
           "\"\nmin_steps = 5\nevals = 1\n[grid]\nd_token = [32]\nbaseline_layers = [2]\nd_concept = [32]\n"
           "ratio = [1, 4]\n[base.model]\nseq_len = 64\nn_heads_token = 2\nn_heads_concept = 2\nconcept_layers = 1\n"
           "[base.train]\nbatch_size = 4\neval_windows = 2\n[base.data]\ndir = \"" + dir + "\"\n";
  }
};

}  // namespace

TEST_F(Habits, TrainOverridesReachTheRunDirectoryAndItsIdentity) {
  const auto cfg = write("train.toml", config(corpus()));
  const auto dir = (root / "train-set").string();
  const std::string sets = " --set train.steps=2 --set model.d_token=48 --set 'train.lr=1e-3'";
  const auto r = run("train --quiet --threads 1 --config " + shell_quote(cfg) + " --run-dir " + shell_quote(dir) + sets);
  ASSERT_EQ(r.code, 0) << r.err;
  // The run directory records the effective config, so its identity is the overridden one.
  const auto recorded = dlcm::load_run_config(dir + "/config.toml");
  EXPECT_EQ(recorded.train.steps, 2);
  EXPECT_EQ(recorded.model.d_token, 48);
  EXPECT_EQ(recorded.train.lr, 1e-3);
  const auto file = dlcm::load_run_config(cfg);
  EXPECT_NE(dlcm::to_toml(file), dlcm::to_toml(recorded));
  EXPECT_EQ(dlcm::to_toml(dlcm::load_run_config(cfg, {"train.steps=2", "model.d_token=48", "train.lr=1e-3"})),
            dlcm::read_file(dir + "/config.toml"));
  const auto result = json::parse(dlcm::read_file(dir + "/result.json"));
  EXPECT_EQ(result["steps"], 2);
  // The build block: the same fields `dlcm --version` prints.
  for (const char* key : {"version", "commit", "dirty", "torch", "cuda", "blas"})
    EXPECT_TRUE(result["build"].contains(key)) << key << " in " << result["build"].dump();
  // OpenBLAS's kernels (chosen per CPU, or pinned by OPENBLAS_CORETYPE) are part of the build.
  std::string blas = result["build"]["blas"];
  if (blas.find("openblas") != std::string::npos) {
    const char* pinned = std::getenv("OPENBLAS_CORETYPE");
    std::string expected = pinned ? fmt::format("(kernels: {})", pinned) : "(kernels: ";
    for (auto* t : {&blas, &expected}) std::transform(t->begin(), t->end(), t->begin(), ::tolower);
    EXPECT_NE(blas.find(expected), std::string::npos) << blas;
  }
  // Resuming follows the overridden config: the same overrides resume, the bare file is refused.
  const auto again = run("train --quiet --threads 1 --config " + shell_quote(cfg) + " --run-dir " + shell_quote(dir) + sets);
  EXPECT_EQ(again.code, 0) << again.err;
  const auto bare = run("train --quiet --threads 1 --config " + shell_quote(cfg) + " --run-dir " + shell_quote(dir));
  EXPECT_EQ(bare.code, 1);
  EXPECT_NE(bare.err.find("holds a different config"), std::string::npos) << bare.err;
}

TEST_F(Habits, ABadOverrideNamesTheKeyOrTheArgument) {
  const auto cfg = write("bad-set.toml", config(corpus()));
  const auto dir = root / "never";
  auto train = [&](const std::string& set) {
    return run("train --quiet --config " + shell_quote(cfg) + " --run-dir " + shell_quote(dir.string()) + " --set " +
               shell_quote(set));
  };
  auto r = train("train.lrr=1");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dlcm: error: " + cfg + ": train.lrr: unknown key (from --set train.lrr=1)\n");
  r = train("train.lr=\"fast\"");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dlcm: error: " + cfg + ": train.lr: expected a number (from --set train.lr=\"fast\")\n");
  r = train("model.n_heads_token=3");  // caught by validation, which names a key beside it
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("(from --set model.n_heads_token=3)"), std::string::npos) << r.err;
  r = train("train.steps.x=1");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dlcm: error: " + cfg + ": train.steps: not a table, so --set train.steps.x=1 cannot set a key inside it\n");
  r = train("train.lr");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dlcm: error: --set train.lr: expected KEY=VALUE (e.g. --set train.lr=1e-3)\n");
  r = train("base.data.dir=data/corpus");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("dlcm: error: --set base.data.dir=data/corpus: \"data/corpus\" is not a TOML value", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("a string needs quotes"), std::string::npos) << r.err;
  EXPECT_EQ(count(r.err, "\n"), 1u) << r.err;
  EXPECT_FALSE(fs::exists(dir));
  // The sweep commands read their spec the same way.
  const auto path = write("bad-set-spec.toml", spec("badset", "[1e9]", corpus()));
  r = run("sweep plan --no-calibrate " + shell_quote(path) + " --set 'grid.d_tokens=[32]'");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dlcm: error: " + path + ": grid.d_tokens: unknown key (from --set grid.d_tokens=[32])\n");
  r = run("sweep plan --no-calibrate " + shell_quote(path) + " --set base.train.batch_size=1.5");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dlcm: error: " + path +
                       ": base.train.batch_size: expected an integer (from --set base.train.batch_size=1.5)\n");
}

TEST_F(Habits, ThePlanTableKeepsItsColumnsUnderLongRunLabels) {
  // A boundary mode and a long seed make labels longer than the run column used to be (36).
  const auto path = write("long.toml", spec("long", "[1e9]", corpus()));
  const auto p = run("sweep plan --no-calibrate " + shell_quote(path) +
                     " --set 'grid.boundary_mode=[\"sequence\"]' --set 'grid.seed=[123456789]'");
  ASSERT_EQ(p.code, 0) << p.err;
  std::istringstream lines(p.out);
  std::string line, header;
  std::getline(lines, header);
  ASSERT_EQ(header.rfind("hash", 0), 0u) << p.out;
  int rows = 0;
  while (std::getline(lines, line) && line.find(" runs, ") == std::string::npos) {
    EXPECT_EQ(line.size(), header.size()) << "\n" << header << "\n" << line;
    ++rows;
  }
  EXPECT_EQ(rows, 2) << p.out;
  EXPECT_GT(header.size(), 77u + 36) << p.out;  // the other columns take 77: the run column grew past 36
}

TEST_F(Habits, SweepOverridesChangeThePlanTheRunsAndTheStoredSpec) {
  const auto path = write("study.toml", spec("study", "[1e9]", corpus()));
  const std::string sets = " --set 'budgets=[3e9]' --set base.train.batch_size=8 --set 'grid.d_token=[48]'";
  // The overrides plan exactly what a file holding them plans.
  const auto same = write("study-edited.toml", dlcm::test::run_command("sed -e 's/^budgets = .*/budgets = [3e9]/' -e "
                                                                       "'s/^batch_size = 4/batch_size = 8/' -e "
                                                                       "'s/^d_token = \\[32\\]/d_token = [48]/' " +
                                                                       shell_quote(path))
                                                   .out);
  const auto planned = run("sweep plan --json --no-calibrate " + shell_quote(path) + sets);
  ASSERT_EQ(planned.code, 0) << planned.err;
  const auto plan = json::parse(planned.out), edited = json::parse(run("sweep plan --json --no-calibrate " + shell_quote(same)).out),
             plain = json::parse(run("sweep plan --json --no-calibrate " + shell_quote(path)).out);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan, edited);
  for (size_t i = 0; i < plan.size(); ++i) EXPECT_NE(plan[i]["hash"], plain[i]["hash"]);

  const auto db = (root / "study.db").string();
  const auto ran = run("sweep run --quiet --workers 2 --db " + shell_quote(db) + " " + shell_quote(path) + sets);
  ASSERT_EQ(ran.code, 0) << ran.err;
  const auto status = json::parse(run("sweep status --json --db " + shell_quote(db) + " study").out);
  ASSERT_EQ(status.size(), 2u);
  std::set<std::string> hashes;
  for (const auto& r : plan) hashes.insert(r["hash"].get<std::string>());
  for (const auto& r : status) {
    EXPECT_EQ(r["status"], "completed") << r.dump();
    EXPECT_TRUE(hashes.count(r["hash"].get<std::string>())) << r.dump();
    const auto cfg = dlcm::load_run_config((root / "study" / r["hash"].get<std::string>() / "config.toml").string());
    EXPECT_EQ(cfg.train.batch_size, 8);
    EXPECT_EQ(cfg.model.d_token, 48);
  }
  {
    // The stored spec is the study that ran: what re-reads it (extend, verify) sees the overrides.
    auto handle = dlcm::storage::open_sweep(db, "study");
    const auto stored = dlcm::storage::sweep_spec(handle, "study");
    EXPECT_EQ(stored.rfind("# " + path + " --set budgets=[3e9] --set base.train.batch_size=8", 0), 0u) << stored;
    const auto root_table = json::parse(run("sweep plan --json --no-calibrate " + shell_quote(write("stored.toml", stored))).out);
    EXPECT_EQ(root_table, plan);
  }

  // --watch on a finished sweep: one frame, exit 0, and the database left exactly as it was.
  const auto before = dlcm::read_file(db);
  const auto watched = run("sweep status study --watch --interval 0.2 --db " + shell_quote(db));
  EXPECT_EQ(watched.code, 0) << watched.err;
  EXPECT_EQ(count(watched.out, "sweep study: 2 runs: 2 done, 0 running, 0 failed, 0 pending"), 1u) << watched.out;
  EXPECT_NE(watched.out.find("(100.0%), ETA -, finished"), std::string::npos) << watched.out;
  EXPECT_EQ(watched.out.find("\033["), std::string::npos) << "no terminal codes into a pipe";
  EXPECT_EQ(dlcm::read_file(db), before);

  // The report names the binary that wrote it and the one that trained the runs.
  const auto html = (root / "study.html").string();
  const auto rep = run("report study --no-examples --bootstrap 0 --threads 1 --db " + shell_quote(db) + " -o " + shell_quote(html));
  ASSERT_EQ(rep.code, 0) << rep.err;
  const auto page = dlcm::read_file(html);
  EXPECT_NE(page.find("Report written by dlcm "), std::string::npos);
  EXPECT_NE(page.find("2 runs trained by dlcm "), std::string::npos);
}

TEST_F(Habits, WatchFollowsASweepAndExitsWhenItEnds) {
  namespace st = dlcm::storage;
  const auto dir = dlcm::test::temp_dir("habits-watch");
  const auto db_path = (dir / "watch.db").string();
  const auto live = dir / "b";
  fs::create_directories(live);
  {
    auto db = st::open_central(db_path);
    st::register_sweep(db, "w", "name = \"w\"\n",
                       {{"aaaa", "run a", "cfg", (dir / "a").string(), "dlcm", 1e9, 1, 0, 1, 1, 1e9, 1, 10},
                        {"bbbb", "run b", "cfg", live.string(), "dlcm", 3e9, 1, 0, 1, 1, 3e9, 1, 10}});
    st::set_status(db, "aaaa", "completed");
    st::begin_attempt(db, "bbbb", st::Holder{"local", "here", 1, ""});
    // The running run's latest loss comes from its own metrics file, as the launcher reads it.
    auto m = st::open_run_metrics((live / "metrics.sqlite").string());
    st::write_metrics(m, {{2, "train", "all", "loss", 3.25}, {3, "train", "all", "loss", 2.5}});
  }
  Result watched{-1, "", ""};
  const auto frames = (dir / "frames.txt").string();  // the watcher flushes every frame here
  const auto t0 = std::chrono::steady_clock::now();
  std::thread watcher([&] {
    watched = run("sweep status w --watch --interval 0.2 --db " + shell_quote(db_path) + " > " + shell_quote(frames));
    watched.out = dlcm::read_file(frames);
  });
  // The run ends once the watcher has drawn it running twice (a loaded machine may take seconds to
  // start the binary: a fixed sleep made this test flaky under load).
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    std::string seen;
    if (fs::exists(frames)) seen = dlcm::read_file(frames);
    if (count(seen, "sweep w: 2 runs: 1 done, 1 running, 0 failed, 0 pending") >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  {
    auto db = st::open_central(db_path);
    st::set_status(db, "bbbb", "completed");
  }
  const auto ended = std::chrono::steady_clock::now();
  watcher.join();
  // It exits on its own once nothing runs (a hang would never get here; 30 s is only a guard).
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - ended).count();
  EXPECT_EQ(watched.code, 0) << watched.err;
  EXPECT_LT(secs, 30.0);
  EXPECT_GE(count(watched.out, "sweep w: 2 runs: 1 done, 1 running, 0 failed, 0 pending"), 2u) << watched.out;
  EXPECT_NE(watched.out.find("compute 1e+09 of 4e+09 FLOPs done (25.0%)"), std::string::npos) << watched.out;
  EXPECT_NE(watched.out.find("bbbb run b"), std::string::npos) << watched.out;
  EXPECT_NE(watched.out.find("step      3/10     loss 2.5000"), std::string::npos) << watched.out;
  // The last frame is the finished sweep, and it is the last thing printed.
  const auto last = watched.out.rfind("sweep w: ");
  EXPECT_EQ(watched.out.substr(last, watched.out.find('\n', last) - last),
            "sweep w: 2 runs: 2 done, 0 running, 0 failed, 0 pending");
  EXPECT_EQ(count(watched.out.substr(last), "\n"), 2u) << watched.out.substr(last);
  fs::remove_all(dir);
}

TEST_F(Habits, VersionNamesTheBuild) {
  // dlcm names itself and its trainer; the trainer names the LibTorch, CUDA and BLAS it runs on.
  const auto r = run("--version");
  const auto t = dlcm::test::run_command(std::string(DLCM_TRAIN_BIN) + " --version");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(t.code, 0);
  for (const auto& out : {r.out, t.out}) {
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(^dlcm \d+\.\d+\.\d+\ncommit: )"))) << out;
    EXPECT_EQ(out.find("commit: \n"), std::string::npos) << out;  // "unknown" outside git, never empty
  }
  EXPECT_NE(r.out.find("\ntrainer: " + std::string(DLCM_TRAIN_BIN) + " "), std::string::npos) << r.out;
  for (const char* field : {"\nLibTorch: ", "\nCUDA: ", "\nBLAS: "})
    EXPECT_NE(t.out.find(field), std::string::npos) << field << " in " << t.out;
}

TEST_F(Habits, AMissingCorpusSaysWhatToRun) {
  const auto missing = (root / "no-corpus").string();
  const std::string hint = "run `dlcm data prepare --out " + missing + "`";
  const auto cfg = write("no-corpus.toml", config(missing));
  const auto dir = root / "no-corpus-run";
  const auto r = run("train --quiet --config " + shell_quote(cfg) + " --run-dir " + shell_quote(dir.string()));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("dlcm: error: " + missing + "/meta.json: cannot open corpus description", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(hint), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir));

  // A sweep fails before training anything: no run directory, no attempt spent.
  const auto path = write("no-corpus-spec.toml", spec("nocorpus", "[1e9]", missing));
  const auto db = (root / "no-corpus.db").string();
  const auto s = run("sweep run --quiet --db " + shell_quote(db) + " " + shell_quote(path));
  EXPECT_NE(s.code, 0);
  EXPECT_NE(s.err.find(hint), std::string::npos) << s.err;
  EXPECT_FALSE(fs::exists(root / "nocorpus"));
  for (const auto& row : json::parse(run("sweep status --json --db " + shell_quote(db) + " nocorpus").out)) {
    EXPECT_EQ(row["status"], "pending");
    EXPECT_EQ(row["attempts"], 0);
  }
  const auto sub = run("sweep submit --dry-run --db " + shell_quote(db) + " " + shell_quote(path));
  EXPECT_NE(sub.code, 0);
  EXPECT_NE(sub.err.find(hint), std::string::npos) << sub.err;
  // Planning needs no corpus: it warns.
  const auto p = run("sweep plan --no-calibrate " + shell_quote(path));
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.err.find("warning: "), std::string::npos) << p.err;
  EXPECT_NE(p.err.find(hint), std::string::npos) << p.err;
}
