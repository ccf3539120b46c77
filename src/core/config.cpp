#include "core/config.hpp"

#include "core/files.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

#include "core/overrides.hpp"
#include "core/toml_read.hpp"

namespace dlcm {
namespace {

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
  template <class E>
  void read_enum(const std::string& key, E& out, const std::map<std::string, E>& choices) {
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
  {
    TableReader r{read_table(root, "model", source), source, pre + "model", {}};
    auto& m = c.model;
    r.read_enum("arch", m.arch, {{"baseline", Arch::baseline}, {"dlcm", Arch::dlcm}});
    r.read("vocab_size", m.vocab_size);
    r.read("seq_len", m.seq_len);
    r.read("d_token", m.d_token);
    r.read("n_heads_token", m.n_heads_token);
    r.read("n_kv_heads_token", m.n_kv_heads_token);
    r.read("n_layers", m.n_layers);
    r.read("encoder_layers", m.encoder_layers);
    r.read("decoder_layers", m.decoder_layers);
    r.read("d_concept", m.d_concept);
    r.read("n_heads_concept", m.n_heads_concept);
    r.read("n_kv_heads_concept", m.n_kv_heads_concept);
    r.read("concept_layers", m.concept_layers);
    r.read("ffn_mult", m.ffn_mult);
    r.read("rope_theta", m.rope_theta);
    r.read("init_std", m.init_std);
    r.read_enum("parametrisation", m.parametrisation,
                {{"standard", Parametrisation::standard}, {"mup", Parametrisation::mup}});
    r.read("d_token_base", m.d_token_base);
    r.read("d_concept_base", m.d_concept_base);
    r.finish();
  }
  {
    TableReader r{read_table(root, "boundary", source), source, pre + "boundary", {}};
    auto& b = c.boundary;
    r.read_enum("mode", b.mode,
                {{"global", BoundaryMode::global}, {"sequence", BoundaryMode::sequence},
                 {"fixed", BoundaryMode::fixed}});
    r.read("ratio", b.ratio);
    r.read("aux_weight", b.aux_weight);
    r.read("temperature", b.temperature);
    r.read("d_scan", b.d_scan);
    r.read_enum("smoothing", b.smoothing, {{"none", Smoothing::none}, {"ema", Smoothing::ema}});
    r.finish();
  }
  {
    TableReader r{read_table(root, "train", source), source, pre + "train", {}};
    auto& t = c.train;
    r.read("steps", t.steps);
    r.read("batch_size", t.batch_size);
    r.read("micro_batches", t.micro_batches);
    r.read("lr", t.lr);
    r.read("lr_token", t.lr_token);
    r.read("lr_concept", t.lr_concept);
    r.read("lr_other", t.lr_other);
    r.read("weight_decay", t.weight_decay);
    r.read_enum("weight_decay_mode", t.weight_decay_mode,
                {{"coupled", WeightDecayMode::coupled}, {"independent", WeightDecayMode::independent}});
    r.read("beta1", t.beta1);
    r.read("beta2", t.beta2);
    r.read("eps", t.eps);
    r.read("grad_clip", t.grad_clip);
    r.read_enum("schedule", t.schedule, {{"cosine", Schedule::cosine}, {"wsd", Schedule::wsd}});
    r.read("warmup_steps", t.warmup_steps);
    r.read("min_lr_ratio", t.min_lr_ratio);
    r.read("decay_fraction", t.decay_fraction);
    r.read("eval_every", t.eval_every);
    r.read("eval_windows", t.eval_windows);
    r.read("checkpoint_every", t.checkpoint_every);
    r.read("seed", t.seed);
    r.read("diverge_loss", t.diverge_loss);
    r.finish();
  }
  {
    TableReader r{read_table(root, "data", source), source, pre + "data", {}};
    auto& d = c.data;
    r.read("dir", d.dir);
    r.read("train_bin", d.train_bin);
    r.read("val_bin", d.val_bin);
    r.read("vocab_size", d.vocab_size);
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
  const auto& m = c.model;
  const auto& b = c.boundary;
  const auto& t = c.train;
  const auto& d = c.data;
  toml::table model{{"arch", name(m.arch)},
                    {"vocab_size", m.vocab_size},
                    {"seq_len", m.seq_len},
                    {"d_token", m.d_token},
                    {"n_heads_token", m.n_heads_token},
                    {"n_kv_heads_token", m.n_kv_heads_token},
                    {"n_layers", m.n_layers},
                    {"encoder_layers", m.encoder_layers},
                    {"decoder_layers", m.decoder_layers},
                    {"d_concept", m.d_concept},
                    {"n_heads_concept", m.n_heads_concept},
                    {"n_kv_heads_concept", m.n_kv_heads_concept},
                    {"concept_layers", m.concept_layers},
                    {"ffn_mult", m.ffn_mult},
                    {"rope_theta", m.rope_theta},
                    {"init_std", m.init_std},
                    {"parametrisation", name(m.parametrisation)},
                    {"d_token_base", m.d_token_base},
                    {"d_concept_base", m.d_concept_base}};
  toml::table boundary{{"mode", name(b.mode)},         {"ratio", b.ratio},
                       {"aux_weight", b.aux_weight},   {"temperature", b.temperature},
                       {"d_scan", b.d_scan},           {"smoothing", name(b.smoothing)}};
  toml::table train{{"steps", t.steps},
                    {"batch_size", t.batch_size},
                    {"micro_batches", t.micro_batches},
                    {"lr", t.lr},
                    {"weight_decay", t.weight_decay},
                    {"beta1", t.beta1},
                    {"beta2", t.beta2},
                    {"eps", t.eps},
                    {"grad_clip", t.grad_clip},
                    {"schedule", name(t.schedule)},
                    {"warmup_steps", t.warmup_steps},
                    {"min_lr_ratio", t.min_lr_ratio},
                    {"decay_fraction", t.decay_fraction},
                    {"eval_every", t.eval_every},
                    {"eval_windows", t.eval_windows},
                    {"checkpoint_every", t.checkpoint_every},
                    {"seed", static_cast<int64_t>(t.seed)},
                    {"diverge_loss", t.diverge_loss}};
  // Keys that cannot change the training stay out, so the configs written before them keep their
  // text and hash: a group rate equal to lr (or unset), and the decay mode under standard
  // parametrisation (where both modes decay alike).
  const std::pair<const char*, const std::optional<double>*> rates[] = {
      {"lr_token", &t.lr_token}, {"lr_concept", &t.lr_concept}, {"lr_other", &t.lr_other}};
  for (const auto& [key, v] : rates)
    if (*v && **v != t.lr) train.insert(key, **v);
  if (m.parametrisation == Parametrisation::mup) train.insert("weight_decay_mode", name(t.weight_decay_mode));
  toml::table data{{"dir", d.dir}, {"train_bin", d.train_bin}, {"val_bin", d.val_bin},
                   {"vocab_size", d.vocab_size}};
  toml::table root{{"model", model}, {"boundary", boundary}, {"train", train}, {"data", data}};
  std::ostringstream out;
  out << root << "\n";
  return out.str();
}

}  // namespace dlcm
