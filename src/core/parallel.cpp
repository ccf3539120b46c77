#include "core/parallel.hpp"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <stdexcept>

extern char** environ;

namespace dlcm {
namespace {

// A whole non-negative decimal number, or nullopt.
std::optional<int> parse_count(const std::string& s) {
  int v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

const std::string* lookup(const Environment& env, const char* key) {
  const auto it = env.find(key);
  return it == env.end() || it->second.empty() ? nullptr : &it->second;
}

int env_count(const Environment& env, const char* key, int fallback) {
  const std::string* v = lookup(env, key);
  if (!v) return fallback;
  const auto n = parse_count(*v);
  if (!n) throw std::runtime_error(fmt::format("environment {}: \"{}\" is not a whole number", key, *v));
  return *n;
}

}  // namespace

Environment process_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

std::optional<std::pair<std::string, int>> tcp_endpoint(const std::string& rendezvous) {
  const auto colon = rendezvous.rfind(':');
  if (colon == std::string::npos || colon == 0 || rendezvous.find('/') != std::string::npos) return std::nullopt;
  const auto port = parse_count(rendezvous.substr(colon + 1));
  if (!port || *port < 1 || *port > 65535) return std::nullopt;
  return std::make_pair(rendezvous.substr(0, colon), *port);
}

std::string slurm_rendezvous_file(const std::string& run_dir, const Environment& env) {
  auto get = [&](const char* a, const char* b) {
    const std::string* v = lookup(env, a);
    if (!v && b) v = lookup(env, b);
    return v ? *v : std::string("0");
  };
  const std::string name = fmt::format("{}{}.{}.{}", kRendezvousPrefix, get("SLURM_JOB_ID", "SLURM_JOBID"),
                                       get("SLURM_STEP_ID", "SLURM_STEPID"), get("SLURM_RESTART_COUNT", nullptr));
  return (std::filesystem::path(run_dir) / name).string();
}

void check_batch_split(int batch_size, int micro_batches, int world_size, const std::string& source) {
  if (batch_size % (world_size * micro_batches) != 0)
    throw std::runtime_error(fmt::format("{}: train.batch_size: {} does not divide by world size {} x "
                                         "train.micro_batches {} (every rank runs an equal slice of each "
                                         "micro-batch)", source, batch_size, world_size, micro_batches));
}

Parallel resolve_parallel(const ParallelRequest& req, const Environment& env) {
  Parallel p;
  if (req.threads < 0) throw std::runtime_error(fmt::format("--threads: {} is negative", req.threads));
  // Slurm does not confine a task to its CPUs: size the thread pool from the allocation.
  p.threads = req.threads > 0 ? req.threads : env_count(env, "SLURM_CPUS_PER_TASK", 0);
  if (const std::string* ifname = lookup(env, "GLOO_SOCKET_IFNAME")) p.interface = *ifname;

  const bool explicit_ = req.rank >= 0 || req.world_size >= 0 || !req.rendezvous.empty();
  if (explicit_) {
    if (req.world_size < 1)
      throw std::runtime_error("--world-size: required (at least 1) when --rank or --rendezvous is given");
    p.world_size = req.world_size;
    p.source = "options";
    if (p.world_size == 1) {
      if (req.rank > 0) throw std::runtime_error(fmt::format("--rank: {} is not below --world-size 1", req.rank));
      return p;
    }
    if (req.rank < 0) throw std::runtime_error(fmt::format("--rank: required with --world-size {}", p.world_size));
    if (req.rank >= p.world_size)
      throw std::runtime_error(fmt::format("--rank: {} is not below --world-size {}", req.rank, p.world_size));
    if (req.rendezvous.empty())
      throw std::runtime_error("--rendezvous: required with --world-size > 1 (host:port, or a file path)");
    p.rank = p.local_rank = req.rank;
    p.rendezvous = req.rendezvous;
    return p;
  }

  // A task of an srun step. The batch script itself also sees SLURM_NTASKS and SLURM_PROCID=0
  // but no step id: it must train alone, not wait for partners that were never started.
  if (lookup(env, "SLURM_PROCID") && (lookup(env, "SLURM_STEP_ID") || lookup(env, "SLURM_STEPID"))) {
    const int world = env_count(env, "SLURM_STEP_NUM_TASKS", env_count(env, "SLURM_NTASKS", 1));
    if (world > 1) {
      p.world_size = world;
      p.rank = env_count(env, "SLURM_PROCID", 0);
      p.local_rank = env_count(env, "SLURM_LOCALID", 0);
      if (p.rank >= world)
        throw std::runtime_error(fmt::format("environment SLURM_PROCID: {} is not below the step's {} tasks", p.rank,
                                             world));
      if (req.run_dir.empty()) throw std::runtime_error("--run-dir: required");
      p.rendezvous = slurm_rendezvous_file(req.run_dir, env);
      p.source = "slurm";
      return p;
    }
  }
  p.source = "single";
  return p;
}

}  // namespace dlcm
