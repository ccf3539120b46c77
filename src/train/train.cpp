#include "train/train.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <torch/version.h>

#include "core/files.hpp"
#include "core/flops.hpp"
#include "core/schedule.hpp"
#include "data/corpus.hpp"
#include "model/model.hpp"
#include "storage/run_metrics.hpp"
#include "train/eval.hpp"
#include "train/optim.hpp"
#include "train/step.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace dlcm::train {

const char* name(RunStatus s) {
  return s == RunStatus::completed ? "completed" : s == RunStatus::diverged ? "diverged" : "interrupted";
}

namespace {

// Set from signal handlers (SIGINT, SIGTERM, and Slurm's SIGUSR1 before a time limit): the loop
// checkpoints and stops at the next step boundary.
volatile std::sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }

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

// What earlier trainers of the run directory left when killed, removed once this one holds its
// lock: store files of earlier Slurm attempts (each attempt's name differs, so never read again),
// and the private temporaries (core/files.hpp) of files only the lock holder writes.
void remove_stale_files(const fs::path& dir, const std::string& rendezvous) {
  static const char* const kOwnTemporaries[] = {"checkpoint.pt.new.tmp.", "result.json.tmp.", "heartbeat.json.tmp."};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    bool stale = name.rfind(kRendezvousPrefix, 0) == 0 && e.path() != fs::path(rendezvous);
    for (const char* t : kOwnTemporaries) stale = stale || name.rfind(t, 0) == 0;
    if (stale) fs::remove(e.path(), ec);
  }
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The worker's heartbeat, <run dir>/heartbeat.json: its pid, step and the longest gap between two
// beats so far (a step, with any evaluation and checkpoint in it). The local orchestrator kills a
// worker whose heartbeat stops for far longer than that (sweeps/launcher.cpp). Written at most once
// a second, so tiny steps do not turn into a file write each.
struct Heartbeat {
  fs::path file;
  bool on = false;
  std::optional<Clock::time_point> last_beat;
  Clock::time_point last_write{};
  double max_gap = 0;
  void beat(int64_t step) {
    const auto now = Clock::now();
    if (last_beat) max_gap = std::max(max_gap, std::chrono::duration<double>(now - *last_beat).count());
    last_beat = now;
    if (!on || (now - last_write < std::chrono::seconds(1) && last_write != Clock::time_point{})) return;
    last_write = now;
    const double unix_now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    write_file_atomic(file.string(), json({{"pid", getpid()}, {"step", step}, {"unix", unix_now}, {"max_gap", max_gap}}).dump() + "\n");
  }
};

// --- checkpoints ---------------------------------------------------------------------------

struct Progress {
  int64_t step = 0;
  double tokens = 0;
  // Realised training compression over the run: concepts per token summed over steps, so the run's
  // ratio is tokens / concepts (a harmonic mean). The first steps' few boundaries (R near T) would
  // otherwise dominate an arithmetic mean: 10-36 at target 2-4 on the demo sweep.
  double inv_ratio_sum = 0, ratio_count = 0;
  std::vector<double> recent_losses;      // last 20 training losses, for final_train_loss
  std::vector<double> recent_ratios;      // last 20 realised training ratios: the Global Parser
                                          // oscillates around its target, so report a window
};

void push_recent(std::vector<double>& v, double x) {
  v.push_back(x);
  if (v.size() > 20) v.erase(v.begin());
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}

// Checkpoints are sealed (size + CRC32 header, core/files.hpp) and rotated: checkpoint.pt is the
// newest, checkpoint.prev.pt the one before. A new one is written whole to checkpoint.pt.new
// (fsynced), then the two renames shift it in; a kill at any moment leaves a good one to resume.
const char* const kCheckpointFiles[] = {"checkpoint.pt", "checkpoint.pt.new", "checkpoint.prev.pt"};

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// The archive inside a sealed checkpoint; throws naming the file when it is torn or corrupt.
torch::serialize::InputArchive open_checkpoint(const fs::path& path) {
  std::istringstream payload(unseal(read_file(path.string(), "checkpoint"), path.string()));
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(payload);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: unreadable checkpoint: {}", path.string(), first_line(e.what())));
  }
  return ar;
}

