#pragma once
// Each subcommand lives in its own translation unit and registers itself on the app. Two binaries:
// `dlcm` (no LibTorch) holds every command that does not train; `dlcm-train` holds those that run a
// model (train, inspect, mup coord-check, calibrate), and `dlcm` hands those to it (trainer.hpp).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "core/concept_positions.hpp"

namespace dlcm::cli {

// What the trainer's commands do: their help in dlcm-train, and their line in `dlcm --help`.
inline constexpr const char* kTrainAbout = "Train one DLCM or baseline proxy into a run directory";
inline constexpr const char* kInspectAbout =
    "Show how a trained run cuts text into concepts, with per-token loss; or (--positions) its validation loss "
    "by position inside a concept";
inline constexpr const char* kCoordCheckAbout = "Mean |activation| per module family over widths for a few steps";
inline constexpr const char* kMupAbout = "Validate decoupled μP: coordinate check, learning-rate transfer";

// Both binaries' main: parses and runs the command; a usage error exits as CLI11 says, any other
// error prints one "dlcm: error: ..." line (the trainer's too: `dlcm train` shows it as its own) and
// exits 1.
inline int run(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dlcm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

// dlcm
void add_data_command(CLI::App& app);
void add_fit_command(CLI::App& app);
void add_sweep_commands(CLI::App& app);  // sweep plan|run|submit|status|collect|extend, export
void add_recommend_command(CLI::App& app);
void add_verify_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_mup_commands(CLI::App& app);    // mup lr-transfer (coord-check: dlcm-train's)

// dlcm-train
void add_train_commands(CLI::App& app);            // train, inspect
void add_coord_check_command(CLI::App& mup);       // mup coord-check
void add_calibrate_command(CLI::App& app);         // calibrate: sweep plan's FLOP/s
void print_positions(const PositionLoss& r);       // inspect --positions as a table (cmd_positions.cpp)
}  // namespace dlcm::cli
