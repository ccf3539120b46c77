#pragma once
// Small helpers shared by the test executables (the dlcm_test_support library, tests/CMakeLists.txt).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace dlcm::test {

// A fresh, empty directory unique to this test process.
std::filesystem::path temp_dir(const std::string& name);

// The message of what f throws ("" when it throws nothing).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// A whole text file ("" when it cannot be read).
std::string read_text(const std::filesystem::path& p);

// Waits for a child: its exit status, or minus the signal that killed it.
int wait_exit(pid_t pid);

struct Command {
  int code;        // exit status, -1 if killed by a signal
  std::string out; // standard output
};

// Runs a shell command, capturing standard output.
Command run_command(const std::string& cmd);

// Single-quotes a string for the shell.
std::string shell_quote(const std::string& s);

// Why no Slurm can be used here ("" when one can): tests that need it GTEST_SKIP with this.
// Tests only ever talk to the single-node Slurm of scripts/slurm-up.sh (never a real cluster
// that SLURM_CONF may name): SLURM_CONF is pointed at its config for this process and the
// commands it starts.
std::string slurm_unavailable();

}  // namespace dlcm::test