void save_checkpoint(const fs::path& dir, model::LanguageModel& net, const AdamW& opt, const Batcher& data,
                     const Progress& pr) {
  torch::serialize::OutputArchive ar;
  for (auto& p : net->named_parameters()) ar.write("model/" + p.key(), p.value());
  for (auto& b : net->named_buffers()) ar.write("buffer/" + b.key(), b.value());
  for (size_t g = 0; g < opt.groups.size(); ++g)
    for (size_t i = 0; i < opt.groups[g].params.size(); ++i) {
      ar.write(fmt::format("opt/{}/{}/m", g, i), opt.groups[g].exp_avg[i]);
      ar.write(fmt::format("opt/{}/{}/v", g, i), opt.groups[g].exp_avg_sq[i]);
    }
  std::ostringstream rng;
  rng << data.rng;
  auto gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor gen_state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen_state = gen.get_state();
  }
  ar.write("opt_t", c10::IValue(opt.t));
  ar.write("step", c10::IValue(pr.step));
  ar.write("tokens", c10::IValue(pr.tokens));
  ar.write("inv_ratio_sum", c10::IValue(pr.inv_ratio_sum));
  ar.write("ratio_count", c10::IValue(pr.ratio_count));
  ar.write("recent_losses", torch::tensor(pr.recent_losses, torch::kDouble));
  ar.write("recent_ratios", torch::tensor(pr.recent_ratios, torch::kDouble));
  ar.write("rng_data", c10::IValue(rng.str()));
  ar.write("rng_torch", gen_state);
  std::ostringstream bytes;
  ar.save_to(bytes);
  const fs::path newest = dir / kCheckpointFiles[0], fresh = dir / kCheckpointFiles[1], prev = dir / kCheckpointFiles[2];
  write_file_atomic(fresh.string(), seal(bytes.str()));
  if (fs::exists(newest)) fs::rename(newest, prev);
  fs::rename(fresh, newest);
  sync_directory(dir.string());
}

void load_checkpoint(const fs::path& path, model::LanguageModel& net, AdamW& opt, Batcher& data, Progress& pr) {
  auto ar = open_checkpoint(path);
  try {
    torch::NoGradGuard no_grad;
    for (auto& p : net->named_parameters()) {
      torch::Tensor t;
      ar.read("model/" + p.key(), t);
      p.value().copy_(t);
    }
    for (auto& b : net->named_buffers()) {
      torch::Tensor t;
      ar.read("buffer/" + b.key(), t);
      b.value().copy_(t);
    }
    for (size_t g = 0; g < opt.groups.size(); ++g)
      for (size_t i = 0; i < opt.groups[g].params.size(); ++i) {
        torch::Tensor m, v;
        ar.read(fmt::format("opt/{}/{}/m", g, i), m);
        ar.read(fmt::format("opt/{}/{}/v", g, i), v);
        opt.groups[g].exp_avg[i].copy_(m);
        opt.groups[g].exp_avg_sq[i].copy_(v);
      }
    c10::IValue v;
    ar.read("opt_t", v), opt.t = v.toInt();
    ar.read("step", v), pr.step = v.toInt();
    ar.read("tokens", v), pr.tokens = v.toDouble();
    ar.read("inv_ratio_sum", v), pr.inv_ratio_sum = v.toDouble();
    ar.read("ratio_count", v), pr.ratio_count = v.toDouble();
    torch::Tensor recent;
    ar.read("recent_losses", recent);
    pr.recent_losses.assign(recent.data_ptr<double>(), recent.data_ptr<double>() + recent.numel());
    ar.read("recent_ratios", recent);
    pr.recent_ratios.assign(recent.data_ptr<double>(), recent.data_ptr<double>() + recent.numel());
    ar.read("rng_data", v);
    std::istringstream rng(v.toStringRef());
    rng >> data.rng;
    torch::Tensor gen_state;
    ar.read("rng_torch", gen_state);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(gen_state);
  } catch (const c10::Error& e) {
    throw std::runtime_error(fmt::format("{}: checkpoint does not match this run: {}", path.string(),
                                         first_line(e.what_without_backtrace())));
  }
}

