#pragma once
// Each subcommand lives in its own translation unit and registers itself on the app.
// Only cmd_train.cpp's callee (the train library) includes LibTorch.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "train/positions.hpp"

namespace dlcm::cli {
void add_data_command(CLI::App& app);
void add_train_commands(CLI::App& app);  // train, inspect
void add_fit_command(CLI::App& app);
void add_sweep_commands(CLI::App& app);  // sweep plan|run|submit|status|collect, export
void add_recommend_command(CLI::App& app);
void add_verify_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_mup_commands(CLI::App& app);    // mup coord-check|lr-transfer

// dlcm inspect --positions output (cmd_positions.cpp).
nlohmann::json positions_json(const PositionLoss& r);
void print_positions(const PositionLoss& r);
}  // namespace dlcm::cli
