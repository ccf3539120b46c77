// The golden test against an independent implementation (issue 17). bench/py_dlcm.py is a
// line-by-line PyTorch port of the model and the trainer's step, built from LibTorch's composite
// ops where C++ runs its hand-written CPU kernels (RMSNorm, RoPE, attention) and the masked
// cross-attention. This test builds tiny models with a fixed seed, runs the trainer's step on them
// (train::forward_backward, then clip_grad_norm) and exports, per case: the config, every
// parameter, the batch, the logits, boundary probabilities and decisions, the losses, every
// parameter's gradient, its norm and the optimizer's groups. `py_dlcm.py --golden DIR` loads the
// weights by name into its own model, recomputes all of it and must agree elementwise within
// |py − c++| ≤ 1e-5·(max|c++| + |c++|), relative to each tensor's scale (its GOLDEN_TOL); the
// boundary decisions and the groups must agree exactly.
//
// Training mode samples boundaries. Rather than hoping two generators agree, the uniforms the
// step draws are exported (replayed from the same seed: the forward draws one [rows, T] block per
// micro-batch and nothing else) and Python compares them against its own sharpened p. Gradients
// come from the real step, so a replay that drew differently from it
// would show as a mismatch, not pass unnoticed.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "model/model.hpp"
#include "test_util.hpp"
#include "train/optim.hpp"
#include "train/step.hpp"

using namespace dlcm;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kSeed = 5;

struct Case {
  std::string name;
  RunConfig cfg;
  bool training;
  model::CrossKernel kernel;
};

// Tiny but complete: two decoder blocks (the masked kernel's bias is shared between them), every
// block kind, a batch of four windows of 32 tokens. init_std 0.1 rather than 0.02 so attention is
// far from uniform, and aux_weight 1 so the ratio loss's gradient (the boundary projections' only
// one) is not lost among the others.
RunConfig tiny(Arch arch) {
  RunConfig c;
  auto& m = c.model;
  m.arch = arch;
  m.seq_len = 32;
  m.d_token = 16;
  m.n_heads_token = 2;
  m.n_layers = 2;
  m.encoder_layers = 1;
  m.decoder_layers = 2;
  m.d_concept = 24;
  m.n_heads_concept = 2;
  m.concept_layers = 1;
  m.init_std = 0.1;
  c.boundary.aux_weight = 1.0;
  c.train.batch_size = 4;
  return c;
}

RunConfig with_mode(BoundaryMode mode) {
  RunConfig c = tiny(Arch::dlcm);
  c.boundary.mode = mode;
  return c;
}

// The rest of the configuration space the port must follow: μP (attention scale 1/d_head, output
// multiplier, per-group rates and decay), grouped KV heads on both sides, a narrower boundary scan,
// EMA smoothing and micro-batches (global mode's deferred ratio-loss gradient).
RunConfig everything_else(Arch arch) {
  RunConfig c = tiny(arch);
  c.model.parametrisation = Parametrisation::mup;
  c.model.d_token_base = 8;
  c.model.d_concept_base = 16;
  c.model.n_kv_heads_token = 1;
  c.model.n_kv_heads_concept = 1;
  c.boundary.d_scan = 8;
  c.boundary.smoothing = Smoothing::ema;
  c.train.micro_batches = 2;
  c.train.lr_concept = 2e-2;
  return c;
}

std::vector<Case> cases() {
  using K = model::CrossKernel;
  return {
      {"baseline_eval", tiny(Arch::baseline), false, K::automatic},
      {"baseline_mup_gqa_micro2_train", everything_else(Arch::baseline), true, K::automatic},
      {"global_train_masked", with_mode(BoundaryMode::global), true, K::masked},
      {"global_train_replicated", with_mode(BoundaryMode::global), true, K::replicated},
      {"global_eval_masked", with_mode(BoundaryMode::global), false, K::masked},
      {"global_eval_replicated", with_mode(BoundaryMode::global), false, K::replicated},
      {"sequence_train_masked", with_mode(BoundaryMode::sequence), true, K::masked},
      {"sequence_eval_replicated", with_mode(BoundaryMode::sequence), false, K::replicated},
      {"fixed_train_replicated", with_mode(BoundaryMode::fixed), true, K::replicated},
      {"fixed_eval_masked", with_mode(BoundaryMode::fixed), false, K::masked},
      {"global_mup_gqa_ema_micro2_train_masked", everything_else(Arch::dlcm), true, K::masked},
      {"global_mup_gqa_ema_micro2_eval_replicated", everything_else(Arch::dlcm), false, K::replicated},
  };
}

const char* name(model::CrossKernel k) {
  return k == model::CrossKernel::masked ? "masked" : k == model::CrossKernel::replicated ? "replicated" : "automatic";
}

// Tensors as one raw little-endian file plus a JSON index of names, dtypes, shapes and byte offsets:
// readable from Python with numpy alone.
struct TensorFile {
  std::ofstream bin;
  nlohmann::json index = nlohmann::json::object();
  int64_t offset = 0;

  explicit TensorFile(const fs::path& path) : bin(path, std::ios::binary) {}

  void add(const std::string& name, const torch::Tensor& t) {
    ASSERT_TRUE(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kLong) << name;
    auto c = t.detach().contiguous();
    const auto bytes = static_cast<int64_t>(c.numel() * c.element_size());
    bin.write(static_cast<const char*>(c.data_ptr()), bytes);
    index[name] = {{"dtype", c.scalar_type() == torch::kFloat ? "float32" : "int64"},
                   {"shape", c.sizes().vec()},
                   {"offset", offset}};
    offset += bytes;
  }
};

