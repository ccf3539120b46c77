#include "core/process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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

ProgramResult run_program(const std::vector<std::string>& args) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return {};
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return {};
  }
  pid_t pid = 0;
  const int rc = spawn(args, pid, {.out_fd = out[1], .err_fd = err[1]});
  close(out[1]);
  close(err[1]);
  ProgramResult r;
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    r.err = fmt::format("cannot run {}: {}", args[0], std::strerror(rc));
    return r;
  }
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sink[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sink[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  r.code = wait_exit(pid);
  return r;
}

int exec_program(const std::string& path, const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(nullptr);  // nothing this process buffered may be lost with it
  execv(path.c_str(), args.data());
  return errno;
}

}  // namespace dlcm
