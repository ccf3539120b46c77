#pragma once
// `dlcm export`: a sweep's runs, one row each, as the fits see them (docs/model.md "Accounting"),
// as CSV or JSON. The schema lives here, beside the accounting it reports, not in the CLI.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/central.hpp"

namespace dlcm::reports {

// The CSV's columns, in order; each JSON row carries the same keys.
extern const std::vector<std::string> kExportColumns;

// One run: N non-embedding; a trained run's R, D and C realised (R of its validation boundaries, C
// at the ratio it trained at), an untrained one's planned.
nlohmann::json export_row(const storage::RunRow& r);

// The runs as `dlcm export` writes them: format "csv" (a header line, then one line per run; no
// header without runs) or "json" (an array of rows).
std::string export_runs(const std::vector<storage::RunRow>& rows, const std::string& format);

}  // namespace dlcm::reports
