// Sealed files (checkpoints): every truncation and every single-bit flip is caught before the
// payload is used; atomic writes leave the old file or the new one, and no temporary behind, even
// with many writers of one file at once.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include "core/files.hpp"
#include "test_util.hpp"

using namespace dlcm;

TEST(Sealed, RoundTripsAnyBytes) {
  std::string payload;
  for (int i = 0; i < 1000; ++i) payload += static_cast<char>(i * 37);  // NULs and newlines included
  EXPECT_EQ(unseal(seal(payload), "f"), payload);
  EXPECT_EQ(unseal(seal(""), "f"), "");
}

TEST(Sealed, EveryTruncationAndEveryBitFlipIsRejected) {
  const std::string payload("model weights\n\0 and optimizer state", 35);
  const std::string sealed = seal(payload);
  for (size_t n = 0; n < sealed.size(); ++n)
    EXPECT_THROW(unseal(sealed.substr(0, n), "ckpt"), std::runtime_error) << "truncated to " << n;
  const size_t header = sealed.find('\n') + 1;  // payload bits: the header's own damage is a truncation
                                                 // or a mismatch too, except harmless hex-case flips
  for (size_t i = header; i < sealed.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = sealed;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_THROW(unseal(bad, "ckpt"), std::runtime_error) << "byte " << i << " bit " << bit;
    }
  EXPECT_THROW(unseal(sealed + "x", "ckpt"), std::runtime_error);  // trailing bytes too
}

TEST(Sealed, ErrorsNameTheFileAndTheFault) {
  const std::string sealed = seal("abcdef");
  auto message = [](const std::string& bytes) {
    try {
      unseal(bytes, "run/checkpoint.pt");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(sealed.substr(0, sealed.size() - 2)).rfind("run/checkpoint.pt: truncated or torn", 0), 0u);
  std::string flipped = sealed;
  flipped.back() ^= 1;
  EXPECT_EQ(message(flipped).rfind("run/checkpoint.pt: checksum mismatch", 0), 0u);
  EXPECT_EQ(message("PK\x03\x04 zip").rfind("run/checkpoint.pt: not a sealed dlcm file", 0), 0u);
}

TEST(AtomicWrite, ReplacesTheFileAndLeavesNoTemporary) {
  const auto dir = test::temp_dir("atomic");
  const auto path = (dir / "result.json").string();
  write_file_atomic(path, "old");
  write_file_atomic(path, "new");
  EXPECT_EQ(read_file(path), "new");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
  std::filesystem::remove_all(dir);
}

// Many processes (and threads in each) writing one file at once, as orchestrators racing to write
// a run's config.toml do: every rename succeeds, a reader only ever sees one writer's whole file,
// and no temporary is left behind.
TEST(AtomicWrite, ManyWritersOfOneFileLeaveAWholeFile) {
  constexpr int kProcs = 6, kThreads = 3, kWrites = 40;
  const auto dir = test::temp_dir("atomic-race");
  const auto path = (dir / "config.toml").string();
  // Each writer's file: a distinct, large-ish body (several pages, so a torn write would show).
  auto body = [](int proc, int thread) {
    std::string line = "writer " + std::to_string(proc) + "." + std::to_string(thread) + "\n";
    std::string s;
    while (s.size() < 64 * 1024) s += line;
    return s;
  };
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::vector<std::thread> threads;
      std::atomic<int> errors{0};
      for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
          for (int i = 0; i < kWrites; ++i) try {
              write_file_atomic(path, body(p, t));
            } catch (const std::exception&) {
              ++errors;
            }
        });
      for (auto& th : threads) th.join();
      _exit(std::min(errors.load(), 99));
    }
    pids.push_back(pid);
  }
  std::set<std::string> whole;
  for (int p = 0; p < kProcs; ++p)
    for (int t = 0; t < kThreads; ++t) whole.insert(body(p, t));
  // Read while they write: every read is some writer's whole file.
  int reads = 0, torn = 0;
  for (bool running = true; running;) {
    running = false;
    for (pid_t pid : pids) {  // still writing: not yet exited (left waitable for the loop below)
      siginfo_t info{};
      running = running || (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0);
    }
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      ++reads;
      torn += !whole.count(read_file(path));
    }
  }
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "a writer's write failed";
  }
  EXPECT_EQ(torn, 0) << "of " << reads << " reads";
  EXPECT_TRUE(whole.count(read_file(path)));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1)
      << "a temporary was left behind";
  std::printf("atomic write race: %d processes x %d threads x %d writes of one file, %d reads while writing, %d torn\n",
              kProcs, kThreads, kWrites, reads, torn);
  std::filesystem::remove_all(dir);
}
