#pragma once
// Checkpoints of a run directory: the model, the optimizer, the data position and the loop's
// progress, written so that a kill at any moment leaves a good one to resume from. LibTorch.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "train/optim.hpp"
#include "train/step.hpp"

namespace dlcm::train {

// Sealed (size + CRC32 header, core/files.hpp) and rotated: checkpoint.pt is the newest,
// checkpoint.prev.pt the one before. A new one is written whole to checkpoint.pt.new (fsynced),
// then the two renames shift it in.
inline constexpr const char* kCheckpointFiles[] = {"checkpoint.pt", "checkpoint.pt.new", "checkpoint.prev.pt"};

// The loop's state besides the model, optimizer and data position: a resume continues it.
struct Progress {
  int64_t step = 0;
  double tokens = 0;
  // Realised training compression over the run: concepts per token summed over steps, so the run's
  // ratio is tokens / concepts (a harmonic mean). The first steps' few boundaries (R near T) would
  // otherwise dominate an arithmetic mean: 10-36 at target 2-4 on the demo sweep.
  double inv_ratio_sum = 0, ratio_count = 0;
  std::vector<double> recent_losses;      // last 20 training losses, for final_train_loss
  std::vector<double> recent_ratios;      // last 20 realised training ratios: the Global Parser
                                          // oscillates around its target, so report a window
};

// The training ratio over the whole run (a harmonic mean, above), or `target` before the first step.
inline double run_mean_ratio(const Progress& pr, double target) {
  return pr.inv_ratio_sum > 0 ? pr.ratio_count / pr.inv_ratio_sum : target;
}

using Warn = std::function<void(const std::string&)>;

void save_checkpoint(const std::filesystem::path& dir, model::LanguageModel& net, const AdamW& opt,
                     const Batcher& data, const Progress& pr);
// Resumes from the newest good checkpoint of `dir`, warning about each bad one skipped. Which file
// it loaded, nothing when the run has never written one; throws when every checkpoint present is bad.
std::optional<std::filesystem::path> restore_checkpoint(const std::filesystem::path& dir, model::LanguageModel& net,
                                                        AdamW& opt, Batcher& data, Progress& pr, const Warn& warn);
// The same newest-good-first choice, loading the model's parameters alone (`dlcm inspect`).
std::optional<std::filesystem::path> restore_parameters(const std::filesystem::path& dir, model::LanguageModel& net,
                                                        const Warn& warn);
// A trained run's model for reading (`dlcm inspect`, the analyses): built from cfg with room for
// inputs of `max_len` tokens (0: the run's seq_len; parameters do not depend on it), parameters
// from the newest good checkpoint (warnings to stderr), in eval mode. Throws naming the
// checkpoint file when the run has none.
model::LanguageModel load_trained(const std::filesystem::path& dir, const RunConfig& cfg, int64_t max_len = 0);

}  // namespace dlcm::train
