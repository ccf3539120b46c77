// One optimizer step split over two data-parallel ranks (real Gloo process group, one thread per
// rank) equals the whole batch on one process: boundary samples, Global Parser statistics, losses
// and every parameter's gradient.
#include <gtest/gtest.h>

#include <thread>

#include "test_util.hpp"
#include "tiny_config.hpp"
#include "train/step.hpp"

using namespace dlcm;

namespace {

RunConfig tiny(BoundaryMode mode, int micro_batches) {
  RunConfig c = test::tiny_config();
  c.model.vocab_size = 256;
  c.model.seq_len = 32;
  c.boundary.mode = mode;
  c.boundary.aux_weight = 0.5;  // large, so a wrong ∇G would show in the gradients
  c.train.batch_size = 8;
  c.train.micro_batches = micro_batches;
  return c;
}

struct Replica {
  model::LanguageModel net{nullptr};
  train::AdamW adam;
  train::Batcher data;
  at::Generator gen;
};

// The same initial model, data position and boundary generator on every replica.
Replica replica(const RunConfig& c, const std::vector<uint16_t>& tokens) {
  torch::manual_seed(11);
  Replica r;
  r.net = model::LanguageModel(c.model, c.boundary);
  model::init_parameters(r.net);
  r.net->train();
  r.adam = train::make_adamw(model::param_infos(r.net), c.model, c.train);
  r.data = train::Batcher{&tokens, c.model.seq_len, std::mt19937_64(5)};
  r.gen = at::detail::createCPUGenerator(7);
  return r;
}

std::vector<torch::Tensor> grads(const Replica& r) {
  std::vector<torch::Tensor> out;
  for (const auto& g : r.adam.groups)
    for (const auto& p : g.params) out.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
  return out;
}

}  // namespace

TEST(DataParallel, TwoRankSlicesGiveTheWholeBatchStepAndGradients) {
  torch::set_num_threads(1);
  std::vector<uint16_t> tokens(4096);
  std::mt19937_64 rng(3);
  for (auto& t : tokens) t = static_cast<uint16_t>(rng() % 256);
  const auto dir = test::temp_dir("data-parallel");
  int store = 0;
  for (BoundaryMode mode : {BoundaryMode::global, BoundaryMode::sequence}) {
    for (int M : {1, 2}) {
      SCOPED_TRACE(::testing::Message() << "mode " << name(mode) << ", micro-batches " << M);
      const RunConfig c = tiny(mode, M);
      Replica one = replica(c, tokens);
      const auto whole = train::forward_backward(one.net, one.adam, one.data, c, torch::kCPU, {}, one.gen);
      const auto want = grads(one);

      Replica ranks[2] = {replica(c, tokens), replica(c, tokens)};
      train::StepStats got[2];
      const std::string rdzv = (dir / ("store-" + std::to_string(store++))).string();
      std::vector<std::thread> threads;
      for (int r = 0; r < 2; ++r)
        threads.emplace_back([&, r] {
          Parallel p;
          p.rank = r;
          p.world_size = 2;
          p.rendezvous = rdzv;
          const auto comm = train::connect(p, torch::kCPU);
          got[r] = train::forward_backward(ranks[r].net, ranks[r].adam, ranks[r].data, c, torch::kCPU, comm,
                                           ranks[r].gen);
        });
      for (auto& t : threads) t.join();

      for (int r = 0; r < 2; ++r) {
        // Boundary counts are integers: the same samples give exactly the same ratio.
        EXPECT_EQ(got[r].ratio, whole.ratio) << "rank " << r;
        EXPECT_NEAR(got[r].loss, whole.loss, 1e-6) << "rank " << r;
        EXPECT_NEAR(got[r].aux, whole.aux, 1e-7) << "rank " << r;
        const auto g = grads(ranks[r]);
        ASSERT_EQ(g.size(), want.size());
        for (size_t j = 0; j < g.size(); ++j) {
          ASSERT_EQ(g[j].defined(), want[j].defined()) << j;
          if (!g[j].defined()) continue;
          const double scale = want[j].abs().max().item<double>() + 1e-12;
          EXPECT_LT((g[j] - want[j]).abs().max().item<double>() / scale, 1e-5) << "parameter " << j;
        }
      }
      // The ranks hold bit-identical gradients, so their parameters never drift apart.
      const auto g0 = grads(ranks[0]), g1 = grads(ranks[1]);
      for (size_t j = 0; j < g0.size(); ++j)
        if (g0[j].defined()) {
          EXPECT_TRUE(torch::equal(g0[j], g1[j])) << j;
        }
    }
  }
  std::filesystem::remove_all(dir);
}
