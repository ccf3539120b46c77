#pragma once
// TOML files (run configs, sweep specs, lr-transfer specs) parsed one way: a syntax error becomes
// "FILE:LINE:COLUMN: TOML syntax error: ..." in a std::runtime_error.
#include <string>
#include <toml++/toml.h>

namespace dlcm {
toml::table parse_toml(const std::string& text, const std::string& source);
}  // namespace dlcm
