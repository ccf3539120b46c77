#pragma once
// dlcm's side of dlcm-train (core's trainer_exe() says where it is): the commands dlcm hands to it
// whole, and the trainer's JSON for the parts of other commands that need LibTorch (the report's
// checkpoint sections, sweep plan's calibration).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dlcm::cli {

// argv names a trainer command: train, inspect or mup coord-check.
bool is_trainer_command(int argc, char** argv);
// Execs the trainer with these very arguments (same pid: its output, exit code and signals are the
// command's). Returns 1 after one line on stderr when it cannot: a build without LibTorch, no binary.
int forward_to_trainer(int argc, char** argv);
// `dlcm --help` lists the trainer's commands too (they never reach dlcm's parser).
void add_trainer_command_stubs(CLI::App& app);

// Runs `dlcm-train ARGS...` to its end and parses its stdout as JSON. Throws the trainer's error
// line (without its "dlcm: error: " prefix) when it fails.
nlohmann::json trainer_json(const std::vector<std::string>& args);

}  // namespace dlcm::cli
