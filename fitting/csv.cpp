#include "fitting/csv.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace dlcm::fitting {
namespace {

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

// Comma-separated fields; double quotes protect commas, "" is a literal quote.
std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted && ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      fields.back() += '"';
      ++i;
    } else if (ch == '"') {
      quoted = !quoted;
    } else if (ch == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += ch;
    }
  }
  for (auto& f : fields) f = trim(f);
  return fields;
}

constexpr std::size_t kAbsent = static_cast<std::size_t>(-1);

std::size_t column(const std::vector<std::string>& header, const char* name) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  return kAbsent;
}

}  // namespace

std::vector<Observation> read_observations_csv(std::istream& in, const std::string& source,
                                               CsvNeeds needs) {
  std::string text;
  int line_no = 0;
  std::vector<std::string> header;
  while (header.empty() && std::getline(in, text)) {
    ++line_no;
    if (!trim(text).empty()) header = split_fields(text);
  }
  if (header.empty()) throw std::runtime_error(fmt::format("{}: empty, expected a header row", source));

  auto need = [&](const char* name) {
    const std::size_t c = column(header, name);
    if (c == kAbsent) throw std::runtime_error(fmt::format("{}: header has no column '{}'", source, name));
    return c;
  };
  const std::size_t col_n = need("N"), col_loss = need("loss");
  const std::size_t col_d = column(header, "D"), col_c = column(header, "C");
  const std::size_t col_budget = column(header, "budget");
  if (col_d == kAbsent && col_c == kAbsent)
    throw std::runtime_error(fmt::format("{}: header has no column 'D' (or 'C' to derive it)", source));
  const std::size_t col_p = needs.P ? need("P") : kAbsent;
  const std::size_t col_r = needs.R ? need("R") : kAbsent;

  std::vector<Observation> obs;
  int row = 0;
  while (std::getline(in, text)) {
    ++line_no;
    if (trim(text).empty()) continue;
    ++row;
    const auto fields = split_fields(text);
    const std::string where = fmt::format("{} row {} (line {})", source, row, line_no);
    if (fields.size() != header.size())
      throw std::runtime_error(
          fmt::format("{}: {} fields, the header has {}", where, fields.size(), header.size()));
    auto number = [&](std::size_t col, bool zero_ok) {
      const std::string& s = fields[col];
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0')
        throw std::runtime_error(fmt::format("{}: {} = '{}' is not a number", where, header[col], s));
      if (!std::isfinite(v))
        throw std::runtime_error(fmt::format("{}: {} = {} is not finite", where, header[col], s));
      if (v < 0 || (v == 0 && !zero_ok))
        throw std::runtime_error(fmt::format("{}: {} = {} must be {}", where, header[col], s,
                                             zero_ok ? "non-negative" : "positive"));
      return v;
    };
    auto positive = [&](std::size_t col) { return number(col, false); };
    Observation o;
    o.line = line_no;
    o.N = positive(col_n);
    o.loss = positive(col_loss);
    if (col_c != kAbsent) o.C = positive(col_c);
    o.D = col_d != kAbsent ? positive(col_d) : o.C / (6.0 * o.N);
    if (col_p != kAbsent) {
      o.P = number(col_p, needs.baselines);
      if (o.P >= 1)
        throw std::runtime_error(fmt::format(
            "{}: P = {} must be below 1 (it is the backbone's share of N)", where, fields[col_p]));
    }
    if (col_r != kAbsent) o.R = positive(col_r);
    if (col_budget != kAbsent) o.budget = positive(col_budget);
    obs.push_back(o);
  }
  if (obs.empty()) throw std::runtime_error(fmt::format("{}: no data rows", source));
  return obs;
}

std::vector<Observation> read_observations_csv(const std::string& path, CsvNeeds needs) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("cannot open {}", path));
  return read_observations_csv(in, path, needs);
}

}  // namespace dlcm::fitting
