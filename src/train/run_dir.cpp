#include "train/run_dir.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/files.hpp"
#include "core/flops.hpp"
#include "core/parallel.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace dlcm::train {
namespace {

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

}  // namespace

RunDirLock::~RunDirLock() {
  if (fd >= 0) close(fd);
}

void RunLog::say(const std::string& line) {
  if (!on) return;
  file << line << "\n";
  file.flush();
  if (echo) fmt::print(stderr, "{}\n", line);
}

void RunLog::step_line(const std::string& line, bool keep) {
  if (tty) fmt::print(stderr, "\r{}   ", line);
  if (!keep) return;
  if (tty) fmt::print(stderr, "\n");
  if (on) file << line << "\n";
  if (on && !tty && echo) fmt::print(stderr, "{}\n", line);
}

void open_run_dir(RunDirLock& lock, RunLog& log, const fs::path& dir, const std::string& rendezvous,
                  const std::string& config_text) {
  fs::create_directories(dir);
  lock.fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock.fd < 0 || flock(lock.fd, LOCK_EX | LOCK_NB) != 0)
    throw RunDirectoryBusy(fmt::format("{}: run directory is in use by another dlcm process", dir.string()));
  remove_stale_files(dir, rendezvous);
  const fs::path config_path = dir / "config.toml";
  if (fs::exists(config_path)) {
    if (read_file(config_path.string(), "run config") != config_text)
      throw std::runtime_error(fmt::format("{}: run directory holds a different config; use a new --run-dir",
                                           config_path.string()));
  } else {
    write_file_atomic(config_path.string(), config_text);
  }
  log.file.open(dir / "log.txt", std::ios::app);
}

void Heartbeat::beat(int64_t step) {
  const auto now = Clock::now();
  if (last_beat) max_gap = std::max(max_gap, std::chrono::duration<double>(now - *last_beat).count());
  last_beat = now;
  if (!on || (now - last_write < std::chrono::seconds(1) && last_write != Clock::time_point{})) return;
  last_write = now;
  const double unix_now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  write_file_atomic(file.string(), json({{"pid", getpid()}, {"step", step}, {"unix", unix_now}, {"max_gap", max_gap}}).dump() + "\n");
}

void write_result(const fs::path& dir, const RunConfig& cfg, const data::Corpus& corpus, const Progress& pr,
                  const TrainSummary& summary, const std::map<std::string, DomainEval>& evals, const RunFacts& facts) {
  const bool dlcm = cfg.model.arch == Arch::dlcm, evaluated = !evals.empty();
  const DomainEval all = evaluated ? evals.at("all") : DomainEval{};
  const auto counts = count_params(cfg.model, cfg.boundary);
  const double run_ratio = run_mean_ratio(pr, cfg.boundary.ratio);
  const auto fpt = flops_per_token(cfg.model, cfg.boundary, run_ratio);
  json domains = json::object();
  for (auto& [d, e] : evals) {
    domains[d] = {{"val_loss", e.loss()}, {"realised_ratio", dlcm ? e.ratio() : 1.0}};
    if (corpus.byte_level) domains[d]["val_bpb"] = e.bpb();
  }
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json result = {{"status", storage::to_string(summary.status)},
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
                 // Serving cost, forward only, at the thresholded boundaries' ratio inference uses.
                 {"inference_flops_per_token",
                  flops_per_token(cfg.model, cfg.boundary, dlcm && evaluated ? summary.realised_ratio : run_ratio)
                      .inference_flops()},
                 {"final_train_loss", num(summary.final_train_loss)},
                 {"final_val_loss", num(summary.final_val_loss)},
                 {"val_bpb", corpus.byte_level && evaluated ? num(all.bpb()) : json(nullptr)},
                 {"realised_ratio", summary.realised_ratio},
                 {"train_realised_ratio", num(summary.train_realised_ratio)},
                 {"run_mean_ratio", run_ratio},
                 {"target_ratio", dlcm ? cfg.boundary.ratio : 1.0},
                 {"domains", domains},
                 {"threads", facts.threads},
                 {"world_size", facts.world_size},
                 {"device", facts.device},
                 {"wall_seconds", facts.wall_seconds},
                 {"tokens_per_second", facts.tokens_per_second},
                 {"build", to_json(facts.build)}};
  write_file_atomic((dir / "result.json").string(), result.dump(2) + "\n");
}

}  // namespace dlcm::train
