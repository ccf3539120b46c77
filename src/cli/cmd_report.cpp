// dlcm report: one self-contained HTML file about a sweep (docs/recommend.md "The report").
#include <fmt/format.h>

#include <filesystem>
#include <stdexcept>

#include "commands.hpp"
#include "core/build_info.hpp"
#include "core/files.hpp"
#include "core/inspection.hpp"
#include "reports/analyses.hpp"
#include "reports/recommend.hpp"
#include "reports/report.hpp"
#include "trainer.hpp"

namespace fs = std::filesystem;

namespace dlcm::cli {
namespace {

struct ReportArgs {
  std::string sweep, db = "dlcm.db", out = "report.html";
  std::vector<double> budgets;
  int bootstrap = 20, threads = 0;
  bool no_examples = false, zero_offsets = false, json = false;
};

// `--threads N` for the trainer, when given.
std::vector<std::string> with_threads(std::vector<std::string> args, int threads) {
  if (threads > 0) args.insert(args.end(), {"--threads", std::to_string(threads)});
  return args;
}

// The best DLCM run's checkpoint segments the sample texts; neither the report library nor dlcm
// links LibTorch, so dlcm runs the trainer (`dlcm-train inspect --json`) and passes the results in.
void add_segmentations(const reports::Study& study, reports::ReportOptions& opt, int threads) {
  if (!study.proxy) {
    opt.segmentation_note = "the sweep has no completed DLCM run";
    return;
  }
  if (!fs::exists(fs::path(study.proxy_run_dir) / "checkpoint.pt")) {
    opt.segmentation_note = fmt::format("run {} has no checkpoint in {}", study.proxy_label, study.proxy_run_dir);
    return;
  }
  try {
    for (const auto& [domain, text] : reports::segmentation_samples()) {
      const auto r = inspection_from_json(
          trainer_json(with_threads({"inspect", "--json", "--run-dir", study.proxy_run_dir, "--text", text}, threads)));
      opt.segmentations.push_back({domain, r.tokens, r.boundaries});
    }
    opt.segmentation_run = study.proxy_label;
  } catch (const std::exception& e) {
    opt.segmentations.clear();
    opt.segmentation_note = fmt::format("inspecting run {} failed: {}", study.proxy_label, e.what());
  }
}

// Loss by position inside a concept for the best DLCM run, beside its matched-compute baseline
// (reports/positions.hpp), over the run's own validation windows: `dlcm-train inspect --positions --json`.
void add_positions(const reports::Study& study, reports::ReportOptions& opt, int threads) {
  auto& a = opt.positions;
  const auto run = reports::position_run(study);
  if (!run) {
    a.note = "the sweep has no completed DLCM run";
    return;
  }
  a.run_label = run->label;
  std::vector<std::string> args{"inspect", "--positions", "--json", "--run-dir", run->run_dir};
  const auto base = reports::matched_baseline(study, *run);
  if (!base) a.note = "no completed baseline run in the DLCM run's budget";
  else if (!fs::exists(fs::path(base->run_dir) / "checkpoint.pt"))
    a.note = fmt::format("baseline run {} has no checkpoint in {}", base->label, base->run_dir);
  else args.insert(args.end(), {"--baseline", base->run_dir}), a.baseline_label = base->label;
  try {
    a.result = position_loss_from_json(trainer_json(with_threads(args, threads)));
  } catch (const std::exception& e) {
    a.note = fmt::format("analysing run {} failed: {}", run->label, e.what());
  }
}

void run_report(const ReportArgs& a) {
  if (!fs::exists(a.db)) throw std::runtime_error(fmt::format("{}: database not found", a.db));
  auto db = storage::open_central_readonly(a.db);  // a report reads; it never changes the study
  if (a.json) {  // the ablations alone, no fits, no HTML
    fmt::print("{}\n", reports::to_json(reports::analyse(reports::load_run_facts(db, reports::load_study(db, a.sweep)))).dump(2));
    return;
  }
  reports::ReportOptions opt;
  opt.budgets = a.budgets;
  opt.replicates = a.bootstrap;
  opt.threads = a.threads;
  opt.zero_offsets = a.zero_offsets;
  opt.build = compiled_build_info();  // this dlcm; its runs name their trainers' builds
  if (a.no_examples) {
    opt.segmentation_note = opt.positions.note = "left out (--no-examples)";
  } else {
    const auto study = reports::load_study(db, a.sweep);
    add_segmentations(study, opt, a.threads);
    add_positions(study, opt, a.threads);
  }
  const std::string html = reports::render_report(db, a.sweep, opt);
  const fs::path out(a.out);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  write_file_atomic(out.string(), html);
  fmt::print("report: {}\n", out.string());
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "Write one self-contained HTML report about a sweep");
  auto a = std::make_shared<ReportArgs>();
  cmd->add_option("sweep", a->sweep, "Sweep name")->required();
  cmd->add_option("-o,--out", a->out, "HTML file to write")->capture_default_str();
  cmd->add_option("--db", a->db, "Central database")->capture_default_str();
  cmd->add_option("--budget", a->budgets, "Recommend at these budgets (FLOPs; repeatable)")->check(CLI::PositiveNumber);
  cmd->add_option("--bootstrap", a->bootstrap, "Bootstrap replicates for the intervals")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "Threads for fits and inspection (0: every core)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--zero-offsets", a->zero_offsets, "Fit the dlcm law with t_tok = t_con = t_data = 0");
  cmd->add_flag("--json", a->json,
                "Print the ablation analyses (boundary predictors, compression ratio, tokens per concept, matched "
                "inference cost) as JSON instead of writing the report");
  cmd->add_flag("--no-examples", a->no_examples, "Skip what reads checkpoints: the segmentation examples and the loss by concept position");
  cmd->callback([a] { run_report(*a); });
}

}  // namespace dlcm::cli
