#pragma once
// The per-run metrics file (metrics.sqlite in a run directory): what a training run writes about
// itself. Only the run writes it; the orchestrator reads it to ingest.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/sqlite.hpp"

namespace dlcm::storage {

struct MetricRow {
  int64_t step;
  std::string split;   // "train" or "val"
  std::string domain;  // "all" or a corpus domain
  std::string name;    // loss, bpb, ratio, lr, grad_norm, aux, tokens_per_s, ...
  double value;
};

// Opens or creates the file and its schema.
Database open_run_metrics(const std::string& path);
// Idempotent: a row for the same (step, split, domain, name) replaces the old one, so a resumed
// run that repeats steps leaves one row each.
void write_metrics(Database& db, const std::vector<MetricRow>& rows);
std::vector<MetricRow> read_metrics(Database& db);
// Deletes the rows of steps after `step`: a resumed run recomputes them from its checkpoint.
void drop_metrics_after(Database& db, int64_t step);

struct StepValue {
  int64_t step = 0;
  double value = 0;
};
// The newest training loss in a metrics file, read without writing it (its trainer may be writing):
// what progress displays show of a running run. nullopt when there is no file or row yet, or it
// cannot be read now.
std::optional<StepValue> latest_train_loss(const std::string& path);

}  // namespace dlcm::storage
