#pragma once
// Plain config structs: they flow from the TOML file down to every module. No LibTorch here.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dlcm {

enum class Arch { baseline, dlcm };
enum class BoundaryMode { global, sequence, fixed };
enum class Smoothing { none, ema };
enum class Schedule { cosine, wsd };
enum class Parametrisation { standard, mup };
enum class WeightDecayMode { coupled, independent };

struct ModelConfig {
  Arch arch = Arch::dlcm;
  int vocab_size = 256;
  int seq_len = 256;        // T, tokens per training window
  int d_token = 64;         // width of embedding, encoder, decoder
  int n_heads_token = 4;
  int n_kv_heads_token = 0; // 0: same as n_heads_token (no grouped KV)
  int n_layers = 4;         // baseline only: blocks in the plain stack
  int encoder_layers = 1;   // dlcm only
  int decoder_layers = 1;   // dlcm only
  int d_concept = 128;      // width of the concept backbone
  int n_heads_concept = 4;
  int n_kv_heads_concept = 0;
  int concept_layers = 2;
  double ffn_mult = 8.0 / 3.0;  // SwiGLU hidden = ffn_mult * d, rounded up to a multiple of 32
  double rope_theta = 10000.0;
  double init_std = 0.02;
  // μP: widths at which the base hyperparameters were tuned (DESIGN §5).
  Parametrisation parametrisation = Parametrisation::standard;
  int d_token_base = 64;
  int d_concept_base = 128;
};

struct BoundaryConfig {
  BoundaryMode mode = BoundaryMode::global;
  double ratio = 4.0;        // target R, tokens per concept
  double aux_weight = 0.03;  // λ, H-Net's value
  double temperature = 0.03; // sharpen(p) = sigmoid(logit(p)/τ) for sampling in training
  int d_scan = 0;            // 0: d_token
  Smoothing smoothing = Smoothing::none;
};

struct TrainConfig {
  int64_t steps = 200;
  int batch_size = 16;       // sequences per optimizer step (global batch)
  int micro_batches = 1;     // gradient accumulation: batch_size must divide by it
  // Base learning rates of the three μP groups (DESIGN §5), before the width factor and the
  // schedule. Each unset one is `lr`.
  double lr = 3e-3;
  std::optional<double> lr_token;    // η_tok: matrices with fan-in d_token (encoder, decoder, boundary, W_up)
  std::optional<double> lr_concept;  // η_con: matrices with fan-in d_concept (backbone, cross-attention K/V)
  std::optional<double> lr_other;    // η_other: embedding, norm gains, null concept, LM head
  double weight_decay = 0.1;
  // coupled: AdamW's decay lr·weight_decay per step, so under μP a matrix's decay shrinks with its
  // width factor like its rate. independent (Wortsman et al. 2023): weight_decay·(base rate of its
  // group) per step at every width. The default: the decay is a hyperparameter μP should transfer,
  // and both modes are the same training under standard parametrisation and at the base widths.
  WeightDecayMode weight_decay_mode = WeightDecayMode::independent;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;    // 0: off
  Schedule schedule = Schedule::cosine;
  int64_t warmup_steps = 20;
  double min_lr_ratio = 0.1; // final rate / peak rate
  double decay_fraction = 0.2;  // wsd: share of steps in the final decay
  int64_t eval_every = 50;
  int eval_windows = 16;     // validation windows per domain
  int64_t checkpoint_every = 100;
  uint64_t seed = 1;
  double diverge_loss = 20.0;  // a training loss above this (or non-finite) marks the run diverged
};

struct DataConfig {
  std::string dir;          // a corpus prepared by `dlcm data prepare`
  std::string train_bin;    // or: a pre-tokenised uint16 file (nanoGPT layout) ...
  std::string val_bin;      // ... with its validation split ...
  int vocab_size = 0;       // ... and its vocabulary size
};

struct RunConfig {
  ModelConfig model;
  BoundaryConfig boundary;
  TrainConfig train;
  DataConfig data;
};

// Reads and validates a run config, with `--set KEY=VALUE` overrides applied to it first
// (core/overrides.hpp); throws std::runtime_error naming the file and key.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides = {});
// key_prefix names where the tables sit in a larger file ("base." in a sweep spec); with
// check = false the result is not validated (a sweep validates each expanded grid point).
RunConfig parse_run_config(const std::string& toml_text, const std::string& source_name,
                           const std::string& key_prefix = "", bool check = true);
// Throws naming the key if the config cannot describe a model.
void validate(const RunConfig& cfg, const std::string& source_name);
// Canonical TOML text of a config: same config, same text (used for run identity).
std::string to_toml(const RunConfig& cfg);

int ffn_hidden(const ModelConfig& m, int d);
int kv_heads(int n_heads, int n_kv_heads);
int scan_dim(const ModelConfig& m, const BoundaryConfig& b);

const char* name(Arch);
const char* name(BoundaryMode);
const char* name(Smoothing);
const char* name(Schedule);
const char* name(Parametrisation);
const char* name(WeightDecayMode);

}  // namespace dlcm
