#pragma once
// A sweep database filled through the real ingest path (result.json + metrics.sqlite per run) with
// real configs and losses from known laws at each run's own accounting: a DLCM law with an interior
// optimum and a Chinchilla baseline that the DLCM beats. Shared by the recommendation and report tests.
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "core/flops.hpp"
#include "fitting/laws.hpp"
#include "reports/allocation.hpp"
#include "storage/central.hpp"
#include "storage/run_metrics.hpp"

namespace dlcm::test {

// gamma 0.5, delta2 0.4: priced with the fixture's shapes (core/flops), the optimum is interior
// (R 4, P ~0.7 at 2e15 FLOPs); with gamma 0.15 the law wants R and P as large as it may search.
inline const fitting::DlcmParams kTrueDlcm{1.2, 20, 0, 0.3, 20, 0.5, 0, 0.4, 300, 0, 0.3};
inline const fitting::ChinchillaParams kTrueBaseline{1.3, 60, 300, 0.3, 0.3};
inline const double kBudgets[] = {1e13, 3e13, 1e14};

// Realised ratios differ from the target as real runs' do: training spends compute at 1.1·R, the
// validation loss is measured with boundaries at 1.05·R. The fits must read both.
inline constexpr double kTrainRatioFactor = 1.1, kValRatioFactor = 1.05;

// A real config of the fixture's proxy family: DLCM (1+1 token layers, 2 backbone layers) or a
// 2-layer baseline.
inline RunConfig fixture_config(bool dlcm, int d_token, int d_concept = 0, double R = 1) {
  RunConfig cfg;
  cfg.model.arch = dlcm ? Arch::dlcm : Arch::baseline;
  cfg.model.d_token = d_token;
  cfg.model.n_heads_token = 4;
  cfg.model.n_layers = 2;
  cfg.model.encoder_layers = cfg.model.decoder_layers = 1;
  cfg.model.concept_layers = 2;
  cfg.model.d_concept = dlcm ? d_concept : 128;
  cfg.model.n_heads_concept = 4;
  cfg.boundary.ratio = dlcm ? R : 4;
  cfg.train.lr = 2e-3;
  cfg.data.dir = "data/corpus";
  return cfg;
}

// What a synthetic study is made of: its true laws, budgets and grid, the config of each grid point,
// and the spec text it is registered with. The defaults are fill_study's.
struct SyntheticStudy {
  fitting::DlcmParams dlcm = kTrueDlcm;
  fitting::ChinchillaParams baseline = kTrueBaseline;
  std::vector<double> budgets{std::begin(kBudgets), std::end(kBudgets)};
  std::vector<int> d_token{32, 48, 64}, d_concept{64, 128, 256}, baseline_d_token{32, 64, 128};
  std::vector<double> ratios{2, 4};
  std::function<RunConfig(bool dlcm, int d_token, int d_concept, double R)> config = fixture_config;
  std::string spec = "# a synthetic study\n";  // stored as the sweep's spec (TOML)
  std::string hostile = "diverged run";  // the label of one diverged run
};

// Registers and ingests the sweep `name` into db: per budget, DLCM runs at d_token × d_concept × R
// and baselines at their d_token, each with the loss its true law gives at the run's own accounting
// (core/flops `account`: non-embedding N, realised compute); one diverged run, labelled `hostile`.
inline void fill_study(storage::Database& db, const std::filesystem::path& dir, const std::string& name,
                       const SyntheticStudy& s) {
  std::vector<storage::RunPlanRow> plan;
  struct Result {
    std::string hash;
    double loss, R, D;
    bool diverged;
  };
  std::vector<Result> results;
  int k = 0;
  auto add = [&](const std::string& label, const RunConfig& cfg, double budget, bool diverged = false) {
    const bool dlcm = cfg.model.arch == Arch::dlcm;
    const double R = cfg.boundary.ratio;
    const auto planned = account(cfg.model, cfg.boundary, R, 1);
    const double D = budget / (6 * planned.n_eff);
    const auto spent = account(cfg.model, cfg.boundary, dlcm ? kTrainRatioFactor * R : 1, D);
    const double loss = diverged ? 25.0
                        : dlcm   ? fitting::dlcm_loss(s.dlcm, spent.N, spent.P, kValRatioFactor * R, D)
                                 : fitting::chinchilla_loss(s.baseline, spent.N, D);
    const std::string hash = fmt::format("{}-{:04d}", name.size(), k++);
    plan.push_back({hash, label, to_toml(cfg), (dir / hash).string(), dlcm ? "dlcm" : "baseline", budget, planned.N,
                    planned.P, dlcm ? R : 1, D, budget, 6 * planned.n_eff, 100});
    results.push_back({hash, loss, dlcm ? R : 1, D, diverged});
  };
  for (double C : s.budgets) {
    for (int d : s.d_token)
      for (int dc : s.d_concept)
        for (double R : s.ratios) add(fmt::format("dlcm d{} c{} R{}", d, dc, R), s.config(true, d, dc, R), C);
    for (int d : s.baseline_d_token) add(fmt::format("baseline d{}", d), s.config(false, d, 0, 1), C);
  }
  add(s.hostile, s.config(true, s.d_token.at(1), s.d_concept.at(1), s.ratios.back()), s.budgets.front(), true);
  storage::register_sweep(db, name, s.spec, plan);
  const char* domains[] = {"code", "tech-en", "casual-zh"};
  for (const auto& r : results) {
    const auto run = dir / r.hash;
    std::filesystem::create_directories(run);
    {
      auto m = storage::open_run_metrics((run / "metrics.sqlite").string());
      std::vector<storage::MetricRow> rows{{100, "train", "all", "loss", r.loss}};
      for (int d = 0; d < 3; ++d) {
        rows.push_back({50, "val", domains[d], "ratio", 1.0});  // an earlier evaluation: ignored
        rows.push_back({100, "val", domains[d], "ratio", r.R * (1 + 0.25 * d)});  // per domain, around the target
        rows.push_back({100, "val", domains[d], "loss", r.loss});
      }
      storage::write_metrics(m, rows);
    }
    const bool dlcm = r.R > 1;
    nlohmann::json res = {{"status", r.diverged ? "diverged" : "completed"}, {"steps", 100},
                          {"final_val_loss", r.loss}, {"run_mean_ratio", dlcm ? kTrainRatioFactor * r.R : 1.0},
                          {"realised_ratio", dlcm ? kValRatioFactor * r.R : 1.0}, {"tokens", r.D}};
    std::ofstream(run / "result.json") << res.dump();
    storage::ingest_run_dir(db, r.hash, run.string());
  }
}

// The standard study: 54 DLCM runs over three budgets and two ratios, 9 baselines.
inline void fill_study(storage::Database& db, const std::filesystem::path& dir, const std::string& name,
                       const std::string& hostile = "diverged run") {
  SyntheticStudy s;
  s.hostile = hostile;
  fill_study(db, dir, name, s);
}

}  // namespace dlcm::test
