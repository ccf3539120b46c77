// dlcm: scaling-law experiment orchestrator for Dynamic Large Concept Models.
#include <cstdio>
#include <exception>

#include "commands.hpp"
#include "train/probes.hpp"

int main(int argc, char** argv) {
  CLI::App app{"dlcm: compression-aware scaling-law studies for Dynamic Large Concept Models"};
  app.require_subcommand(1);
  // Which dlcm, LibTorch, CUDA and BLAS: the block every run directory records too.
  app.set_version_flag("--version", [] { return dlcm::to_text(dlcm::train::build_info()); });
  dlcm::cli::add_data_command(app);
  dlcm::cli::add_train_commands(app);
  dlcm::cli::add_sweep_commands(app);
  dlcm::cli::add_fit_command(app);
  dlcm::cli::add_recommend_command(app);
  dlcm::cli::add_verify_command(app);
  dlcm::cli::add_report_command(app);
  dlcm::cli::add_mup_commands(app);
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