// Loads the newest good checkpoint of the run directory with `load`, warning about each bad one
// skipped. Which file it loaded, nothing when the run has never written one; throws when every
// checkpoint present is bad.
std::optional<fs::path> load_newest_good(const fs::path& dir, const std::function<void(const fs::path&)>& load,
                                         const std::function<void(const std::string&)>& warn) {
  std::vector<std::string> bad;
  for (const char* name : kCheckpointFiles) {
    const fs::path path = dir / name;
    if (!fs::exists(path)) continue;
    try {
      load(path);
    } catch (const std::exception& e) {
      bad.push_back(first_line(e.what()));
      continue;
    }
    for (const auto& b : bad) warn(fmt::format("warning: {}; falling back to {}", b, path.string()));
    return path;
  }
  if (bad.empty()) return std::nullopt;
  std::string why;
  for (const auto& b : bad) why += (why.empty() ? "" : "; ") + b;
  throw std::runtime_error(fmt::format("{} (no good checkpoint left to resume from; move the run directory "
                                       "aside to start over)", why));
}

std::optional<fs::path> restore_checkpoint(const fs::path& dir, model::LanguageModel& net, AdamW& opt, Batcher& data,
                                           Progress& pr, const std::function<void(const std::string&)>& warn) {
  return load_newest_good(dir, [&](const fs::path& path) { load_checkpoint(path, net, opt, data, pr); }, warn);
}

}  // namespace

// --- one optimizer step ----------------------------------------------------------------------

// In `global` boundary mode the ratio loss uses F and G of the whole global batch (all
// micro-batches, all ranks): it is linear in G once F is fixed, so each micro-batch's ∇G is kept
// aside and scaled by the global F's coefficient once the statistics are reduced.
StepStats forward_backward(model::LanguageModel& net, AdamW& opt, Batcher& data, const RunConfig& cfg,
                           torch::Device dev, const Comm& comm, const at::Generator& gen) {
  const auto& b = cfg.boundary;
  const int M = cfg.train.micro_batches;
  const int64_t mb = cfg.train.batch_size / M, rows = mb / comm.size, first = comm.rank * rows;
  const int64_t T = cfg.model.seq_len;
  const bool dlcm = cfg.model.arch == Arch::dlcm;
  const bool pooled = dlcm && b.mode == BoundaryMode::global && M * comm.size > 1;
  const bool deferred = pooled && b.aux_weight > 0;
  std::vector<torch::Tensor> params;
  for (auto& g : opt.groups)
    for (auto& p : g.params) params.push_back(p);
  std::vector<torch::Tensor> grad_G(deferred ? params.size() : 0);
  // This rank's sums over its micro-batches: CE, aux (per-batch modes), F, G, boundaries.
  double ce_sum = 0, aux_sum = 0, F_sum = 0, G_sum = 0, boundaries = 0;
  for (int i = 0; i < M; ++i) {
    auto w = data.next(mb).slice(0, first, first + rows).to(dev);
    model::ForwardOut out;
    torch::Tensor ce;
    {
      model::Autocast amp(dev);  // bf16 on CUDA; the backward below runs outside it
      out = net->forward(w.slice(1, 0, T), nullptr, {first, mb, gen});
      ce = model::lm_loss(out.logits, w.slice(1, 1));
    }
    torch::Tensor loss = ce / M;
    if (dlcm) {
      boundaries += out.boundaries.sum().item<double>();
      if (pooled) {
        auto G = out.p.mean();
        F_sum += out.boundaries.mean().item<double>();
        G_sum += G.item<double>();
        if (deferred) {
          auto g = torch::autograd::grad({G / M}, params, {}, /*retain_graph=*/true, false, /*allow_unused=*/true);
          for (size_t j = 0; j < params.size(); ++j)
            if (g[j].defined()) grad_G[j] = grad_G[j].defined() ? grad_G[j] + g[j] : g[j];
        }
      } else {
        auto aux = model::aux_loss(out, b);
        aux_sum += aux.item<double>();
        loss = loss + b.aux_weight * aux / M;
      }
    }
    loss.backward();
    ce_sum += ce.item<double>();
  }
  // Ranks hold equal slices, so a global mean is the mean of the ranks' means: one reduction.
  auto sums = torch::tensor({ce_sum, aux_sum, F_sum, G_sum, boundaries}, torch::kDouble);
  all_sum(comm, sums);
  const double n = static_cast<double>(M) * comm.size;
  StepStats st;
  st.loss = sums[0].item<double>() / n;
  st.aux = sums[1].item<double>() / n;
  if (pooled) {
    const double F = sums[2].item<double>() / n, G = sums[3].item<double>() / n, R = b.ratio;
    st.aux = R / (R - 1) * ((R - 1) * F * G + (1 - F) * (1 - G)) - 1;
    const double coef = b.aux_weight * R / (R - 1) * (R * F - 1);  // dL_aux/dG at the global F
    torch::NoGradGuard no_grad;
    for (size_t j = 0; j < grad_G.size(); ++j) {
      if (!grad_G[j].defined()) continue;
      if (params[j].grad().defined()) params[j].mutable_grad().add_(grad_G[j], coef);
      else params[j].mutable_grad() = grad_G[j] * coef;
    }
  }
  average_gradients(comm, params);
  if (dlcm) st.ratio = static_cast<double>(cfg.train.batch_size * T) / std::max(1.0, sums[4].item<double>());
  return st;
}

