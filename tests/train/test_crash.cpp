// Crash safety of `dlcm train` through the real binary: runs SIGKILLed at random moments (and in
// the middle of a checkpoint write) and resumed end bit-identical to an uninterrupted run; a
// corrupted or truncated newest checkpoint falls back to the previous one; none good is an error.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "core/files.hpp"
#include "corpus_fixture.hpp"
#include "storage/run_metrics.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using dlcm::test::wait_exit;
using nlohmann::json;

namespace {

fs::path g_root;
constexpr int kSteps = 48;

std::string config_text() {
  return "[model]\narch = \"dlcm\"\nseq_len = 64\nd_token = 32\nn_heads_token = 2\nd_concept = 32\n"
         "n_heads_concept = 2\nconcept_layers = 1\n[train]\nsteps = " + std::to_string(kSteps) +
         "\nbatch_size = 4\nwarmup_steps = 4\neval_every = 16\neval_windows = 2\ncheckpoint_every = 5\n"
         "[data]\ndir = \"" + (g_root / "corpus").string() + "\"\n";
}

// `dlcm train` on the run directory, output to DIR.out; returns the child's pid.
pid_t start_train(const fs::path& dir) {
  const std::string cfg = (g_root / "crash.toml").string(), run = dir.string(), out = dir.string() + ".out";
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    execl(DLCM_BIN, DLCM_BIN, "train", "--quiet", "--threads", "1", "--config", cfg.c_str(), "--run-dir", run.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Re-runs the trainer until it completes (the resume a user or the launcher does after a crash).
void resume_to_end(const fs::path& dir) {
  for (int i = 0; i < 3; ++i)
    if (wait_exit(start_train(dir)) == 0) return;
  FAIL() << "run never completed: " << dlcm::read_file(dir.string() + ".out");
}

struct Outcome {
  double train_loss = NAN, val_loss = NAN;
  std::vector<dlcm::storage::MetricRow> metrics;  // without tokens_per_s, the one timing metric
};

Outcome outcome(const fs::path& dir) {
  Outcome o;
  std::ifstream in(dir / "result.json");
  const auto r = json::parse(in);
  EXPECT_EQ(r["status"], "completed") << dir;
  o.train_loss = r["final_train_loss"];
  o.val_loss = r["final_val_loss"];
  auto db = dlcm::storage::open_run_metrics((dir / "metrics.sqlite").string());
  for (auto& m : dlcm::storage::read_metrics(db))
    if (m.name != "tokens_per_s") o.metrics.push_back(m);
  return o;
}

// Bit-identical: the doubles compare equal, not merely close. Returns |Δ| of the final losses.
double expect_identical(const Outcome& ref, const Outcome& got, const std::string& what) {
  EXPECT_EQ(got.train_loss, ref.train_loss) << what;
  EXPECT_EQ(got.val_loss, ref.val_loss) << what;
  EXPECT_EQ(got.metrics.size(), ref.metrics.size()) << what;
  for (size_t i = 0; i < std::min(got.metrics.size(), ref.metrics.size()); ++i) {
    const auto &a = ref.metrics[i], &b = got.metrics[i];
    EXPECT_TRUE(a.step == b.step && a.split == b.split && a.domain == b.domain && a.name == b.name &&
                a.value == b.value)
        << what << ": row " << i << " step " << b.step << " " << b.name << " " << b.value << " vs " << a.value;
  }
  return std::max(std::abs(got.train_loss - ref.train_loss), std::abs(got.val_loss - ref.val_loss));
}

class Crash : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_root = dlcm::test::root_with_corpus("crash-test");
    std::ofstream(g_root / "crash.toml") << config_text();
    // The uninterrupted reference every crashed run must reproduce exactly.
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(wait_exit(start_train(g_root / "reference")), 0);
    reference_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    reference_ = new Outcome(outcome(g_root / "reference"));
    ASSERT_EQ(reference_->metrics.size() > kSteps, true);
  }
  static void TearDownTestSuite() {
    delete reference_;
    fs::remove_all(g_root);
  }
  static Outcome* reference_;
  static double reference_ms_;  // how long an uninterrupted run takes here: kill times scale with it
};
Outcome* Crash::reference_ = nullptr;
double Crash::reference_ms_ = 0;

}  // namespace

