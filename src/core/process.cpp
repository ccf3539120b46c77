#include "core/process.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace dlcm {

int spawn(const std::vector<std::string>& argv, pid_t& pid, const SpawnOptions& o) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The environment is built here, before any fork: a forked child of a threaded process may only
  // call async-signal-safe functions, which setenv is not.
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) {
    bool replaced = false;
    for (const auto& [k, _] : o.env)
      replaced |= std::strncmp(*e, k.c_str(), k.size()) == 0 && (*e)[k.size()] == '=';
    if (!replaced) vars.emplace_back(*e);
  }
  for (const auto& [k, v] : o.env) vars.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);

  if (o.die_with_parent) {
    const pid_t parent = getpid();
    pid = fork();
    if (pid < 0) return errno;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(4);  // the parent died between fork and prctl: a resumable exit
      if (o.out_fd >= 0) dup2(o.out_fd, STDOUT_FILENO);
      if (o.err_fd >= 0) dup2(o.err_fd, STDERR_FILENO);
      execvpe(args[0], args.data(), envp.data());
      _exit(127);
    }
    return 0;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (o.out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, o.out_fd, STDOUT_FILENO);
  if (o.err_fd >= 0) posix_spawn_file_actions_adddup2(&fa, o.err_fd, STDERR_FILENO);
  const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace dlcm