namespace {

std::string format_eta(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const int v = static_cast<int>(s);
  return v >= 3600 ? fmt::format("{}h{:02d}m", v / 3600, v / 60 % 60) : fmt::format("{}m{:02d}s", v / 60, v % 60);
}

}  // namespace

std::string blas_in_use() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    const auto pos = line.find('/');
    if (pos == std::string::npos) continue;
    const std::string path = line.substr(pos);
    if ((path.find("blas") != std::string::npos || path.find("mkl") != std::string::npos) &&
        found.find(path) == std::string::npos)
      found += (found.empty() ? "" : ", ") + path;
  }
  return found.empty() ? "none loaded" : found;
}

BuildInfo build_info() {
  BuildInfo b = compiled_build_info();
#ifdef TORCH_VERSION
  b.torch = TORCH_VERSION;
#else
  b.torch = fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
#endif
  b.cuda = torch::cuda::is_available();
  b.blas = blas_in_use();
  return b;
}

TrainSummary train(const RunConfig& cfg, const TrainOptions& opt) {
  const auto t_start = Clock::now();
  // Keep large activation buffers in the heap instead of fresh mmaps each step: the C++ binary
  // otherwise takes ~6x Python's page faults (TOOLCHAIN.md); same effect as GLIBC_TUNABLES.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  if (opt.run_dir.empty()) throw std::runtime_error("train: --run-dir is required");
  if (opt.device != "cpu" && opt.device != "cuda")
    throw std::runtime_error(fmt::format("--device: unknown device \"{}\" (cpu or cuda)", opt.device));
  if (opt.device == "cuda" && !torch::cuda::is_available())
    throw std::runtime_error("--device cuda: this LibTorch build has no CUDA device available");
  const Parallel& par = opt.parallel;
  check_batch_split(cfg.train.batch_size, cfg.train.micro_batches, par.world_size, "run config");
  const torch::Device dev = opt.device == "cuda" ? torch::Device(torch::kCUDA, par.local_rank) : torch::kCPU;
  const int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  const fs::path dir(opt.run_dir);
  const Comm comm = connect(par, dev);
  const bool root = comm.is_root();  // the only rank that writes into the run directory

  data::Corpus corpus;
  const int64_t T = cfg.model.seq_len;
  agree(comm, [&] {
    corpus = data::load_corpus(cfg.data, cfg.model.vocab_size);
    if (static_cast<int64_t>(corpus.train.size()) <= T + 1)
      throw std::runtime_error(fmt::format("training split has {} tokens, fewer than model.seq_len + 1 = {}",
                                           corpus.train.size(), T + 1));
  });

  struct LockGuard {
    int fd = -1;
    ~LockGuard() {
      if (fd >= 0) close(fd);
    }
  } lock_guard;
  const fs::path config_path = dir / "config.toml", ckpt_path = dir / "checkpoint.pt";
  std::ofstream log;
  agree(comm, [&] {
    if (!root) return;
    fs::create_directories(dir);
    // One trainer per run directory: a second one (a re-run racing a dying worker) is refused.
    // The lock is on the directory itself: no lock file to go stale or to add to a directory.
    lock_guard.fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock_guard.fd < 0 || flock(lock_guard.fd, LOCK_EX | LOCK_NB) != 0)
      throw RunDirectoryBusy(fmt::format("{}: run directory is in use by another dlcm process", dir.string()));
    remove_stale_files(dir, par.rendezvous);
    const std::string config_text = to_toml(cfg);
    if (fs::exists(config_path)) {
      if (read_file(config_path.string(), "run config") != config_text)
        throw std::runtime_error(fmt::format("{}: run directory holds a different config; use a new --run-dir",
                                             config_path.string()));
    } else {
      write_file_atomic(config_path.string(), config_text);
    }
    log.open(dir / "log.txt", std::ios::app);
  });
  auto say = [&](const std::string& line) {
    if (!root) return;
    log << line << "\n";
    log.flush();
    if (!opt.quiet) fmt::print(stderr, "{}\n", line);
  };

  torch::manual_seed(cfg.train.seed);
  model::LanguageModel net(cfg.model, cfg.boundary);
  model::init_parameters(net);
  net->to(dev);
  net->train();
  auto params = model::param_infos(net);
  AdamW adam = make_adamw(params, cfg.model, cfg.train);
  Batcher data{&corpus.train, T, std::mt19937_64(cfg.train.seed * 0x9E3779B97F4A7C15ull + 1)};
  Progress pr;
  std::optional<fs::path> resumed;
  // Every rank resumes from the one checkpoint, and they check they all read the same step.
  agree(comm, [&] { resumed = restore_checkpoint(dir, net, adam, data, pr, say); });
  auto steps = torch::tensor({static_cast<double>(pr.step), -static_cast<double>(pr.step)}, torch::kDouble);
  all_max(comm, steps);
  if (steps[0].item<double>() != -steps[1].item<double>())
    throw std::runtime_error(fmt::format("{}: ranks resumed at different steps ({} to {}); the run directory must "
                                         "be one shared directory", ckpt_path.string(), -steps[1].item<double>(),
                                         steps[0].item<double>()));
  if (resumed) say(fmt::format("resumed from {} at step {}", resumed->string(), pr.step));
  std::optional<storage::Database> metrics;
  if (root) {
    metrics.emplace(storage::open_run_metrics((dir / "metrics.sqlite").string()));
    // Rows a killed process wrote past its last checkpoint are recomputed from here, not kept twice.
    storage::drop_metrics_after(*metrics, resumed ? pr.step : -1);
  }
  std::vector<storage::MetricRow> pending;

  const auto counts = count_params(cfg.model, cfg.boundary);
  say(fmt::format("dlcm train: {} {} params ({} backbone), {} steps x {} x {} tokens, {} threads, device {}",
                  name(cfg.model.arch), counts.total(), counts.backbone, cfg.train.steps, cfg.train.batch_size, T,
                  threads, opt.device));
  const BuildInfo build = build_info();
  say(fmt::format("BLAS: {}", build.blas));
  say(fmt::format("build: {}", one_line(build)));
  if (comm.size > 1)
    say(fmt::format("data-parallel: {} ranks ({}), rendezvous {}, {} rows per rank per micro-batch", comm.size,
                    par.source, par.rendezvous, cfg.train.batch_size / cfg.train.micro_batches / comm.size));

  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGUSR1, on_stop_signal);
  g_stop_signal = 0;

  TrainSummary summary;
  const bool tty = root && !opt.quiet && isatty(STDERR_FILENO);
  const double tokens_per_step = static_cast<double>(cfg.train.batch_size) * T;
  const int64_t first_step = pr.step;
  const auto t_loop = Clock::now();
  Heartbeat heartbeat;
  heartbeat.file = dir / "heartbeat.json", heartbeat.on = root;
  heartbeat.beat(pr.step);
  std::map<std::string, DomainEval> last_eval;
  auto run_eval = [&](int64_t step) {
    last_eval = evaluate(net, corpus, T, cfg.train.eval_windows, cfg.train.batch_size, dev, comm);
    for (auto& [domain, d] : last_eval) {
      pending.push_back({step, "val", domain, "loss", d.loss()});
      if (corpus.byte_level) pending.push_back({step, "val", domain, "bpb", d.bpb()});
      if (cfg.model.arch == Arch::dlcm) pending.push_back({step, "val", domain, "ratio", d.ratio()});
    }
    const auto& a = last_eval["all"];
    say(fmt::format("step {:>6} | val loss {:.4f}{} | realised ratio {:.2f}", step, a.loss(),
                    corpus.byte_level ? fmt::format(" | {:.3f} bpb", a.bpb()) : "", a.ratio()));
  };
  auto checkpoint = [&]() {
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
    zero_grad(adam);
    const StepStats st = forward_backward(net, adam, data, cfg, dev, comm);
    const bool diverged = !std::isfinite(st.loss) || st.loss > cfg.train.diverge_loss;
    const double gnorm = diverged ? NAN : clip_grad_norm(adam, cfg.train.grad_clip);
    if (diverged || !std::isfinite(gnorm)) {
      pending.push_back({pr.step, "train", "all", "loss", st.loss});
      say(fmt::format("step {}: training loss {} — run diverged", pr.step, st.loss));
      summary.status = RunStatus::diverged;
      break;
    }
    adamw_step(adam, lrf);
    summary.step_seconds.push_back(seconds_since(t_step));
    pr.step += 1;
    pr.tokens += tokens_per_step;
    pr.inv_ratio_sum += 1.0 / st.ratio;
    pr.ratio_count += 1;
    push_recent(pr.recent_losses, st.loss);
    push_recent(pr.recent_ratios, st.ratio);
    summary.train_losses.push_back(st.loss);
    const double elapsed = seconds_since(t_loop);
    const double tok_s = (pr.step - first_step) * tokens_per_step / std::max(elapsed, 1e-9);
    pending.push_back({pr.step, "train", "all", "loss", st.loss});
    pending.push_back({pr.step, "train", "all", "lr", cfg.train.lr * lrf});
    pending.push_back({pr.step, "train", "all", "grad_norm", gnorm});
    pending.push_back({pr.step, "train", "all", "tokens_per_s", tok_s});
    if (cfg.model.arch == Arch::dlcm) {
      pending.push_back({pr.step, "train", "all", "aux", st.aux});
      pending.push_back({pr.step, "train", "all", "ratio", st.ratio});
    }
    const double eta = (cfg.train.steps - pr.step) * elapsed / std::max<int64_t>(1, pr.step - first_step);
    const std::string line = fmt::format("step {:>6}/{} | loss {:.4f} | {:.0f} tok/s | ETA {}", pr.step,
                                         cfg.train.steps, st.loss, tok_s, format_eta(eta));
    if (tty) fmt::print(stderr, "\r{}   ", line);
    const bool eval_now = pr.step % cfg.train.eval_every == 0 || pr.step == cfg.train.steps;
    if (eval_now) {
      if (tty) fmt::print(stderr, "\n");
      if (root) log << line << "\n";
      if (root && !tty && !opt.quiet) fmt::print(stderr, "{}\n", line);
      run_eval(pr.step);
    }
    if (pr.step % cfg.train.checkpoint_every == 0 || pr.step == cfg.train.steps) checkpoint();
    heartbeat.beat(pr.step);
  }
  if (summary.status != RunStatus::diverged) checkpoint();
  if (last_eval.empty() && summary.status != RunStatus::diverged) run_eval(pr.step);
  if (root) storage::write_metrics(*metrics, pending);
  if (summary.status == RunStatus::interrupted)
    say(fmt::format("stopped at step {}; checkpoint saved, re-run to resume", pr.step));

  summary.steps = pr.step;
  summary.final_train_loss = mean(pr.recent_losses);
  summary.train_realised_ratio = cfg.model.arch == Arch::dlcm ? mean(pr.recent_ratios) : 1.0;
  const bool evaluated = !last_eval.empty();  // a run that diverged before its first evaluation has none
  const auto& all = last_eval["all"];
  summary.final_val_loss = evaluated ? all.loss() : NAN;
  summary.realised_ratio = cfg.model.arch == Arch::dlcm ? all.ratio() : 1.0;
  // Compute actually spent: concept-rate layers at the ratio averaged over every step.
  const double run_ratio = pr.inv_ratio_sum > 0 ? pr.ratio_count / pr.inv_ratio_sum : cfg.boundary.ratio;
  const auto fpt = flops_per_token(cfg.model, cfg.boundary, run_ratio);
  summary.flops_per_token = fpt.train_flops();
  summary.tokens_per_step = tokens_per_step;
  json domains = json::object();
  for (auto& [d, e] : evaluated ? last_eval : std::map<std::string, DomainEval>{}) {
    domains[d] = {{"val_loss", e.loss()}, {"realised_ratio", cfg.model.arch == Arch::dlcm ? e.ratio() : 1.0}};
    if (corpus.byte_level) domains[d]["val_bpb"] = e.bpb();
  }
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json result = {{"status", name(summary.status)},
                 {"steps", pr.step},
                 {"tokens", pr.tokens},
                 // Passes over the training split: past a few, a run measures memorisation, not scaling.
                 {"epochs", corpus.train.empty() ? 0.0 : pr.tokens / static_cast<double>(corpus.train.size())},
                 {"n_params", counts.total()},
                 {"n_params_non_embedding", counts.non_embedding()},  // the laws' N
                 {"n_params_concept", counts.backbone},
                 {"flops_per_token", fpt.train_flops()},
                 {"n_eff", fpt.n_eff()},
                 {"train_flops", fpt.train_flops() * pr.tokens},
                 {"final_train_loss", num(summary.final_train_loss)},
                 {"final_val_loss", num(summary.final_val_loss)},
                 {"val_bpb", corpus.byte_level && evaluated ? num(all.bpb()) : json(nullptr)},
                 {"realised_ratio", summary.realised_ratio},
                 {"train_realised_ratio", num(summary.train_realised_ratio)},
                 {"run_mean_ratio", run_ratio},
                 {"target_ratio", cfg.model.arch == Arch::dlcm ? cfg.boundary.ratio : 1.0},
                 {"domains", domains},
                 {"threads", threads},
                 {"world_size", comm.size},
                 {"device", opt.device},
                 {"wall_seconds", seconds_since(t_start)},
                 {"tokens_per_second", (pr.step - first_step) * tokens_per_step / std::max(seconds_since(t_loop), 1e-9)},
                 {"build", to_json(build)}};  // the binary that trained it (its last session, when resumed)
  if (root) write_file_atomic((dir / "result.json").string(), result.dump(2) + "\n");
  say(fmt::format("{}: {} steps, train loss {:.4f}, val loss {:.4f}, result in {}", name(summary.status), pr.step,
                  summary.final_train_loss, summary.final_val_loss, (dir / "result.json").string()));
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGUSR1, SIG_DFL);
  return summary;
}

