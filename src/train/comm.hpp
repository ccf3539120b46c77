#pragma once
// The ranks of one data-parallel run (LibTorch c10d: Gloo on CPU, NCCL on CUDA where the build has
// it). A default Comm is a single process: every collective is then the identity, so the training
// loop has one code path.
#include <torch/torch.h>

#include <memory>

#include "core/parallel.hpp"

namespace dlcm::train {

struct CommGroup;  // the c10d store and process group, kept out of this header

struct Comm {
  int rank = 0, size = 1;
  std::shared_ptr<CommGroup> group;
  bool is_root() const { return rank == 0; }
};

// Joins the run's other ranks through p.rendezvous (a TCP store hosted by rank 0, or a file
// store); returns a single-process Comm when p.world_size is 1.
Comm connect(const Parallel& p, torch::Device dev);

// In place, identical result on every rank. Tensors must be contiguous.
void all_sum(const Comm& c, torch::Tensor& t);
void all_max(const Comm& c, torch::Tensor& t);
// Averages the gradients of `params` across ranks in one flattened bucket.
void average_gradients(const Comm& c, const std::vector<torch::Tensor>& params);
// True on every rank when `flag` is true on any rank.
bool any_rank(const Comm& c, bool flag);

}  // namespace dlcm::train
