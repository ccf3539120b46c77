#pragma once
// `--set KEY=VALUE`: changes to a TOML file given on the command line (dlcm train, dlcm sweep
// plan|run|submit). VALUE is a TOML value and KEY a TOML key, dotted to reach into nested tables
// (`train.lr=1e-3`, `grid.d_token=[32,48]`, `grid.per_budget."1e12".lr=[2e-3]`). Each is merged
// into the file's parsed table before the loader reads it, so an override is checked exactly as
// the same line in the file would be.
#include <string>
#include <vector>
#include <toml++/toml.h>

namespace dlcm {

// Sets each override in root, in order (a later one wins), creating the tables its key runs
// through. Throws "--set ARG: problem" for an argument that is not KEY=VALUE with a TOML value, and
// "SOURCE: KEY: problem" for a key that runs through a value that is not a table.
void apply_overrides(toml::table& root, const std::vector<std::string>& sets, const std::string& source);

// A loader's error message ("SOURCE: KEY: problem") with "(from --set ARG)" appended when the key
// it names is one an override set, or lies inside or above one: the file does not say it.
std::string note_overrides(const std::string& message, const std::string& source,
                           const std::vector<std::string>& sets);

// The overrides as one comment line, for a text re-serialised from the overridden table.
std::string overrides_comment(const std::string& source, const std::vector<std::string>& sets);

}  // namespace dlcm