double measure_train_flops_per_second(const RunConfig& cfg, int threads, int steps) {
  if (threads > 0) torch::set_num_threads(threads);
  torch::manual_seed(cfg.train.seed);
  model::LanguageModel net(cfg.model, cfg.boundary);
  model::init_parameters(net);
  net->train();
  AdamW adam = make_adamw(model::param_infos(net), cfg.model, cfg.train);
  std::vector<uint16_t> tokens(static_cast<size_t>(cfg.model.seq_len) * 64);
  std::mt19937_64 rng(1);
  for (auto& t : tokens) t = static_cast<uint16_t>(rng() % static_cast<uint64_t>(cfg.model.vocab_size));
  Batcher data{&tokens, cfg.model.seq_len, std::mt19937_64(2)};
  double ratio_sum = 0, seconds = 0;
  for (int i = 0; i <= steps; ++i) {
    const auto t0 = Clock::now();
    zero_grad(adam);
    const auto st = forward_backward(net, adam, data, cfg, torch::kCPU);
    adamw_step(adam, 1.0);  // constant at the peak rates
    if (i > 0) {
      seconds += seconds_since(t0);
      ratio_sum += st.ratio;
    }
  }
  const double ratio = cfg.model.arch == Arch::dlcm ? ratio_sum / steps : 1.0;
  const double tokens_per_step = static_cast<double>(cfg.train.batch_size) * cfg.model.seq_len;
  return flops_per_token(cfg.model, cfg.boundary, ratio).train_flops() * tokens_per_step * steps / seconds;
}