// 4096 bytes of a fixed pseudo-random stream: the step's windows are drawn from it.
std::vector<uint16_t> corpus() {
  std::mt19937_64 rng(kSeed);
  std::vector<uint16_t> out(4096);
  for (auto& t : out) t = static_cast<uint16_t>(rng() % 256);
  return out;
}

void export_case(const Case& c, const fs::path& dir) {
  fs::create_directories(dir);
  const auto& cfg = c.cfg;
  const bool dlcm = cfg.model.arch == Arch::dlcm;
  const int M = cfg.train.micro_batches;
  const int64_t mb = cfg.train.batch_size / M, T = cfg.model.seq_len;
  std::ofstream(dir / "config.toml") << to_toml(cfg);

  torch::manual_seed(kSeed);
  model::LanguageModel net(cfg.model, cfg.boundary);
  model::init_parameters(net);
  if (dlcm)
    for (auto& l : *net->decoder) l->as<model::DecoderBlock>()->cross->kernel = c.kernel;
  net->train(c.training);
  TensorFile out(dir / "tensors.bin");
  for (auto& p : net->named_parameters()) out.add("param/" + p.key(), p.value());

  // What the step sees, replayed from the same seeds: windows, uniforms and the forward's outputs.
  const auto tokens = corpus();
  train::Batcher data{&tokens, T, std::mt19937_64(kSeed)}, replay = data;
  auto step_gen = at::detail::createCPUGenerator(kSeed), replay_gen = at::detail::createCPUGenerator(kSeed);
  auto draws = at::detail::createCPUGenerator(kSeed);
  std::vector<torch::Tensor> windows, uniforms, logits, p, boundaries;
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < M; ++i) {
      windows.push_back(replay.next(mb));
      if (c.training && dlcm) uniforms.push_back(at::rand({mb, T}, draws, torch::kFloat));
      auto f = net->forward(windows.back().slice(1, 0, T), nullptr, {0, mb, replay_gen});
      logits.push_back(f.logits);
      if (dlcm) {
        p.push_back(f.p);
        boundaries.push_back(f.boundaries);
      }
    }
  }
  out.add("windows", torch::cat(windows));
  out.add("logits", torch::cat(logits));
  if (!uniforms.empty()) out.add("uniforms", torch::cat(uniforms));
  if (dlcm) {
    out.add("p", torch::cat(p));
    out.add("boundaries", torch::cat(boundaries));
  }

  // The trainer's step up to the update (train.cpp's take_step): its optimizer groups, the
  // gradients and their norm. The update itself is left out: Adam's first step is g/(|g| + ε) per
  // element, which turns the last bits of a gradient near zero into a whole step's difference.
  const auto params = net->named_parameters();
  auto opt = train::make_adamw(model::param_infos(net), cfg.model, cfg.train);
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : opt.groups) {
    std::vector<std::string> names;
    for (const auto& t : g.params)
      for (const auto& q : params)
        if (q.value().is_same(t)) names.push_back(q.key());
    groups.push_back(
        {{"name", g.name}, {"lr", g.lr}, {"eps", g.eps}, {"weight_decay", g.weight_decay}, {"params", names}});
  }
  const auto st = train::forward_backward(net, opt, data, cfg, torch::kCPU, {}, step_gen);
  for (const auto& q : params)
    if (q.value().grad().defined()) out.add("grad/" + q.key(), q.value().grad());
  const double gnorm = train::clip_grad_norm(opt, cfg.train.grad_clip);

  nlohmann::json index = {{"case", c.name},     {"training", c.training}, {"cross_kernel", name(c.kernel)},
                          {"loss", st.loss},    {"aux", st.aux},          {"ratio", st.ratio},
                          {"grad_norm", gnorm}, {"groups", groups},       {"tensors", out.index}};
  std::ofstream(dir / "index.json") << index.dump(1) << "\n";
}

TEST(Golden, CppModelMatchesPythonPortInEveryModeAndKernel) {
  const std::string python = DLCM_TORCH_PYTHON;
  ASSERT_FALSE(python.empty())
      << "no Python that can `import torch` was found when the build was configured (tried "
         "/usr/bin/python3, then python3 on PATH): install python3-torch (scripts/setup.sh) and reconfigure";
  const auto dir = test::temp_dir("golden");
  const auto all = cases();
  for (const auto& c : all) export_case(c, dir / c.name);

  const auto r = test::run_command(test::shell_quote(python) + " " +
                                   test::shell_quote(std::string(DLCM_SOURCE_DIR) + "/bench/py_dlcm.py") +
                                   " --threads 1 --golden " + test::shell_quote(dir.string()) + " 2>&1");
  EXPECT_EQ(r.code, 0) << dir.string() << ":\n" << r.out;
  const auto report = nlohmann::json::parse(test::read_text(dir / "golden.json"), nullptr, false);
  ASSERT_TRUE(report.is_object()) << "py_dlcm.py wrote no golden.json:\n" << r.out;
  for (const auto& c : all) {
    ASSERT_TRUE(report.contains(c.name)) << c.name << " was not compared:\n" << r.out;
    const auto& res = report[c.name];
    EXPECT_TRUE(res.value("ok", false)) << c.name << ": " << res.dump();
    // Every case compares the gradients of all parameters (but the boundary scan's in fixed mode).
    EXPECT_GE(res.value("tensors_compared", 0), res.value("parameters", 0)) << c.name;
  }
  if (!HasFailure()) fs::remove_all(dir);  // else kept for a look (py_dlcm.py --golden DIR)
}

}  // namespace
