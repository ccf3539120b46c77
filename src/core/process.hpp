#pragma once
// Child processes started one way: an argv (no shell between, so no quoting), an environment, and
// stdout/stderr where the caller wants them. Trainer workers, Slurm commands, gnuplot and `dlcm`
// handing a command to its trainer (dlcm-train) go through here.
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace dlcm {

struct SpawnOptions {
  std::vector<std::pair<std::string, std::string>> env{};  // set in the child's environment, over ours
  int out_fd = -1, err_fd = -1;                           // become its stdout / stderr; -1: ours
  // The child gets SIGTERM when this process dies (Linux PR_SET_PDEATHSIG), and exits 4 at once if
  // that already happened before it could ask. The sweep's workers need it: nothing trains unobserved.
  // It has to run between fork and exec, so such a child is forked, and a failed exec shows only as
  // its exit code 127 (as from a shell).
  bool die_with_parent = false;
};

// Starts argv[0] (looked up on PATH unless it holds a '/') with argv. Returns 0 and sets pid, or the
// errno that kept the program from starting (ENOENT: no such program), as posix_spawn does.
int spawn(const std::vector<std::string>& argv, pid_t& pid, const SpawnOptions& options = {});

// Waits for the child: its exit code, or -1 when a signal ended it.
int wait_exit(pid_t pid);

struct ProgramResult {
  int code = -1;  // exit status; -1: could not start or killed by a signal
  std::string out, err;
};

// Runs a program with these arguments (no shell in between) to its end, capturing both outputs.
ProgramResult run_program(const std::vector<std::string>& argv);

// Replaces this process with the program at `path` (no PATH lookup), given argv (argv[0] included)
// and this environment: the same pid, so signals and a parent's wait reach the new program. Returns
// only when that failed, with the errno.
int exec_program(const std::string& path, const std::vector<std::string>& argv);

}  // namespace dlcm