Inspection inspect(const std::string& run_dir, const std::string& text, int threads) {
  const fs::path dir(run_dir);
  const RunConfig cfg = load_run_config((dir / "config.toml").string());
  if (!cfg.data.dir.empty()) {
    std::ifstream meta(fs::path(cfg.data.dir) / "meta.json");
    if (meta && json::parse(meta).value("tokenizer", "") != "bytes")
      throw std::runtime_error("inspect --text needs a byte-level run");
  } else {
    throw std::runtime_error("inspect --text needs a byte-level run (this run trained on a token file)");
  }
  if (text.empty()) throw std::runtime_error("--text: empty text");
  if (threads > 0) torch::set_num_threads(threads);
  model::LanguageModel net(cfg.model, cfg.boundary);
  // The same newest-good-first fallback as resuming: inspect reads whatever a resume would.
  const auto loaded = load_newest_good(
      dir,
      [&](const fs::path& path) {
        auto ar = open_checkpoint(path);
        torch::NoGradGuard no_grad;
        for (auto& p : net->named_parameters()) {
          torch::Tensor t;
          ar.read("model/" + p.key(), t);
          p.value().copy_(t);
        }
      },
      [](const std::string& warning) { fmt::print(stderr, "{}\n", warning); });
  if (!loaded) throw std::runtime_error(fmt::format("{}: missing checkpoint", (dir / kCheckpointFiles[0]).string()));
  net->eval();
  torch::NoGradGuard no_grad;
  const size_t n = std::min<size_t>(text.size(), static_cast<size_t>(cfg.model.seq_len));
  Inspection out;
  auto x = torch::empty({1, static_cast<int64_t>(n)}, torch::kLong);
  for (size_t i = 0; i < n; ++i) {
    out.tokens.push_back(static_cast<unsigned char>(text[i]));
    x[0][static_cast<int64_t>(i)] = out.tokens.back();
  }
  auto o = net->forward(x);
  auto logp = torch::log_softmax(o.logits[0], -1);
  for (size_t i = 0; i + 1 < n; ++i) out.next_token_logprob.push_back(logp[i][out.tokens[i + 1]].item<double>());
  for (size_t i = 0; i < n; ++i) {
    out.boundaries.push_back(o.boundaries.defined() ? static_cast<int>(o.boundaries[0][i].item<double>()) : 1);
    out.boundary_prob.push_back(o.p.defined() ? o.p[0][i].item<double>() : 1.0);
  }
  return out;
}

}  // namespace dlcm::train
