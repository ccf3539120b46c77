#pragma once
// `dlcm verify`: predict, then check. The sweep's recommendation at a budget is a pre-registered
// prediction (point and bootstrap interval, stored at recommend time, never refitted); its snapped
// architecture is trained at that budget as the one run of the sweep "NAME-verify" (resumable,
// recorded, Slurm-capable like any sweep), and the realised validation loss is set against it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/results.hpp"
#include "storage/central.hpp"
#include "sweeps/spec.hpp"

namespace dlcm::reports {

struct VerifyRequest {
  std::string sweep;
  double budget = 0;
  // Only when no usable recommendation is stored at the budget: one is made (and stored) as
  // `dlcm recommend --sweep NAME --budget C --bootstrap B` would.
  int bootstrap = 20;
  int fit_threads = 0;
};

struct VerifyPlan {
  std::string sweep;
  double budget = 0;
  Recommendation recommendation;          // as stored, with its recommendation_id
  bool recommended_now = false;           // none usable was stored: made now
  std::string hyperparameters;            // where the run's rates come from
  sweeps::SweepSpec spec;                 // the study's spec as sweep NAME-verify, runs in <runs_dir>/verify
  sweeps::Plan plan;                      // its one run
};

// The sweep's newest recommendation at the budget that carries its config and law (else one made
// now), the run it stands for with steps from the budget under the study's stored spec (warm-up,
// evaluations, checkpoints as the sweep's runs). Throws one line saying why and what to run when
// the recommendation is not an answer (status unidentified or on_bound), has no bootstrap interval,
// or its architecture does not fit the budget's step limits.
VerifyPlan plan_verification(storage::Database& db, const VerifyRequest& req);
// Why a recommendation cannot be verified, and what to run ("" when it can).
std::string unverifiable(const Recommendation& recommendation, const std::string& sweep, double budget);

// The name of the sweep a study's verification runs live in.
std::string verify_sweep_name(const std::string& sweep);

// The planned run as the database holds it now (none before it was registered).
std::optional<storage::RunRow> verification_run(storage::Database& db, const VerifyPlan& plan);

struct Verification {
  int64_t id = 0;  // its verifications row (0 before it is stored)
  std::string sweep, verify_sweep, created_at;
  double budget = 0;
  int64_t recommendation_id = 0;
  // The pre-registered prediction: the snapped architecture's predicted loss and the bootstrap
  // interval of that loss, both as stored at recommend time.
  double predicted_loss = 0, interval_low = 0, interval_high = 0, level = 0.9;
  // The run: identity, length, cost (planned at the budget; realised as core/flops prices what it trained).
  std::string hash, label, hyperparameters;
  int64_t steps = 0;
  double tokens = 0, wall_seconds = 0;
  double planned_C = 0, realised_C = 0;
  double N = 0, P = 0, R = 1, D = 0;  // as the fits read a run (observe): accounted N, P, D; realised R
  double law_at_realised = 0;         // the recommendation's law at that (N, P, R, D): a secondary figure
  double realised_loss = 0;           // final validation loss (NaN when the run diverged)
  double relative_error = 0;          // (realised − predicted) / predicted (NaN when the run diverged)
  bool inside_interval = false;
  bool diverged = false;              // the recommendation did not train: recorded, not dropped
};

// The verification of a finished run: the one stored for this run and recommendation, else computed
// and stored now; a diverged run is stored as a failed verification. Throws when the run has not
// finished, or completed without a finite validation loss.
Verification record_verification(storage::Database& db, const VerifyPlan& plan, const storage::RunRow& run);
// The sweep's stored verifications, newest first (rows that do not parse are left out).
std::vector<Verification> stored_verifications(storage::Database& db, const std::string& sweep);

nlohmann::ordered_json to_json(const Verification& v);
// Throws when a key is missing or of the wrong type.
Verification verification_from_json(const nlohmann::ordered_json& j);

}  // namespace dlcm::reports
