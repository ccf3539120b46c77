#pragma once
// Small helpers shared by the test executables.
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
inline std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("dlcm-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

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
inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Waits for a child: its exit status, or minus the signal that killed it.
inline int wait_exit(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

struct Command {
  int code;        // exit status, -1 if killed by a signal
  std::string out; // standard output
};

// Runs a shell command, capturing standard output.
inline Command run_command(const std::string& cmd) {
  Command r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Single-quotes a string for the shell.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Why no Slurm can be used here ("" when one can): tests that need it GTEST_SKIP with this.
// Tests only ever talk to the single-node Slurm of scripts/slurm-up.sh (never a real cluster
// that SLURM_CONF may name): SLURM_CONF is pointed at its config for this process and the
// commands it starts.
inline std::string slurm_unavailable() {
  const char* dir = std::getenv("DLCM_SLURM_DIR");
  const auto conf = std::filesystem::path(dir ? dir : "/tmp/dlcm-slurm") / "slurm.conf";
  ::setenv("SLURM_CONF", conf.c_str(), 1);
  // Asked once per test process: a Slurm that is down takes sinfo seconds to give up on.
  static const bool up =
      std::filesystem::exists(conf) && run_command("timeout 20 sinfo -h >/dev/null 2>&1").code == 0;
  return up ? "" : "no Slurm answers at " + conf.string() + ": start one with scripts/slurm-up.sh";
}

}  // namespace dlcm::test
