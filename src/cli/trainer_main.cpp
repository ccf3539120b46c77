// dlcm-train: the commands of dlcm that run a model, in the one binary that links LibTorch. `dlcm
// train|inspect|mup coord-check` exec it with their arguments; sweeps start it for every run.
#include "commands.hpp"
#include "train/probes.hpp"

int main(int argc, char** argv) {
  CLI::App app{"dlcm-train: the commands of dlcm that need LibTorch (dlcm runs them through this binary)"};
  app.require_subcommand(1);
  // Which dlcm, LibTorch, CUDA and BLAS: the block every run directory records too.
  app.set_version_flag("--version", [] { return dlcm::to_text(dlcm::train::build_info()); });
  dlcm::cli::add_train_commands(app);
  auto* mup = app.add_subcommand("mup", dlcm::cli::kMupAbout);
  mup->require_subcommand(1);
  dlcm::cli::add_coord_check_command(*mup);
  dlcm::cli::add_calibrate_command(app);
  return dlcm::cli::run(app, argc, argv);
}
