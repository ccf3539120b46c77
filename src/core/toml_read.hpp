#pragma once
// The one strict reader of dlcm's TOML files (run configs, sweep specs, lr-transfer specs): every
// problem is one line, "FILE: KEY: WHY", naming the file and the dotted key, so the user can find
// the line. `where` below is the prefix the key is named under ("" at the top, "grid.", "base.model.").
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <toml++/toml.h>

namespace dlcm {

// A syntax error becomes "FILE:LINE:COLUMN: TOML syntax error: ..." in a std::runtime_error.
toml::table parse_toml(const std::string& text, const std::string& source);

// Throws std::runtime_error("PATH: KEY: WHY"), the project's one-line message for a bad input.
[[noreturn]] void fail(const std::string& path, const std::string& key, const std::string& why);

// Fails "PATH: WHERE+KEY: WHY" at the first key of t not in known.
void check_keys(const toml::table& t, const std::set<std::string>& known, const std::string& path,
                const std::string& where = "", const std::string& why = "unknown key");

// A scalar into out when the key is present (out is left alone when it is absent; true when read).
// T is bool, int, int64_t, double or std::string; another kind fails "expected true or false",
// "expected an integer", "expected a number" or "expected a string". An int is narrowed as given, a
// number is not checked for finiteness: the callers say what range they need.
template <class T>
bool read_scalar(const toml::table& t, const std::string& key, T& out, const std::string& path,
                 const std::string& where = "");

// The table at the key, nullptr when absent; anything else fails "expected a table".
const toml::table* read_table(const toml::table& t, const std::string& key, const std::string& path,
                              const std::string& where = "");

// What a list reader rejects, and in which words (the callers' messages predate this reader).
struct ListRules {
  bool distinct = true;                 // repeated values fail "duplicate values"
  const char* empty = "empty list";     // the message for []
  // A number that is not one, and one that is not finite: lr-transfer specs say both as
  // "expected a list of finite numbers".
  const char* not_number = "expected a list of numbers";
  const char* not_finite = "values must be finite";
};

// A non-empty list of one kind (int, int64_t, double, std::string): fallback when the key is absent,
// and "required" when fallback is empty too; "expected a list", then "expected a list of integers"
// or "... of strings" (numbers: rules), then rules.empty and "duplicate values".
template <class T>
std::vector<T> read_list(const toml::table& t, const std::string& key, const std::string& path,
                         const std::string& where, std::vector<T> fallback, const ListRules& rules = {});

}  // namespace dlcm
