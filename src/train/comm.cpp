#include "train/comm.hpp"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <filesystem>

namespace dlcm::train {

struct CommGroup {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  torch::Device dev = torch::kCPU;  // NCCL reduces device tensors only
};

namespace {

// Every rank must arrive within this time; srun starts them together, a rank that never comes
// (failed to start, wrong --world-size) ends the others with this error instead of a hang.
constexpr std::chrono::minutes kRendezvousTimeout{5};

c10::intrusive_ptr<c10d::Store> open_store(const Parallel& p) {
  if (const auto ep = tcp_endpoint(p.rendezvous)) {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(ep->second);
    o.isServer = p.rank == 0;
    o.numWorkers = static_cast<std::size_t>(p.world_size);
    o.waitWorkers = true;
    o.timeout = kRendezvousTimeout;
    return c10::make_intrusive<c10d::TCPStore>(ep->first, o);
  }
  // A Slurm step's store lives in the run directory, which may not exist yet.
  if (const auto dir = std::filesystem::path(p.rendezvous).parent_path(); !dir.empty())
    std::filesystem::create_directories(dir);
  auto s = c10::make_intrusive<c10d::FileStore>(p.rendezvous, p.world_size);
  s->setTimeout(kRendezvousTimeout);
  return s;
}

std::shared_ptr<::gloo::transport::Device> gloo_device(const Parallel& p) {
  if (!p.interface.empty()) return c10d::ProcessGroupGloo::createDeviceForInterface(p.interface);
  // Ranks meeting on the loopback address all live on this machine: keep the traffic there too.
  if (const auto ep = tcp_endpoint(p.rendezvous); ep && (ep->first == "127.0.0.1" || ep->first == "localhost"))
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

std::runtime_error rendezvous_error(const Parallel& p, const std::string& why) {
  return std::runtime_error(
      fmt::format("--rendezvous {}: rank {} of {} could not join: {}", p.rendezvous, p.rank, p.world_size, why));
}

c10d::ProcessGroup& pg(const Comm& c) { return *c.group->pg; }

void all_reduce(const Comm& c, torch::Tensor& t, c10d::ReduceOp::RedOpType op) {
  if (c.size == 1 || t.numel() == 0) return;
  std::vector<at::Tensor> v{t.device() == c.group->dev ? t : t.to(c.group->dev)};
  c10d::AllreduceOptions o;
  o.reduceOp = op;
  pg(c).allreduce(v, o)->wait();
  if (!v[0].is_same(t)) t.copy_(v[0]);
}

}  // namespace

Comm connect(const Parallel& p, torch::Device dev) {
  if (p.world_size <= 1) return {};
  auto g = std::make_shared<CommGroup>();
  g->dev = dev;
  try {
    g->store = open_store(p);
    if (dev.is_cuda()) {
#ifdef USE_C10D_NCCL
      g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, p.rank, p.world_size);
#else
      throw std::runtime_error(
          "--device cuda: this LibTorch was built without NCCL, so data-parallel runs are CPU only "
          "(a single-process cuda run works)");
#endif
    } else {
      auto o = c10d::ProcessGroupGloo::Options::create();
      o->devices.push_back(gloo_device(p));
      o->threads = 2;
      g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, p.rank, p.world_size, o);
    }
  } catch (const c10::Error& e) {
    throw rendezvous_error(p, e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw rendezvous_error(p, e.what());
  }
  return Comm{p.rank, p.world_size, std::move(g)};
}

void all_sum(const Comm& c, torch::Tensor& t) { all_reduce(c, t, c10d::ReduceOp::SUM); }
void all_max(const Comm& c, torch::Tensor& t) { all_reduce(c, t, c10d::ReduceOp::MAX); }

bool any_rank(const Comm& c, bool flag) {
  if (c.size == 1) return flag;
  auto t = torch::tensor({flag ? 1.0 : 0.0}, torch::kDouble);
  all_max(c, t);
  return t.item<double>() > 0;
}

void average_gradients(const Comm& c, const std::vector<torch::Tensor>& params) {
  if (c.size == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad().reshape({-1}));
  if (grads.empty()) return;
  auto flat = torch::cat(grads);
  all_sum(c, flat);
  flat.div_(c.size);
  int64_t at = 0;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    auto g = p.mutable_grad();
    g.copy_(flat.slice(0, at, at + g.numel()).view_as(g));
    at += g.numel();
  }
}

}  // namespace dlcm::train
