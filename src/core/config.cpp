#include "core/config.hpp"

#include "core/files.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <toml++/toml.h>

#include "core/overrides.hpp"
#include "core/toml_read.hpp"

namespace dlcm {
namespace {

// Each enum's values, for reading them by name() (the one spelling).
constexpr std::array<Arch, 2> values(Arch) { return {Arch::baseline, Arch::dlcm}; }
constexpr std::array<BoundaryMode, 3> values(BoundaryMode) {
  return {BoundaryMode::global, BoundaryMode::sequence, BoundaryMode::fixed};
}
constexpr std::array<Smoothing, 2> values(Smoothing) { return {Smoothing::none, Smoothing::ema}; }
constexpr std::array<Schedule, 2> values(Schedule) { return {Schedule::cosine, Schedule::wsd}; }
constexpr std::array<Parametrisation, 2> values(Parametrisation) {
  return {Parametrisation::standard, Parametrisation::mup};
}
constexpr std::array<WeightDecayMode, 2> values(WeightDecayMode) {
  return {WeightDecayMode::coupled, WeightDecayMode::independent};
}

constexpr const char* kSections[] = {"model", "boundary", "train", "data"};

// Every field of a run config, once: its table, its key and its member. Parsing and to_toml both
// walk this list (Config is RunConfig or const RunConfig), so a new field is one line here.
template <class Config, class F>
void for_each_field(Config& c, F&& f) {
  auto& m = c.model;
  f("model", "arch", m.arch);
  f("model", "vocab_size", m.vocab_size);
  f("model", "seq_len", m.seq_len);
  f("model", "d_token", m.d_token);
  f("model", "n_heads_token", m.n_heads_token);
  f("model", "n_kv_heads_token", m.n_kv_heads_token);
  f("model", "n_layers", m.n_layers);
  f("model", "encoder_layers", m.encoder_layers);
  f("model", "decoder_layers", m.decoder_layers);
  f("model", "d_concept", m.d_concept);
  f("model", "n_heads_concept", m.n_heads_concept);
  f("model", "n_kv_heads_concept", m.n_kv_heads_concept);
  f("model", "concept_layers", m.concept_layers);
  f("model", "ffn_mult", m.ffn_mult);
  f("model", "rope_theta", m.rope_theta);
  f("model", "init_std", m.init_std);
  f("model", "parametrisation", m.parametrisation);
  f("model", "d_token_base", m.d_token_base);
  f("model", "d_concept_base", m.d_concept_base);
  auto& b = c.boundary;
  f("boundary", "mode", b.mode);
  f("boundary", "ratio", b.ratio);
  f("boundary", "aux_weight", b.aux_weight);
  f("boundary", "temperature", b.temperature);
  f("boundary", "d_scan", b.d_scan);
  f("boundary", "smoothing", b.smoothing);
  auto& t = c.train;
  f("train", "steps", t.steps);
  f("train", "batch_size", t.batch_size);
  f("train", "micro_batches", t.micro_batches);
  f("train", "lr", t.lr);
  f("train", "lr_token", t.lr_token);
  f("train", "lr_concept", t.lr_concept);
  f("train", "lr_other", t.lr_other);
  f("train", "weight_decay", t.weight_decay);
  f("train", "weight_decay_mode", t.weight_decay_mode);
  f("train", "beta1", t.beta1);
  f("train", "beta2", t.beta2);
  f("train", "eps", t.eps);
  f("train", "grad_clip", t.grad_clip);
  f("train", "schedule", t.schedule);
  f("train", "warmup_steps", t.warmup_steps);
  f("train", "min_lr_ratio", t.min_lr_ratio);
  f("train", "decay_fraction", t.decay_fraction);
  f("train", "eval_every", t.eval_every);
  f("train", "eval_windows", t.eval_windows);
  f("train", "checkpoint_every", t.checkpoint_every);
  f("train", "seed", t.seed);
  f("train", "diverge_loss", t.diverge_loss);
  auto& d = c.data;
  f("data", "dir", d.dir);
  f("data", "train_bin", d.train_bin);
  f("data", "val_bin", d.val_bin);
  f("data", "vocab_size", d.vocab_size);
}

// Reads keys of one TOML table into struct fields; every key must be consumed (unknown keys fail).
struct TableReader {
  const toml::table* table;
  std::string source;
  std::string prefix;
  std::set<std::string> seen;

  template <class T>
  bool scalar(const std::string& key, T& out) {
    seen.insert(key);
    return table && read_scalar(*table, key, out, source, prefix + ".");
  }
  std::string where(const std::string& key) const { return prefix + "." + key; }

