// dlcm_bench_step: training throughput of the C++ trainer, and how close it gets to a large matmul.
//
//   dlcm_bench_step --config FILE --steps N --warmup W --threads T [--json]
//                   [--ops-profile OUT.json] [--matmul-reps R] [--prepare-corpus DIR]
//
// Runs dlcm::train::train() for W + N steps into a temporary run directory (evaluation and
// checkpoints pushed past the end, the config otherwise unchanged), takes tokens/s from the
// per-step wall times of the last N steps (TrainSummary::step_seconds: forward, backward, clip,
// update), and training FLOP/s = flops_per_token · tokens_per_step / mean step seconds, with
// flops_per_token (core/flops.hpp, 6·N_eff) at the realised compression of the timed steps. In the
// same process, with the same thread count, it times a 2048×2048 @ 2048×2048 fp32 torch::mm (8 reps
// after 2 warm-up calls, before and after training; the best rep is the ceiling) and reports
// "MFU vs matmul" = training FLOP/s / matmul FLOP/s.
//
// --ops-profile: also counts every operator LibTorch records (RecordFunction, all scopes) per
// training step, by difference of a (W+N)-step and a W-step run, so the final checkpoint and
// evaluation cancel out. Written as JSON: name -> calls, top-level calls, inclusive and self µs.
// --prepare-corpus DIR: builds the corpus like `dlcm data prepare --out DIR` and exits (for when the
// dlcm command itself is not built).
#include <ATen/record_function.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/flops.hpp"
#include "data/corpus.hpp"
#include "model/model.hpp"
#include "storage/run_metrics.hpp"
#include "train/probes.hpp"
#include "train/train.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void usage(const std::string& why) {
  fmt::print(stderr,
             "dlcm_bench_step: {}\nusage: dlcm_bench_step --config FILE --steps N --warmup W --threads T [--json]\n"
             "                       [--ops-profile OUT.json] [--matmul-reps R] [--keep-run-dir]\n"
             "       dlcm_bench_step --prepare-corpus DIR\n",
             why);
  std::exit(2);
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}
double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double stdev(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

// FLOP/s of an n×n @ n×n fp32 torch::mm (2n³ FLOPs), median over `reps` after 2 warm-up calls.
struct MatmulResult {
  double median_flops = 0, best_flops = 0;
};
MatmulResult matmul_flops(int64_t n, int reps) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  for (int i = 0; i < 2; ++i) torch::mm_out(c, a, b);
  std::vector<double> fl;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    torch::mm_out(c, a, b);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    fl.push_back(2.0 * n * n * n / s);
  }
  return {median(fl), *std::max_element(fl.begin(), fl.end())};
}

// Real parameter count of the model the trainer builds (numel of every registered parameter).
int64_t real_param_count(const dlcm::RunConfig& cfg) {
  dlcm::model::LanguageModel net(cfg.model, cfg.boundary);
  int64_t n = 0;
  for (auto& p : net->parameters()) n += p.numel();
  return n;
}

// --- operator counting via RecordFunction ------------------------------------------------------

struct OpStat {
  int64_t calls = 0, top_calls = 0;
  double incl_us = 0, self_us = 0;
};
struct OpCtx : at::ObserverContext {
  Clock::time_point t0;
  double child_us = 0;
  OpCtx* parent = nullptr;
};
std::mutex g_ops_mu;
std::map<std::string, OpStat> g_ops;
thread_local OpCtx* t_top = nullptr;

std::unique_ptr<at::ObserverContext> op_start(const at::RecordFunction&) {
  auto c = std::make_unique<OpCtx>();
  c->parent = t_top;
  t_top = c.get();
  c->t0 = Clock::now();
  return c;
}
void op_end(const at::RecordFunction& fn, at::ObserverContext* ctx) {
  auto* c = static_cast<OpCtx*>(ctx);
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - c->t0).count();
  t_top = c->parent;
  if (c->parent) c->parent->child_us += us;
  std::lock_guard<std::mutex> lock(g_ops_mu);
  auto& s = g_ops[fn.name()];
  s.calls += 1;
  s.top_calls += c->parent ? 0 : 1;
  s.incl_us += us;
  s.self_us += us - c->child_us;
}

double g_train_ratio = 1.0;
std::vector<double> g_step_ratio;  // realised ratio of each step (dlcm), 0 where unknown

