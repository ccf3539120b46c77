// dlcm: scaling-law experiment orchestrator for Dynamic Large Concept Models. This binary never
// loads LibTorch: train, inspect and mup coord-check are dlcm-train's, which it execs for them.
#include "commands.hpp"
#include "core/build_info.hpp"
#include "trainer.hpp"

int main(int argc, char** argv) {
  if (dlcm::cli::is_trainer_command(argc, argv)) return dlcm::cli::forward_to_trainer(argc, argv);
  CLI::App app{"dlcm: compression-aware scaling-law studies for Dynamic Large Concept Models"};
  app.require_subcommand(1);
  // Which dlcm, and which trainer it hands training to (whose --version names LibTorch, CUDA, BLAS).
  app.set_version_flag("--version", [] { return dlcm::to_text(dlcm::compiled_build_info()); });
  dlcm::cli::add_data_command(app);
  dlcm::cli::add_trainer_command_stubs(app);
  dlcm::cli::add_sweep_commands(app);
  dlcm::cli::add_fit_command(app);
  dlcm::cli::add_recommend_command(app);
  dlcm::cli::add_verify_command(app);
  dlcm::cli::add_report_command(app);
  dlcm::cli::add_mup_commands(app);
  return dlcm::cli::run(app, argc, argv);
}
