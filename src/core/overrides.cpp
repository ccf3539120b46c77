#include "core/overrides.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "core/toml_read.hpp"

namespace dlcm {
namespace {

struct Override {
  std::vector<std::string> path;  // the key's segments
  std::string key;                // as the loaders' messages name it: grid.per_budget."1e12".lr
  toml::table holder;             // the value, under "v"
};

[[noreturn]] void bad(const std::string& arg, const std::string& why) {
  throw std::runtime_error(fmt::format("--set {}: {}", arg, why));
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The first '=' outside a quoted key segment.
size_t split_point(const std::string& arg) {
  char quote = 0;
  for (size_t i = 0; i < arg.size(); ++i) {
    const char c = arg[i];
    if (quote) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '=') {
      return i;
    }
  }
  return std::string::npos;
}

std::string key_name(const std::vector<std::string>& path, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const auto& s = path[i];
    const bool bare = !s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                        "0123456789_-") == std::string::npos;
    out += (i ? "." : "") + (bare ? s : "\"" + s + "\"");
  }
  return out;
}

// TOML's own parser reads both halves: the key (with a placeholder value) and the value.
Override parse_override(const std::string& arg) {
  if (arg.find_first_of("\r\n") != std::string::npos) bad(arg, "one KEY=VALUE per --set, on one line");
  const size_t eq = split_point(arg);
  if (eq == std::string::npos) bad(arg, "expected KEY=VALUE (e.g. --set train.lr=1e-3)");
  const std::string key = trim(arg.substr(0, eq)), value = trim(arg.substr(eq + 1));
  Override o;
  toml::table keys;
  try {
    keys = toml::parse(std::string_view(key + " = 0"), std::string_view("--set"));
  } catch (const toml::parse_error&) {
    bad(arg, fmt::format("\"{}\" is not a TOML key", key));
  }
  // `a.b.c = 0` parses as nested tables of one entry each, down to the placeholder.
  for (const toml::table* at = &keys;;) {
    const auto it = at->cbegin();
    o.path.emplace_back(it->first.str());
    if (!it->second.is_table()) break;
    at = it->second.as_table();
  }
  o.key = key_name(o.path, o.path.size());
  try {
    o.holder = toml::parse(std::string_view("v = " + value), std::string_view("--set"));
  } catch (const toml::parse_error& e) {
    bad(arg, fmt::format("\"{}\" is not a TOML value ({}){}", value, e.description(),
                         value.find_first_of("\"'") == std::string::npos
                             ? fmt::format("; a string needs quotes: --set '{}=\"...\"'", key)
                             : ""));
  }
  return o;
}

// True when text names key as a whole key (not as the start of a longer one).
bool mentions(const std::string& text, const std::string& key) {
  const auto part = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; };
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
    const size_t end = at + key.size();
    if ((at == 0 || !(part(text[at - 1]) || text[at - 1] == '.')) && (end == text.size() || !part(text[end])))
      return true;
  }
  return false;
}

}  // namespace

void apply_overrides(toml::table& root, const std::vector<std::string>& sets, const std::string& source) {
  for (const auto& arg : sets) {
    const Override o = parse_override(arg);
    toml::table* at = &root;
    for (size_t i = 0; i + 1 < o.path.size(); ++i) {
      toml::node* n = at->get(o.path[i]);
      if (!n) n = &at->insert(o.path[i], toml::table{}).first->second;
      if (!n->is_table())
        fail(source, key_name(o.path, i + 1), fmt::format("not a table, so --set {} cannot set a key inside it", arg));
      at = n->as_table();
    }
    at->insert_or_assign(o.path.back(), *o.holder.get("v"));
  }
}

std::string note_overrides(const std::string& message, const std::string& source,
                           const std::vector<std::string>& sets) {
  const std::string head = source + ": ";
  if (message.rfind(head, 0) != 0) return message;
  // Quotes dropped: a message may quote a segment TOML reads bare (grid.per_budget."1e12").
  const auto unquoted = [](std::string s) {
    s.erase(std::remove(s.begin(), s.end(), '"'), s.end());
    return s;
  };
  const std::string rest = unquoted(message.substr(head.size()));
  const std::string key = rest.substr(0, rest.find(": "));
  for (auto it = sets.rbegin(); it != sets.rend(); ++it) {  // the last override of a key is the one in force
    const std::string set = unquoted(parse_override(*it).key);
    if (key == set || key.rfind(set + ".", 0) == 0 || set.rfind(key + ".", 0) == 0 || mentions(rest, set))
      return fmt::format("{} (from --set {})", message, *it);
  }
  return message;
}

std::string overrides_comment(const std::string& source, const std::vector<std::string>& sets) {
  std::string line = "# " + source;
  for (const auto& s : sets) line += " --set " + s;
  return line + "\n";
}

}  // namespace dlcm