dlcm::train::TrainSummary run_training(dlcm::RunConfig cfg, int64_t steps, int threads, bool keep_dir) {
  cfg.train.steps = steps;
  cfg.train.eval_every = 1'000'000'000;       // no evaluation inside the timed loop ...
  cfg.train.checkpoint_every = 1'000'000'000;  // ... and no checkpoint (train() does both once at the end)
  cfg.train.eval_windows = 1;                  // keep that final evaluation short
  char tmpl[] = "/tmp/dlcm_bench_step.XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  const std::string dir = tmpl;
  dlcm::train::TrainOptions opt;
  opt.run_dir = dir;
  opt.threads = threads;
  opt.quiet = true;
  auto summary = dlcm::train::train(cfg, opt);
  // The realised training compression (tokens per concept, mean over all steps) decides how much
  // work the concept stage did: keep it next to the timings.
  if (std::ifstream in(fs::path(dir) / "result.json"); in) {
    const json r = json::parse(in);
    g_train_ratio = r.value("train_realised_ratio", 1.0);
  }
  // Per-step ratios (metrics.sqlite, step numbers 1-based) for the FLOPs of the timed steps only.
  g_step_ratio.assign(static_cast<size_t>(steps), 0.0);
  if (cfg.model.arch == dlcm::Arch::dlcm) {
    auto db = dlcm::storage::open_run_metrics((fs::path(dir) / "metrics.sqlite").string());
    for (const auto& row : dlcm::storage::read_metrics(db))
      if (row.split == "train" && row.name == "ratio" && row.step >= 1 && row.step <= steps)
        g_step_ratio[static_cast<size_t>(row.step - 1)] = row.value;
  }
  if (keep_dir) fmt::print(stderr, "run dir kept: {}\n", dir);
  else fs::remove_all(dir);
  return summary;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config, ops_profile, prepare_dir;
  int64_t steps = 20, warmup = 3;
  int threads = 2, matmul_reps = 8;
  bool as_json = false, keep_dir = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    auto integer = [&]() -> int64_t {
      const std::string v = value();
      try {
        size_t pos = 0;
        const long long x = std::stoll(v, &pos);
        if (pos != v.size()) throw std::invalid_argument(v);
        return x;
      } catch (const std::exception&) {
        usage(fmt::format("{}: expected an integer, got \"{}\"", a, v));
      }
    };
    if (a == "--config") config = value();
    else if (a == "--steps") steps = integer();
    else if (a == "--warmup") warmup = integer();
    else if (a == "--threads") threads = static_cast<int>(integer());
    else if (a == "--matmul-reps") matmul_reps = static_cast<int>(integer());
    else if (a == "--json") as_json = true;
    else if (a == "--ops-profile") ops_profile = value();
    else if (a == "--keep-run-dir") keep_dir = true;
    else if (a == "--prepare-corpus") prepare_dir = value();
    else if (a == "-h" || a == "--help") usage("help");
    else usage(fmt::format("unknown argument \"{}\"", a));
  }
  try {
    if (!prepare_dir.empty()) {
      dlcm::data::PrepareOptions po;
      po.out_dir = prepare_dir;
      for (const auto& d : dlcm::data::prepare_corpus(po))
        fmt::print(stderr, "{}: {} train docs ({} bytes), {} val docs ({} bytes)\n", d.domain, d.train_docs,
                   d.train_bytes, d.val_docs, d.val_bytes);
      return 0;
    }
    if (config.empty()) usage("--config is required");
    if (steps < 1 || warmup < 0 || threads < 1 || matmul_reps < 1) usage("need --steps >= 1, --warmup >= 0, --threads >= 1");
    const dlcm::RunConfig cfg = dlcm::load_run_config(config);
    torch::set_num_threads(threads);
    const auto mm_before = matmul_flops(2048, matmul_reps);

    at::CallbackHandle ops_handle = 0;
    std::map<std::string, OpStat> ops_before;
    if (!ops_profile.empty()) {
      // Reference run: W steps only, so (W+N run) − (W run) is exactly N steps of work.
      ops_handle = at::addGlobalCallback(at::RecordFunctionCallback(op_start, op_end));
      run_training(cfg, std::max<int64_t>(warmup, 1), threads, false);
      std::lock_guard<std::mutex> lock(g_ops_mu);
      ops_before = g_ops;
      g_ops.clear();
    }
    const int64_t total_steps = warmup + steps;
    const auto summary = run_training(cfg, total_steps, threads, keep_dir);
    if (ops_handle) at::removeCallback(ops_handle);
    if (static_cast<int64_t>(summary.step_seconds.size()) != total_steps)
      throw std::runtime_error(fmt::format("training stopped after {} of {} steps ({})", summary.step_seconds.size(),
                                           total_steps, dlcm::storage::to_string(summary.status)));
    const std::vector<double> timed(summary.step_seconds.begin() + warmup, summary.step_seconds.end());
    const double step_s = mean(timed);
    const double tok_s = summary.tokens_per_step / step_s;
    // FLOPs per token at the realised ratio of the *timed* steps (the trainer's summary averages
    // over all steps, warm-up included, when the boundary detector is still far from its target).
    double timed_ratio = 0;
    int64_t known = 0;
    for (size_t i = static_cast<size_t>(warmup); i < g_step_ratio.size(); ++i)
      if (g_step_ratio[i] > 0) timed_ratio += 1.0 / g_step_ratio[i], ++known;  // mean concepts per token
    timed_ratio = known ? static_cast<double>(known) / timed_ratio : g_train_ratio;
    const double fpt = cfg.model.arch == dlcm::Arch::dlcm
                           ? dlcm::flops_per_token(cfg.model, cfg.boundary, timed_ratio).train_flops()
                           : summary.flops_per_token;
    const double train_flops = fpt * summary.tokens_per_step / step_s;

    // Same process, same threads: the matmul ceiling, timed before and after training; the best
    // single multiply counts (a brief burst of other work halves one 0.1 s matmul on 2 cores, so
    // a median or a single sample would flatter the ratio).
    torch::set_num_threads(threads);
    const auto mm_after = matmul_flops(2048, matmul_reps);
    MatmulResult mm{std::max(mm_before.median_flops, mm_after.median_flops),
                    std::max(mm_before.best_flops, mm_after.best_flops)};
    const double mfu = train_flops / mm.best_flops;
    const auto counts = dlcm::count_params(cfg.model, cfg.boundary);
    const int64_t n_real = real_param_count(cfg);
    const std::string blas = dlcm::train::blas_in_use();

    if (!ops_profile.empty()) {
      const int64_t diff_steps = total_steps - std::max<int64_t>(warmup, 1);
      json ops = json::object();
      int64_t calls = 0, top = 0;
      for (auto& [name, s] : g_ops) {
        OpStat b = ops_before.count(name) ? ops_before[name] : OpStat{};
        const double k = 1.0 / static_cast<double>(diff_steps);
        json o = {{"calls", (s.calls - b.calls) * k},
                  {"top_calls", (s.top_calls - b.top_calls) * k},
                  {"incl_us", (s.incl_us - b.incl_us) * k},
                  {"self_us", (s.self_us - b.self_us) * k}};
        calls += s.calls - b.calls;
        top += s.top_calls - b.top_calls;
        ops[name] = o;
      }
      json out = {{"per_step", true},
                  {"steps", diff_steps},
                  {"calls_per_step", static_cast<double>(calls) / diff_steps},
                  {"top_calls_per_step", static_cast<double>(top) / diff_steps},
                  {"ops", ops}};
      std::ofstream(ops_profile) << out.dump(1) << "\n";
    }

    if (as_json) {
      json j = {{"impl", "cpp"},
                {"config", config},
                {"arch", dlcm::name(cfg.model.arch)},
                {"threads", threads},
                {"steps", steps},
                {"warmup", warmup},
                {"n_params", n_real},
                {"n_params_formula", counts.total()},
                {"tokens_per_step", summary.tokens_per_step},
                {"step_seconds", timed},
                {"step_seconds_mean", step_s},
                {"step_seconds_median", median(timed)},
                {"step_seconds_stdev", stdev(timed)},
                {"tokens_per_second", tok_s},
                {"flops_per_token", fpt},
                {"flops_per_token_all_steps", summary.flops_per_token},
                {"timed_realised_ratio", timed_ratio},
                {"train_flops_per_second", train_flops},
                {"matmul_flops_per_second", mm.best_flops},
                {"matmul_flops_per_second_median", mm.median_flops},
                {"mfu_vs_matmul", mfu},
                {"final_train_loss", summary.final_train_loss},
                {"train_realised_ratio", g_train_ratio},
                {"blas", blas}};
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("config            {} ({}, {} params; formula {})\n", config, dlcm::name(cfg.model.arch), n_real,
                 counts.total());
      fmt::print("threads           {}\n", threads);
      fmt::print("realised ratio    {:.2f} tokens per concept over the timed steps ({:.2f} over all)\n", timed_ratio,
                 g_train_ratio);
      fmt::print("BLAS              {}\n", blas);
      fmt::print("steps             {} timed after {} warm-up, {} tokens each\n", steps, warmup, summary.tokens_per_step);
      fmt::print("step time         {:.4f} s mean, {:.4f} s median, ±{:.4f} s stdev\n", step_s, median(timed), stdev(timed));
      fmt::print("tokens/s          {:.0f}\n", tok_s);
      fmt::print("training FLOP/s   {:.3g} ({:.4g} FLOPs/token at the timed steps' ratio)\n", train_flops, fpt);
      fmt::print("matmul FLOP/s     {:.3g} (2048² fp32 mm, best of 2 x {}, before and after training; median {:.3g})\n",
                 mm.best_flops, matmul_reps, mm.median_flops);
      fmt::print("MFU vs matmul     {:.3f}\n", mfu);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "dlcm_bench_step: {}\n", e.what());
    return 1;
  }
  return 0;
}
