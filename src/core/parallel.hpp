#pragma once
// Where one training process sits in a data-parallel run: explicit options first, else the srun
// step it was started in, else a single process. Plain C++ (environment in, struct out) so the
// CLI resolves it without LibTorch and tests pin it without launching anything.
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace dlcm {

struct Parallel {
  int rank = 0, world_size = 1;
  int local_rank = 0;      // rank on this node: picks the GPU under --device cuda
  std::string rendezvous;  // "host:port" (TCP store hosted by rank 0) or a file path (file store)
  std::string interface;   // network interface for the collectives (GLOO_SOCKET_IFNAME); empty: the
                           // address this host's name resolves to
  int threads = 0;         // intra-op threads of this process; 0: all cores
  std::string source;      // "single", "options" or "slurm": for the log
};

// What `dlcm train` was given; -1 / empty / 0 mean "not given".
struct ParallelRequest {
  int rank = -1, world_size = -1;
  std::string rendezvous;
  int threads = 0;
  std::string run_dir;  // holds the file store of a Slurm step
};

using Environment = std::map<std::string, std::string>;
Environment process_environment();

// Throws a one-line error naming the option or variable at fault.
Parallel resolve_parallel(const ParallelRequest& req, const Environment& env);

// "host:port" -> {host, port}; nullopt for anything else, which names a file. A path written
// with a '/' is always a file, so "./rdzv:1" is a file and "node1:29500" is TCP.
std::optional<std::pair<std::string, int>> tcp_endpoint(const std::string& rendezvous);

// Each rank runs an equal slice of every micro-batch, so train.batch_size must divide by
// world_size x train.micro_batches; throws "<source>: train.batch_size: ..." otherwise.
void check_batch_split(int batch_size, int micro_batches, int world_size, const std::string& source);

// The file store of a Slurm step: unique per job, step and requeue, so a store file left behind
// by a killed attempt is never read by the next one.
std::string slurm_rendezvous_file(const std::string& run_dir, const Environment& env);
inline constexpr const char* kRendezvousPrefix = ".rendezvous-";

}  // namespace dlcm
