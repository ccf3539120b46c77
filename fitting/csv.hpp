#pragma once
// Reads a table of runs: a header row naming columns N, D, loss (and P, R for the dlcm law, P = 0 for a baseline; C may
// replace D, with D = C/(6N); an optional budget column labels each run's planned budget); other
// columns are ignored. Bad rows are errors naming the row.
#include <iosfwd>
#include <string>
#include <vector>

#include "fitting/observation.hpp"

namespace dlcm::fitting {

// Columns needed beyond N, loss and D-or-C.
struct CsvNeeds {
  bool P = false;
  bool R = false;
  bool baselines = false;  // P = 0 allowed: a baseline, the dlcm law's P = 0 case
};

// Throws std::runtime_error with a one-line message naming the source, row, line and field.
std::vector<Observation> read_observations_csv(std::istream& in, const std::string& source,
                                               CsvNeeds needs = {});
std::vector<Observation> read_observations_csv(const std::string& path, CsvNeeds needs = {});

}  // namespace dlcm::fitting
