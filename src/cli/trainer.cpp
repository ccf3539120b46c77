#include "trainer.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "commands.hpp"
#include "core/build_info.hpp"
#include "core/process.hpp"

namespace dlcm::cli {

bool is_trainer_command(int argc, char** argv) {
  if (argc < 2) return false;
  const std::string cmd = argv[1];
  return cmd == "train" || cmd == "inspect" || (cmd == "mup" && argc > 2 && std::string(argv[2]) == "coord-check");
}

int forward_to_trainer(int argc, char** argv) {
  std::string exe;
  try {
    exe = trainer_exe();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dlcm: error: %s\n", e.what());
    return 1;
  }
  // argv[0] stays dlcm's, so the trainer's --help and errors read as dlcm's own.
  const int err = exec_program(exe, std::vector<std::string>(argv, argv + argc));
  std::fprintf(stderr, "dlcm: error: cannot start the trainer %s: %s\n", exe.c_str(), std::strerror(err));
  return 1;
}

void add_trainer_command_stubs(CLI::App& app) {
  app.add_subcommand("train", kTrainAbout)->allow_extras();
  app.add_subcommand("inspect", kInspectAbout)->allow_extras();
}

nlohmann::json trainer_json(const std::vector<std::string>& args) {
  std::vector<std::string> argv{trainer_exe()};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = run_program(argv);
  if (r.code != 0) {
    std::string line = r.err.substr(0, r.err.find('\n'));
    if (line.starts_with("dlcm: error: ")) line = line.substr(13);
    throw std::runtime_error(line.empty() ? fmt::format("{} exited with code {}", argv[0], r.code) : line);
  }
  try {
    return nlohmann::json::parse(r.out);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{} {}: its output is not JSON: {}", argv[0], args.at(0), e.what()));
  }
}

}  // namespace dlcm::cli
