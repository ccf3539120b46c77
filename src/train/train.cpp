// `dlcm train`: set up, resume, then the loop (step, metrics, evaluation, checkpoint, heartbeat).
// The pieces live by job: step.cpp (one optimizer step), eval.cpp, checkpoint.cpp, run_dir.cpp.
#include "train/train.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "core/duration.hpp"
#include "core/flops.hpp"
#include "core/schedule.hpp"
#include "data/corpus.hpp"
#include "model/model.hpp"
#include "storage/run_metrics.hpp"
#include "train/checkpoint.hpp"
#include "train/eval.hpp"
#include "train/optim.hpp"
#include "train/probes.hpp"
#include "train/run_dir.hpp"
#include "train/step.hpp"

namespace fs = std::filesystem;

namespace dlcm::train {

namespace {

// Set from signal handlers (SIGINT, SIGTERM, and Slurm's SIGUSR1 before a time limit): the loop
// checkpoints and stops at the next step boundary.
volatile std::sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }
void handle_stop_signals(void (*handler)(int)) {
  std::signal(SIGINT, handler);
  std::signal(SIGTERM, handler);
  std::signal(SIGUSR1, handler);
}

// Runs a fallible set-up step on every rank, then the ranks agree: a failure anywhere fails every
// rank (each with its own error, or a pointer to the rank that had one), so none is left waiting
// in a collective for a rank that already quit.
template <class F>
void agree(const Comm& comm, F&& step) {
  std::string error;
  bool busy = false;
  try {
    step();
  } catch (const RunDirectoryBusy& e) {
    error = e.what(), busy = true;
  } catch (const std::exception& e) {
    error = e.what();
  }
  const bool failed = any_rank(comm, !error.empty());
  if (busy) throw RunDirectoryBusy(error);  // its own exit status: a launcher does not count it as a try
  if (failed)
    throw std::runtime_error(!error.empty() ? error
                                            : fmt::format("rank {}: stopping, another rank failed to set up the run "
                                                          "(its error says why)", comm.rank));
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Before the pace settles the estimate can be negative, NaN or absurd: "?" says so.
std::string format_eta(double s) { return !(s >= 0) || s > 1e7 ? "?" : format_duration(s); }

void push_recent(std::vector<double>& v, double x) {
  v.push_back(x);
  if (v.size() > 20) v.erase(v.begin());
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}

// Keep large activation buffers in the heap instead of fresh mmaps each step: the C++ binary
// otherwise takes ~6x Python's page faults (TOOLCHAIN.md); same effect as GLIBC_TUNABLES.
void keep_buffers_in_heap() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

// The options' own checks, before anything is set up.
void check_options(const RunConfig& cfg, const TrainOptions& opt) {
  if (opt.run_dir.empty()) throw std::runtime_error("train: --run-dir is required");
  if (opt.device != "cpu" && opt.device != "cuda")
    throw std::runtime_error(fmt::format("--device: unknown device \"{}\" (cpu or cuda)", opt.device));
  if (opt.device == "cuda" && !torch::cuda::is_available())
    throw std::runtime_error("--device cuda: this LibTorch build has no CUDA device available");
  check_batch_split(cfg.train.batch_size, cfg.train.micro_batches, opt.parallel.world_size, "run config");
}

data::Corpus load_training_corpus(const RunConfig& cfg) {
  data::Corpus corpus = data::load_corpus(cfg.data, cfg.model.vocab_size);
  const int64_t T = cfg.model.seq_len;
  if (static_cast<int64_t>(corpus.train.size()) <= T + 1)
    throw std::runtime_error(fmt::format("training split has {} tokens, fewer than model.seq_len + 1 = {}",
                                         corpus.train.size(), T + 1));
  return corpus;
}

// The model at its initialisation for the run's seed, on `dev`, in training mode.
model::LanguageModel make_model(const RunConfig& cfg, torch::Device dev) {
  torch::manual_seed(cfg.train.seed);
  model::LanguageModel net(cfg.model, cfg.boundary);
  model::init_parameters(net);
  net->to(dev);
  net->train();
  return net;
}

// Every rank resumes from the one checkpoint, and they check they all read the same step.
std::optional<fs::path> resume(const Comm& comm, const fs::path& dir, model::LanguageModel& net, AdamW& adam,
                               Batcher& data, Progress& pr, RunLog& log) {
  std::optional<fs::path> resumed;
  agree(comm, [&] { resumed = restore_checkpoint(dir, net, adam, data, pr, [&](const auto& l) { log.say(l); }); });
  auto steps = torch::tensor({static_cast<double>(pr.step), -static_cast<double>(pr.step)}, torch::kDouble);
  all_max(comm, steps);
  if (steps[0].item<double>() != -steps[1].item<double>())
    throw std::runtime_error(fmt::format("{}: ranks resumed at different steps ({} to {}); the run directory must "
                                         "be one shared directory", (dir / kCheckpointFiles[0]).string(),
                                         -steps[1].item<double>(), steps[0].item<double>()));
  if (resumed) log.say(fmt::format("resumed from {} at step {}", resumed->string(), pr.step));
  return resumed;
}

// Rank 0's metrics.sqlite. Rows a killed process wrote past its last checkpoint are recomputed from
// `from` (-1: a fresh run), not kept twice.
storage::Database open_metrics(const fs::path& dir, int64_t from) {
  auto db = storage::open_run_metrics((dir / "metrics.sqlite").string());
  storage::drop_metrics_after(db, from);
  return db;
}

// What is trained, on what, by which binary: the head of log.txt.
void say_setting(RunLog& log, const RunConfig& cfg, const TrainOptions& opt, const Comm& comm, int threads,
                 const BuildInfo& build) {
  const auto counts = count_params(cfg.model, cfg.boundary);
  log.say(fmt::format("dlcm train: {} {} params ({} backbone), {} steps x {} x {} tokens, {} threads, device {}",
                      name(cfg.model.arch), counts.total(), counts.backbone, cfg.train.steps, cfg.train.batch_size,
                      cfg.model.seq_len, threads, opt.device));
  log.say(fmt::format("BLAS: {}", build.blas));
  log.say(fmt::format("build: {}", one_line(build)));
  if (comm.size > 1)
    log.say(fmt::format("data-parallel: {} ranks ({}), rendezvous {}, {} rows per rank per micro-batch", comm.size,
                        opt.parallel.source, opt.parallel.rendezvous,
                        cfg.train.batch_size / cfg.train.micro_batches / comm.size));
}

// One optimizer step at the schedule's factor `lrf`. gnorm is NaN when the run diverged (a loss
// that is not finite or above diverge_loss, or gradients that are not finite): nothing was updated.
struct Step {
  StepStats st;
  double gnorm = NAN;
};
Step take_step(model::LanguageModel& net, AdamW& adam, Batcher& data, const RunConfig& cfg, torch::Device dev,
               const Comm& comm, double lrf) {
  zero_grad(adam);
  Step s{forward_backward(net, adam, data, cfg, dev, comm)};
  const bool diverged = !std::isfinite(s.st.loss) || s.st.loss > cfg.train.diverge_loss;
  s.gnorm = diverged ? NAN : clip_grad_norm(adam, cfg.train.grad_clip);
  if (std::isfinite(s.gnorm)) adamw_step(adam, lrf);
  return s;
}

// A step taken, into the progress a checkpoint keeps.
void advance(Progress& pr, const StepStats& st, double tokens_per_step) {
  pr.step += 1;
  pr.tokens += tokens_per_step;
  pr.inv_ratio_sum += 1.0 / st.ratio;
  pr.ratio_count += 1;
  push_recent(pr.recent_losses, st.loss);
  push_recent(pr.recent_ratios, st.ratio);
}

void add_train_rows(std::vector<storage::MetricRow>& rows, int64_t step, const StepStats& st, double lr,
                    double gnorm, double tok_s, bool dlcm) {
  rows.push_back({step, "train", "all", "loss", st.loss});
  rows.push_back({step, "train", "all", "lr", lr});
  rows.push_back({step, "train", "all", "grad_norm", gnorm});
  rows.push_back({step, "train", "all", "tokens_per_s", tok_s});
  if (dlcm) {
    rows.push_back({step, "train", "all", "aux", st.aux});
    rows.push_back({step, "train", "all", "ratio", st.ratio});
  }
}

// An evaluation's rows, and its headline in the log.
void add_eval_rows(std::vector<storage::MetricRow>& rows, RunLog& log, int64_t step,
                   const std::map<std::string, DomainEval>& evals, bool byte_level, bool dlcm) {
  for (auto& [domain, d] : evals) {
    rows.push_back({step, "val", domain, "loss", d.loss()});
    if (byte_level) rows.push_back({step, "val", domain, "bpb", d.bpb()});
    if (dlcm) rows.push_back({step, "val", domain, "ratio", d.ratio()});
  }
  const auto& a = evals.at("all");
  log.say(fmt::format("step {:>6} | val loss {:.4f}{} | realised ratio {:.2f}", step, a.loss(),
                      byte_level ? fmt::format(" | {:.3f} bpb", a.bpb()) : "", a.ratio()));
}

// The rest of the summary, once the loop is over: from the progress and the last evaluation
// (none when the run diverged before its first).
void finish_summary(TrainSummary& s, const RunConfig& cfg, const Progress& pr,
                    const std::map<std::string, DomainEval>& evals, double tokens_per_step) {
  const bool dlcm = cfg.model.arch == Arch::dlcm;
  const DomainEval all = evals.empty() ? DomainEval{} : evals.at("all");
  s.steps = pr.step;
  s.final_train_loss = mean(pr.recent_losses);
  s.train_realised_ratio = dlcm ? mean(pr.recent_ratios) : 1.0;
  s.final_val_loss = evals.empty() ? NAN : all.loss();
  s.realised_ratio = dlcm ? all.ratio() : 1.0;
  // Compute actually spent: concept-rate layers at the ratio averaged over every step.
  s.flops_per_token = flops_per_token(cfg.model, cfg.boundary, run_mean_ratio(pr, cfg.boundary.ratio)).train_flops();
  s.tokens_per_step = tokens_per_step;
}

}  // namespace

TrainSummary train(const RunConfig& cfg, const TrainOptions& opt) {
  const auto t_start = Clock::now();
  keep_buffers_in_heap();
  check_options(cfg, opt);
  const torch::Device dev = opt.device == "cuda" ? torch::Device(torch::kCUDA, opt.parallel.local_rank) : torch::kCPU;
  const int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  const fs::path dir(opt.run_dir);
  const Comm comm = connect(opt.parallel, dev);
  const bool root = comm.is_root();  // the only rank that writes into the run directory
  const bool dlcm = cfg.model.arch == Arch::dlcm;
  const int64_t T = cfg.model.seq_len;

  data::Corpus corpus;
  agree(comm, [&] { corpus = load_training_corpus(cfg); });
  RunDirLock lock;
  RunLog log;
  log.on = root, log.echo = !opt.quiet, log.tty = root && !opt.quiet && isatty(STDERR_FILENO);
  agree(comm, [&] {
    if (root) open_run_dir(lock, log, dir, opt.parallel.rendezvous, to_toml(cfg));
  });
  model::LanguageModel net = make_model(cfg, dev);
  AdamW adam = make_adamw(model::param_infos(net), cfg.model, cfg.train);
  Batcher data{&corpus.train, T, std::mt19937_64(cfg.train.seed * 0x9E3779B97F4A7C15ull + 1)};
  Progress pr;
  const auto resumed = resume(comm, dir, net, adam, data, pr, log);
  std::optional<storage::Database> metrics;  // rows go in with each checkpoint
  if (root) metrics.emplace(open_metrics(dir, resumed ? pr.step : -1));
  std::vector<storage::MetricRow> pending;
  const BuildInfo build = build_info();
  say_setting(log, cfg, opt, comm, threads, build);
  handle_stop_signals(on_stop_signal);
  g_stop_signal = 0;

  TrainSummary summary;
  const double tokens_per_step = static_cast<double>(cfg.train.batch_size) * T;
  const int64_t first_step = pr.step;
  const auto t_loop = Clock::now();
  Heartbeat heartbeat;
  heartbeat.file = dir / "heartbeat.json", heartbeat.on = root;
  heartbeat.beat(pr.step);
  std::map<std::string, DomainEval> last_eval;
  auto run_eval = [&] {
    last_eval = evaluate(net, corpus, T, cfg.train.eval_windows, cfg.train.batch_size, dev, comm);
    add_eval_rows(pending, log, pr.step, last_eval, corpus.byte_level, dlcm);
  };
  auto checkpoint = [&] {
    if (root) {
      storage::write_metrics(*metrics, pending);
      save_checkpoint(dir, net, adam, data, pr);
    }
    pending.clear();
  };

  while (pr.step < cfg.train.steps) {
    // A signal may reach the ranks at different steps: all stop at the first step any rank saw it.
    if (any_rank(comm, g_stop_signal != 0 || pr.step == opt.stop_at_step)) {
      summary.status = RunStatus::interrupted;
      break;
    }
    const double lrf = lr_factor(cfg.train, pr.step);
    const auto t_step = Clock::now();
    const auto [st, gnorm] = take_step(net, adam, data, cfg, dev, comm, lrf);
    if (!std::isfinite(gnorm)) {
      pending.push_back({pr.step, "train", "all", "loss", st.loss});
      log.say(fmt::format("step {}: training loss {} — run diverged", pr.step, st.loss));
      summary.status = RunStatus::diverged;
      break;
    }
    summary.step_seconds.push_back(seconds_since(t_step));
    summary.train_losses.push_back(st.loss);
    advance(pr, st, tokens_per_step);
    const double elapsed = seconds_since(t_loop);
    const double tok_s = (pr.step - first_step) * tokens_per_step / std::max(elapsed, 1e-9);
    add_train_rows(pending, pr.step, st, cfg.train.lr * lrf, gnorm, tok_s, dlcm);
    const double eta = (cfg.train.steps - pr.step) * elapsed / std::max<int64_t>(1, pr.step - first_step);
    const bool eval_now = pr.step % cfg.train.eval_every == 0 || pr.step == cfg.train.steps;
    log.step_line(fmt::format("step {:>6}/{} | loss {:.4f} | {:.0f} tok/s | ETA {}", pr.step, cfg.train.steps,
                              st.loss, tok_s, format_eta(eta)),
                  eval_now);
    if (eval_now) run_eval();
    if (pr.step % cfg.train.checkpoint_every == 0 || pr.step == cfg.train.steps) checkpoint();
    heartbeat.beat(pr.step);
  }
  if (summary.status != RunStatus::diverged) checkpoint();
  if (last_eval.empty() && summary.status != RunStatus::diverged) run_eval();
  if (root) storage::write_metrics(*metrics, pending);
  if (summary.status == RunStatus::interrupted)
    log.say(fmt::format("stopped at step {}; checkpoint saved, re-run to resume", pr.step));

  finish_summary(summary, cfg, pr, last_eval, tokens_per_step);
  const double tok_s = (pr.step - first_step) * tokens_per_step / std::max(seconds_since(t_loop), 1e-9);
  if (root) write_result(dir, cfg, corpus, pr, summary, last_eval, {threads, comm.size, opt.device,
                                                                     seconds_since(t_start), tok_s, build});
  log.say(fmt::format("{}: {} steps, train loss {:.4f}, val loss {:.4f}, result in {}", storage::to_string(summary.status), pr.step,
                      summary.final_train_loss, summary.final_val_loss, (dir / "result.json").string()));
  handle_stop_signals(SIG_DFL);
  return summary;
}

}  // namespace dlcm::train
