#pragma once
// The per-run metrics file (metrics.sqlite in a run directory): what a training run writes about
// itself. Only the run writes it; the orchestrator reads it to ingest.
#include <cstdint>
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

}  // namespace dlcm::storage
