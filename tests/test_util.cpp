#include "test_util.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace dlcm::test {

std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("dlcm-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

int wait_exit(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

Command run_command(const std::string& cmd) {
  Command r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string slurm_unavailable() {
  const char* dir = std::getenv("DLCM_SLURM_DIR");
  const auto conf = std::filesystem::path(dir ? dir : "/tmp/dlcm-slurm") / "slurm.conf";
  ::setenv("SLURM_CONF", conf.c_str(), 1);
  // Asked once per test process: a Slurm that is down takes sinfo seconds to give up on.
  static const bool up =
      std::filesystem::exists(conf) && run_command("timeout 20 sinfo -h >/dev/null 2>&1").code == 0;
  return up ? "" : "no Slurm answers at " + conf.string() + ": start one with scripts/slurm-up.sh";
}

}  // namespace dlcm::test
