#include "core/toml_read.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

namespace dlcm {

toml::table parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(fmt::format("{}:{}:{}: TOML syntax error: {}", source, e.source().begin.line,
                                         e.source().begin.column, e.description()));
  }
}

void fail(const std::string& path, const std::string& key, const std::string& why) {
  throw std::runtime_error(fmt::format("{}: {}: {}", path, key, why));
}

void check_keys(const toml::table& t, const std::set<std::string>& known, const std::string& path,
                const std::string& where, const std::string& why) {
  for (auto& [k, _] : t)
    if (!known.count(std::string(k.str()))) fail(path, where + std::string(k.str()), why);
}

template <class T>
bool read_scalar(const toml::table& t, const std::string& key, T& out, const std::string& path,
                 const std::string& where) {
  const auto* n = t.get(key);
  if (!n) return false;
  if constexpr (std::is_same_v<T, bool>) {
    if (!n->is_boolean()) fail(path, where + key, "expected true or false");
    out = *n->value<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!n->is_string()) fail(path, where + key, "expected a string");
    out = *n->value<std::string>();
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!n->is_number()) fail(path, where + key, "expected a number");
    out = *n->value<double>();
  } else {
    if (!n->is_integer()) fail(path, where + key, "expected an integer");
    out = static_cast<T>(*n->value<int64_t>());
  }
  return true;
}
template bool read_scalar(const toml::table&, const std::string&, bool&, const std::string&, const std::string&);
template bool read_scalar(const toml::table&, const std::string&, int&, const std::string&, const std::string&);
template bool read_scalar(const toml::table&, const std::string&, int64_t&, const std::string&, const std::string&);
template bool read_scalar(const toml::table&, const std::string&, double&, const std::string&, const std::string&);
template bool read_scalar(const toml::table&, const std::string&, std::string&, const std::string&,
                          const std::string&);

const toml::table* read_table(const toml::table& t, const std::string& key, const std::string& path,
                              const std::string& where) {
  const auto* n = t.get(key);
  if (n && !n->is_table()) fail(path, where + key, "expected a table");
  return n ? n->as_table() : nullptr;
}

template <class T>
std::vector<T> read_list(const toml::table& t, const std::string& key, const std::string& path,
                         const std::string& where, std::vector<T> fallback, const ListRules& rules) {
  const std::string name = where + key;
  const auto* n = t.get(key);
  if (!n) {
    if (fallback.empty()) fail(path, name, "required");
    return fallback;
  }
  const auto* arr = n->as_array();
  if (!arr) fail(path, name, "expected a list");
  std::vector<T> out;
  for (const auto& e : *arr) {
    if constexpr (std::is_same_v<T, std::string>) {
      if (!e.is_string()) fail(path, name, "expected a list of strings");
      out.push_back(*e.value<std::string>());
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!e.is_number()) fail(path, name, rules.not_number);
      out.push_back(*e.value<double>());
      if (!std::isfinite(out.back())) fail(path, name, rules.not_finite);
    } else {
      if (!e.is_integer()) fail(path, name, "expected a list of integers");
      out.push_back(static_cast<T>(*e.value<int64_t>()));
    }
  }
  if (out.empty()) fail(path, name, rules.empty);
  if (rules.distinct && std::set<T>(out.begin(), out.end()).size() != out.size())
    fail(path, name, "duplicate values");
  return out;
}
template std::vector<int> read_list(const toml::table&, const std::string&, const std::string&, const std::string&,
                                    std::vector<int>, const ListRules&);
template std::vector<int64_t> read_list(const toml::table&, const std::string&, const std::string&,
                                        const std::string&, std::vector<int64_t>, const ListRules&);
template std::vector<double> read_list(const toml::table&, const std::string&, const std::string&,
                                       const std::string&, std::vector<double>, const ListRules&);
template std::vector<std::string> read_list(const toml::table&, const std::string&, const std::string&,
                                            const std::string&, std::vector<std::string>, const ListRules&);

}  // namespace dlcm