  void read(const std::string& key, int& out) { scalar(key, out); }
  void read(const std::string& key, int64_t& out) { scalar(key, out); }
  void read(const std::string& key, uint64_t& out) {
    int64_t v = static_cast<int64_t>(out);
    read(key, v);
    if (v < 0) fail(source, where(key), "must be non-negative");
    out = static_cast<uint64_t>(v);
  }
  bool read(const std::string& key, double& out) {
    if (!scalar(key, out)) return false;
    if (!std::isfinite(out)) fail(source, where(key), "must be finite");
    return true;
  }
  void read(const std::string& key, std::optional<double>& out) {
    if (double v = 0; read(key, v)) out = v;
  }
  void read(const std::string& key, std::string& out) { scalar(key, out); }
  // An enum, by its name().
  template <class E>
    requires std::is_enum_v<E>
  void read(const std::string& key, E& out) {
    std::map<std::string, E> choices;
    for (E e : values(E{})) choices[name(e)] = e;
    std::string s;
    read(key, s);
    if (s.empty()) return;
    auto it = choices.find(s);
    if (it == choices.end()) {
      std::string allowed;
      for (auto& [k, _] : choices) allowed += (allowed.empty() ? "" : ", ") + k;
      fail(source, where(key), fmt::format("unknown value \"{}\" (expected one of: {})", s, allowed));
    }
    out = it->second;
  }
  void finish() const {
    if (table) check_keys(*table, seen, source, prefix + ".");
  }
};

}  // namespace

const char* name(Arch a) { return a == Arch::baseline ? "baseline" : "dlcm"; }
const char* name(BoundaryMode m) {
  return m == BoundaryMode::global ? "global" : m == BoundaryMode::sequence ? "sequence" : "fixed";
}
const char* name(Smoothing s) { return s == Smoothing::none ? "none" : "ema"; }
const char* name(Schedule s) { return s == Schedule::cosine ? "cosine" : "wsd"; }
const char* name(Parametrisation p) { return p == Parametrisation::standard ? "standard" : "mup"; }
const char* name(WeightDecayMode w) { return w == WeightDecayMode::coupled ? "coupled" : "independent"; }

int ffn_hidden(const ModelConfig& m, int d) {
  int h = static_cast<int>(std::ceil(m.ffn_mult * d));
  return (h + 31) / 32 * 32;
}
int kv_heads(int n_heads, int n_kv_heads) { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
int scan_dim(const ModelConfig& m, const BoundaryConfig& b) { return b.d_scan > 0 ? b.d_scan : m.d_token; }

namespace {

// The four tables of a parsed config file (or of a sweep spec's `base`).
RunConfig from_table(const toml::table& root, const std::string& source, const std::string& pre, bool check) {
  check_keys(root, {"model", "boundary", "train", "data"}, source, pre,
             "unknown section (expected model, boundary, train, data)");
  RunConfig c;
  // Table by table, so an unknown key is reported before the next table is read.
  for (const std::string section : kSections) {
    TableReader r{read_table(root, section, source), source, pre + section, {}};
    for_each_field(c, [&](const char* table, const char* key, auto& member) {
      if (table == section) r.read(key, member);
    });
    r.finish();
  }
  if (check) validate(c, source);
  return c;
}

}  // namespace

RunConfig parse_run_config(const std::string& text, const std::string& source, const std::string& pre,
                           bool check) {
  return from_table(parse_toml(text, source), source, pre, check);
}

void validate(const RunConfig& c, const std::string& src) {
  auto positive = [&](const char* key, double v) {
    if (!(v > 0)) fail(src, key, fmt::format("must be positive (got {})", v));
  };
  auto heads = [&](const char* dkey, int d, const char* hkey, int h, const char* kvkey, int kv) {
    positive(dkey, d);
    positive(hkey, h);
    if (d % h != 0) fail(src, dkey, fmt::format("{} is not divisible by {} = {}", d, hkey, h));
    if ((d / h) % 2 != 0) fail(src, dkey, fmt::format("head dimension {} must be even for RoPE", d / h));
    if (kv < 0 || (kv > 0 && h % kv != 0))
      fail(src, kvkey, fmt::format("{} must divide {} = {}", kv, hkey, h));
  };
  const auto& m = c.model;
  positive("model.vocab_size", m.vocab_size);
  if (m.vocab_size > 65536) fail(src, "model.vocab_size", "must be at most 65536 (uint16 tokens)");
  positive("model.seq_len", m.seq_len);
  heads("model.d_token", m.d_token, "model.n_heads_token", m.n_heads_token, "model.n_kv_heads_token",
        m.n_kv_heads_token);
  positive("model.ffn_mult", m.ffn_mult);
  positive("model.rope_theta", m.rope_theta);
  positive("model.init_std", m.init_std);
  positive("model.d_token_base", m.d_token_base);
  positive("model.d_concept_base", m.d_concept_base);
  if (m.arch == Arch::baseline) {
    positive("model.n_layers", m.n_layers);
  } else {
    if (m.encoder_layers < 0) fail(src, "model.encoder_layers", "must be non-negative");
    positive("model.decoder_layers", m.decoder_layers);
    positive("model.concept_layers", m.concept_layers);
    heads("model.d_concept", m.d_concept, "model.n_heads_concept", m.n_heads_concept,
          "model.n_kv_heads_concept", m.n_kv_heads_concept);
    const auto& b = c.boundary;
    if (!(b.ratio > 1.0)) fail(src, "boundary.ratio", fmt::format("must be > 1 for a dlcm model (got {}); use arch = \"baseline\" for R = 1", b.ratio));
    if (b.ratio > m.seq_len) fail(src, "boundary.ratio", "must not exceed model.seq_len");
    if (b.mode == BoundaryMode::fixed && std::floor(b.ratio) != b.ratio)
      fail(src, "boundary.ratio", "must be an integer in fixed mode");
    if (b.aux_weight < 0) fail(src, "boundary.aux_weight", "must be non-negative");
    positive("boundary.temperature", b.temperature);
    if (b.d_scan < 0) fail(src, "boundary.d_scan", "must be non-negative");
  }
  const auto& t = c.train;
  if (t.steps < 0) fail(src, "train.steps", "must be non-negative");
  positive("train.batch_size", t.batch_size);
  positive("train.micro_batches", t.micro_batches);
  if (t.batch_size % t.micro_batches != 0)
    fail(src, "train.micro_batches", fmt::format("must divide train.batch_size = {}", t.batch_size));
  positive("train.lr", t.lr);
  if (t.lr_token) positive("train.lr_token", *t.lr_token);
  if (t.lr_concept) positive("train.lr_concept", *t.lr_concept);
  if (t.lr_other) positive("train.lr_other", *t.lr_other);
  if (t.weight_decay < 0) fail(src, "train.weight_decay", "must be non-negative");
  if (!(t.beta1 >= 0 && t.beta1 < 1)) fail(src, "train.beta1", "must be in [0, 1)");
  if (!(t.beta2 >= 0 && t.beta2 < 1)) fail(src, "train.beta2", "must be in [0, 1)");
  positive("train.eps", t.eps);
  if (t.grad_clip < 0) fail(src, "train.grad_clip", "must be non-negative");
  if (t.warmup_steps < 0) fail(src, "train.warmup_steps", "must be non-negative");
  if (!(t.min_lr_ratio >= 0 && t.min_lr_ratio <= 1)) fail(src, "train.min_lr_ratio", "must be in [0, 1]");
  if (!(t.decay_fraction >= 0 && t.decay_fraction <= 1)) fail(src, "train.decay_fraction", "must be in [0, 1]");
  positive("train.eval_every", static_cast<double>(t.eval_every));
  positive("train.eval_windows", t.eval_windows);
  positive("train.checkpoint_every", static_cast<double>(t.checkpoint_every));
  positive("train.diverge_loss", t.diverge_loss);
  const auto& d = c.data;
  if (d.dir.empty() && d.train_bin.empty()) fail(src, "data", "set data.dir (a prepared corpus) or data.train_bin");
  if (!d.dir.empty() && !d.train_bin.empty()) fail(src, "data.train_bin", "give either data.dir or data.train_bin, not both");
  if (!d.train_bin.empty()) {
    if (d.val_bin.empty()) fail(src, "data.val_bin", "required with data.train_bin");
    positive("data.vocab_size", d.vocab_size);
    if (d.vocab_size > m.vocab_size)
      fail(src, "data.vocab_size", fmt::format("exceeds model.vocab_size = {}", m.vocab_size));
  }
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  toml::table root = parse_toml(read_file(path, "config file"), path);
  apply_overrides(root, overrides, path);
  try {
    return from_table(root, path, "", true);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(note_overrides(e.what(), path, overrides));
  }
}

std::string to_toml(const RunConfig& c) {
  // Keys that cannot change the training stay out, so the configs written before them keep their
  // text and hash: a group rate equal to lr (or unset), and the decay mode under standard
  // parametrisation (where both modes decay alike).
  const auto left_out = [&](const std::string& key) {
    return key == "weight_decay_mode" && c.model.parametrisation != Parametrisation::mup;
  };
  std::map<std::string, toml::table> tables;
  for_each_field(c, [&](const char* section, const char* key, const auto& v) {
    using T = std::decay_t<decltype(v)>;
    auto& t = tables[section];
    if (left_out(key)) return;
    if constexpr (std::is_enum_v<T>) t.insert(key, name(v));
    else if constexpr (std::is_same_v<T, std::optional<double>>) {
      if (v && *v != c.train.lr) t.insert(key, *v);
    } else if constexpr (std::is_same_v<T, uint64_t>) t.insert(key, static_cast<int64_t>(v));
    else t.insert(key, v);
  });
  toml::table root;
  for (const std::string section : kSections) root.insert(section, tables[section]);
  std::ostringstream out;
  out << root << "\n";
  return out.str();
}

}  // namespace dlcm
