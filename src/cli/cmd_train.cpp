// dlcm-train train / inspect, which `dlcm train|inspect` exec (--positions table: cmd_positions.cpp).
#include <fmt/format.h>

#include <cstdio>

#include "commands.hpp"
#include "storage/status.hpp"
#include "train/inspect.hpp"
#include "train/positions.hpp"
#include "train/train.hpp"

namespace dlcm::cli {

namespace {

// Concept spans marked with brackets; bytes of a multi-byte character stay together.
std::string mark_spans(const Inspection& r) {
  std::string out;
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    if (r.boundaries[i] && i > 0) out += "|";
    const auto c = static_cast<char>(r.tokens[i]);
    out += c == '\n' ? std::string("⏎") : std::string(1, c);
  }
  return out;
}

}  // namespace

void add_train_commands(CLI::App& app) {
  auto* tr = app.add_subcommand("train", kTrainAbout);
  struct TrainArgs {
    std::string config;
    std::vector<std::string> sets;
    train::TrainOptions opt;
    ParallelRequest par;
  };
  auto a = std::make_shared<TrainArgs>();
  tr->add_option("--config", a->config, "Run config (TOML)")->required();
  tr->add_option("--run-dir", a->opt.run_dir, "Run directory (created; resumed if it holds a checkpoint)")->required();
  tr->add_option("--set", a->sets, "KEY=VALUE: override a config key (TOML value, dotted key; repeatable)")
      ->allow_extra_args(false);
  tr->add_option("--threads", a->par.threads, "Intra-op threads (default: $SLURM_CPUS_PER_TASK, else all cores)");
  tr->add_option("--device", a->opt.device, "cpu or cuda")->capture_default_str();
  tr->add_flag("--quiet", a->opt.quiet, "No progress output");
  tr->add_option("--stop-at-step", a->opt.stop_at_step, "Checkpoint and stop at this step (preemption drills)");
  tr->add_option("--rank", a->par.rank, "This process's rank in a data-parallel run (default: from srun)");
  tr->add_option("--world-size", a->par.world_size, "Processes in the data-parallel run");
  tr->add_option("--rendezvous", a->par.rendezvous,
                 "Where the ranks meet: host:port (rank 0 listens) or a fresh file path on a shared filesystem");
  tr->callback([a] {
    const RunConfig cfg = load_run_config(a->config, a->sets);  // run dir's config.toml is this, overrides included
    a->par.run_dir = a->opt.run_dir;
    a->opt.parallel = resolve_parallel(a->par, process_environment());
    a->opt.threads = a->opt.parallel.threads;
    check_batch_split(cfg.train.batch_size, cfg.train.micro_batches, a->opt.parallel.world_size, a->config);
    train::TrainSummary s;
    try {
      s = train::train(cfg, a->opt);
    } catch (const train::RunDirectoryBusy& e) {
      std::fprintf(stderr, "dlcm: error: %s\n", e.what());
      std::exit(storage::code(storage::TrainExit::busy));  // a launcher does not count it as an attempt
    }
    if (s.status == train::RunStatus::diverged) std::exit(storage::code(storage::TrainExit::diverged));
    if (s.status == train::RunStatus::interrupted) std::exit(storage::code(storage::TrainExit::interrupted));
  });

  auto* in = app.add_subcommand("inspect", kInspectAbout);
  struct InspectArgs {
    std::string run_dir, text;
    bool json = false, positions = false;
    int threads = 0;
    train::PositionOptions pos;
  };
  auto b = std::make_shared<InspectArgs>();
  in->add_option("--run-dir", b->run_dir, "A trained run directory")->required();
  auto* text = in->add_option("--text", b->text, "Text to segment");
  auto* positions = in->add_flag("--positions", b->positions,
                                 "Validation loss by position inside a concept (first, internal, last; by length)");
  text->excludes(positions);
  in->add_option("--baseline", b->pos.baseline_run_dir,
                 "With --positions: a baseline run whose loss on the same tokens is bucketed by the DLCM's concepts")
      ->needs(positions);
  in->add_option("--windows", b->pos.windows, "With --positions: validation windows per domain (default: the run's eval_windows)")
      ->needs(positions)
      ->check(CLI::PositiveNumber);
  in->add_option("--max-length", b->pos.max_length, "With --positions: concept lengths tabulated one by one")
      ->needs(positions)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  in->add_option("--threads", b->threads, "Intra-op threads");
  in->add_flag("--json", b->json, "Machine-readable output");
  in->callback([b, text] {
    if (b->positions) {
      b->pos.run_dir = b->run_dir;
      b->pos.threads = b->threads;
      const auto r = train::position_loss(b->pos);
      if (b->json) fmt::print("{}\n", to_json(r).dump());
      else print_positions(r);
      return;
    }
    if (text->count() == 0) throw std::runtime_error("inspect: give --text TEXT or --positions");
    const auto r = train::inspect(b->run_dir, b->text, b->threads);
    if (b->json) {
      fmt::print("{}\n", to_json(r).dump());
      return;
    }
    int concepts = 0;
    for (int v : r.boundaries) concepts += v;
    double nll = 0;
    for (double lp : r.next_token_logprob) nll -= lp;
    fmt::print("{}\n", mark_spans(r));
    fmt::print("{} tokens, {} concepts ({:.2f} tokens/concept), mean loss {:.4f} nats/token\n", r.tokens.size(),
               concepts, static_cast<double>(r.tokens.size()) / std::max(1, concepts),
               r.next_token_logprob.empty() ? 0.0 : nll / r.next_token_logprob.size());
    fmt::print("{:>5} {:>6} {:>8} {:>9}\n", "pos", "byte", "p_bound", "-logp");
    for (size_t i = 0; i < r.tokens.size(); ++i) {
      const int t = r.tokens[i];
      const std::string shown = t >= 32 && t < 127 ? fmt::format("'{}'", static_cast<char>(t)) : fmt::format("{:#04x}", t);
      fmt::print("{:>5} {:>6} {:>8.3f} {:>9}{}\n", i, shown, r.boundary_prob[i],
                 i == 0 ? std::string("-") : fmt::format("{:.3f}", -r.next_token_logprob[i - 1]),
                 r.boundaries[i] ? "  <- concept starts" : "");
    }
  });
}

}  // namespace dlcm::cli