TEST_F(Crash, SigkillAtRandomMomentsThenResumingEndsBitIdentical) {
  // Kill points from a fixed seed, spread over start-up, training and the final write-out: each
  // restart is killed after a random share of an uninterrupted run's wall time (one of them right
  // after its first checkpoint appears, so a resume from a checkpoint is always among them).
  std::mt19937 rng(20261122);
  std::uniform_real_distribution<double> share(0.2, 0.9);
  auto delay_ms = [&](std::mt19937& g) { return static_cast<int>(share(g) * reference_ms_); };
  double max_diff = 0;
  int resumes = 0;
  for (int trial = 0; trial < 3; ++trial) {
    const auto dir = g_root / ("random-" + std::to_string(trial));
    int landed = 0;  // a restart quicker than its kill has finished (exit 0): that kill tested nothing
    for (int k = 0; k < 3; ++k) {
      const pid_t pid = start_train(dir);
      const int delay = delay_ms(rng);  // drawn every time, so the other kills keep their moments
      bool exited = false;
      if (trial == 2 && k == 0) {
        // This kill waits for the first checkpoint file instead: at least one restart resumes from
        // a checkpoint however slowly this machine starts a trainer today.
        while (!exited && !fs::exists(dir / "checkpoint.pt")) {
          exited = waitpid(pid, nullptr, WNOHANG) == pid;
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      }
      if (exited) continue;  // finished before its kill: tested nothing
      kill(pid, SIGKILL);
      landed += wait_exit(pid) == -SIGKILL;
    }
    EXPECT_GE(landed, 1) << dir << ": every restart finished before its kill";
    resume_to_end(dir);
    max_diff = std::max(max_diff, expect_identical(*reference_, outcome(dir), dir.filename().string()));
    // Where the kills landed: the steps the restarts resumed from (none: killed before any checkpoint).
    std::string resumed;
    std::istringstream log(dlcm::read_file((dir / "log.txt").string()));
    for (std::string line; std::getline(log, line);)
      if (line.rfind("resumed from", 0) == 0) resumed += " " + line.substr(line.rfind(' ') + 1), resumes += 1;
    std::printf("%s: %d of 3 kills landed, resumed at steps%s\n", dir.filename().c_str(), landed, resumed.c_str());
  }
  // Bit-identical after a resume from a checkpoint, not only after restarts from scratch.
  EXPECT_GE(resumes, 1) << "every kill landed before the first checkpoint";
  EXPECT_EQ(max_diff, 0.0);
}

TEST_F(Crash, SigkillDuringACheckpointWriteLosesNothing) {
  // inotify reports the temporary checkpoint file as it is created; SIGSTOP freezes the trainer
  // there. If the file is still half-written (it has not been renamed yet) the trainer is killed
  // mid-write; otherwise it continues to the next checkpoint and we try again.
  const auto dir = g_root / "mid-write";
  fs::create_directories(dir);
  const int in = inotify_init1(IN_CLOEXEC);
  ASSERT_GE(in, 0);
  ASSERT_GE(inotify_add_watch(in, dir.c_str(), IN_CREATE), 0);
  int torn = 0;
  for (int attempt = 0; attempt < 6 && torn < 2; ++attempt) {
    const pid_t pid = start_train(dir);
    bool stopped = false, exited = false;
    char buf[4096];
    while (!stopped && !exited) {
      pollfd pfd{in, POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) {
        exited = waitpid(pid, nullptr, WNOHANG) == pid;  // finished without a kill landing inside a write
        continue;
      }
      const ssize_t n = read(in, buf, sizeof buf);
      if (n <= 0) break;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        // The writer's private temporary, checkpoint.pt.new.tmp.<pid>.<random> (core/files.hpp).
        const std::string name = ev->len ? std::string(ev->name) : "";
        if (name.rfind("checkpoint.pt.new.tmp.", 0) == 0) {
          kill(pid, SIGSTOP);
          stopped = true;
          // Skip the first checkpoint sometimes, so kills land at several steps.
          if (fs::exists(dir / name) && (attempt % 2 == 0 || fs::exists(dir / "checkpoint.pt"))) {
            kill(pid, SIGKILL);
            torn += 1;
          } else {
            stopped = false;
            kill(pid, SIGCONT);
          }
          break;
        }
        p += sizeof(inotify_event) + ev->len;
      }
    }
    if (!exited) {
      kill(pid, SIGKILL);
      kill(pid, SIGCONT);
      wait_exit(pid);
    }
  }
  close(in);
  EXPECT_GE(torn, 1) << "no kill landed inside a checkpoint write";
  resume_to_end(dir);
  for (const auto& e : fs::directory_iterator(dir))  // the killed writers' temporaries went with the resume
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  std::printf("kills during a checkpoint write: %d\n", torn);
  expect_identical(*reference_, outcome(dir), "mid-write");
}

