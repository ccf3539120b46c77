#pragma once
// A sweep database filled through the real ingest path (result.json + metrics.sqlite per run),
// with losses from known laws: a DLCM law with an interior optimum and a Chinchilla baseline that
// the DLCM beats. Shared by the recommendation and report tests.
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "fitting/laws.hpp"
#include "reports/allocation.hpp"
#include "storage/central.hpp"
#include "storage/run_metrics.hpp"

namespace dlcm::test {

inline const fitting::DlcmParams kTrueDlcm{1.2, 20, 0, 0.3, 20, 0.15, 0, 0.3, 300, 0, 0.3};
inline const fitting::ChinchillaParams kTrueBaseline{1.3, 60, 300, 0.3, 0.3};
inline const double kBudgets[] = {1e13, 3e13, 1e14};

// Registers and ingests the sweep `name` into db; `hostile` goes into one diverged run's label.
inline void fill_study(storage::Database& db, const std::filesystem::path& dir, const std::string& name,
                       const std::string& hostile = "diverged run") {
  RunConfig cfg;
  cfg.model.d_token = 64;
  cfg.model.d_concept = 128;
  cfg.model.n_heads_token = 4;
  cfg.model.n_heads_concept = 4;
  cfg.train.lr = 2e-3;
  cfg.data.dir = "data/corpus";
  const std::string config = to_toml(cfg);
  std::vector<storage::RunPlanRow> plan;
  struct Result {
    std::string hash;
    double loss, R, D;
    bool diverged;
  };
  std::vector<Result> results;
  int k = 0;
  auto add = [&](const std::string& label, const char* arch, double budget, double N, double P, double R,
                 double loss, bool diverged = false) {
    const double D = budget / (6 * reports::approx_n_eff(N, P, R));
    const std::string hash = fmt::format("{}-{:04d}", name.size(), k++);
    plan.push_back({hash, label, config, (dir / hash).string(), arch, budget, N, P, R, D, budget, 6 * N, 100});
    results.push_back({hash, loss, R, D, diverged});
  };
  for (double C : kBudgets) {
    for (double N : {1e5, 3e5, 1e6})
      for (double P : {0.3, 0.6})
        for (double R : {2.0, 4.0}) {
          const double D = C / (6 * reports::approx_n_eff(N, P, R));
          add(fmt::format("dlcm N{:g} P{} R{}", N, P, R), "dlcm", C, N, P, R, fitting::dlcm_loss(kTrueDlcm, N, P, R, D));
        }
    for (double N : {1e5, 3e5, 1e6})
      add(fmt::format("baseline N{:g}", N), "baseline", C, N, 0, 1,
          fitting::chinchilla_loss(kTrueBaseline, N, C / (6 * N)));
  }
  add(hostile, "dlcm", kBudgets[0], 2e5, 0.5, 4, 25.0, true);
  storage::register_sweep(db, name, "spec", plan);
  const char* domains[] = {"code", "tech-en", "casual-zh"};
  for (const auto& r : results) {
    const auto run = dir / r.hash;
    std::filesystem::create_directories(run);
    {
      auto m = storage::open_run_metrics((run / "metrics.sqlite").string());
      std::vector<storage::MetricRow> rows{{100, "train", "all", "loss", r.loss}};
      for (int d = 0; d < 3; ++d) {
        rows.push_back({50, "val", domains[d], "ratio", 1.0});  // an earlier evaluation: ignored
        rows.push_back({100, "val", domains[d], "ratio", r.R * (1 + 0.25 * d)});
        rows.push_back({100, "val", domains[d], "loss", r.loss});
      }
      storage::write_metrics(m, rows);
    }
    nlohmann::json res = {{"status", r.diverged ? "diverged" : "completed"}, {"steps", 100},
                          {"final_val_loss", r.loss}, {"run_mean_ratio", r.R}, {"tokens", r.D}};
    std::ofstream(run / "result.json") << res.dump();
    storage::ingest_run_dir(db, r.hash, run.string());
  }
}

}  // namespace dlcm::test
