// Child processes started one way (core/process.hpp).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/process.hpp"
#include "test_util.hpp"

using namespace dlcm;

TEST(Process, RunsArgvWithItsEnvironmentAndOutputsWhereAsked) {
  const auto dir = test::temp_dir("process");
  const auto out = dir / "out.txt", err = dir / "err.txt";
  for (const bool die_with_parent : {false, true}) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_t pid = 0;
    // No shell between: the quote and the $ reach sh as they are.
    ASSERT_EQ(spawn({"sh", "-c", "echo \"$DLCM_X\" \"$HOME\" 'it''s'; echo oops >&2; exit 3", "$unused"}, pid,
                    {.env = {{"DLCM_X", "from env"}, {"HOME", "/nowhere"}}, .out_fd = o, .err_fd = e,
                     .die_with_parent = die_with_parent}),
              0);
    close(o);
    close(e);
    EXPECT_EQ(dlcm::wait_exit(pid), 3);
    EXPECT_EQ(test::read_text(out), "from env /nowhere its\n");
    EXPECT_EQ(test::read_text(err), "oops\n");
  }
  std::filesystem::remove_all(dir);
}

TEST(Process, AMissingProgramIsENOENTOrExit127WhenForked) {
  pid_t pid = 0;
  EXPECT_EQ(spawn({"dlcm-no-such-program"}, pid), ENOENT);
  ASSERT_EQ(spawn({"dlcm-no-such-program"}, pid, {.die_with_parent = true}), 0);
  EXPECT_EQ(dlcm::wait_exit(pid), 127);
}

TEST(Process, ASignalledChildIsMinusOne) {
  pid_t pid = 0;
  ASSERT_EQ(spawn({"sh", "-c", "kill -TERM $$"}, pid), 0);
  EXPECT_EQ(dlcm::wait_exit(pid), -1);
}