TEST_F(Crash, CorruptOrTruncatedNewestCheckpointFallsBackToThePreviousOne) {
  for (const std::string how : {"bitflip", "truncate"}) {
    const auto dir = g_root / ("damaged-" + how);
    // Stop at step 12: checkpoint.pt holds step 12, checkpoint.prev.pt step 10.
    const auto r = dlcm::test::run_command(std::string(DLCM_BIN) + " train --quiet --threads 1 --stop-at-step 12 --config " +
                                           (g_root / "crash.toml").string() + " --run-dir " + dir.string());
    ASSERT_EQ(r.code, 4);
    const auto ckpt = dir / "checkpoint.pt";
    ASSERT_TRUE(fs::exists(dir / "checkpoint.prev.pt"));
    std::string bytes = dlcm::read_file(ckpt.string());
    if (how == "bitflip") bytes[bytes.size() / 2] ^= 0x10;
    else bytes.resize(bytes.size() * 2 / 3);
    std::ofstream(ckpt, std::ios::binary | std::ios::trunc) << bytes;
    resume_to_end(dir);
    const std::string log = dlcm::read_file((dir / "log.txt").string());
    EXPECT_NE(log.find("warning: " + ckpt.string() + ": " + (how == "bitflip" ? "checksum mismatch" : "truncated")),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("resumed from " + (dir / "checkpoint.prev.pt").string() + " at step 10"), std::string::npos);
    expect_identical(*reference_, outcome(dir), how);
  }
}

TEST_F(Crash, NoGoodCheckpointLeftIsAOneLineErrorThatChangesNothing) {
  const auto dir = g_root / "all-bad";
  dlcm::test::run_command(std::string(DLCM_BIN) + " train --quiet --threads 1 --stop-at-step 7 --config " +
                          (g_root / "crash.toml").string() + " --run-dir " + dir.string());
  for (const char* f : {"checkpoint.pt", "checkpoint.prev.pt"}) {
    std::string bytes = dlcm::read_file((dir / f).string());
    std::ofstream(dir / f, std::ios::binary | std::ios::trunc) << bytes.substr(0, 100);
  }
  std::map<std::string, std::string> before;
  for (auto& e : fs::directory_iterator(dir)) before[e.path().filename()] = dlcm::read_file(e.path().string());
  const auto r = dlcm::test::run_command(std::string(DLCM_BIN) + " train --quiet --config " +
                                         (g_root / "crash.toml").string() + " --run-dir " + dir.string() + " 2>&1");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find((dir / "checkpoint.pt").string() + ": truncated"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no good checkpoint left"), std::string::npos) << r.out;
  std::map<std::string, std::string> after;
  for (auto& e : fs::directory_iterator(dir)) after[e.path().filename()] = dlcm::read_file(e.path().string());
  EXPECT_EQ(after, before);
}
