// dlcm-train calibrate: the training FLOP/s this machine reaches on each given run config, for the
// wall-time estimate of `dlcm sweep plan` (which runs it; not a user command).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "train/probes.hpp"

namespace dlcm::cli {

void add_calibrate_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> configs;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("calibrate", "Training FLOP/s of each run config here, as a JSON list (dlcm sweep plan's estimate)");
  cmd->add_option("configs", a->configs, "Run configs (TOML)")->required();
  cmd->add_option("--threads", a->threads, "Intra-op threads (default: all cores)");
  cmd->callback([a] {
    auto rates = nlohmann::json::array();
    for (const auto& path : a->configs) rates.push_back(train::measure_train_flops_per_second(load_run_config(path), a->threads));
    fmt::print("{}\n", rates.dump());
  });
}

}  // namespace dlcm::cli
