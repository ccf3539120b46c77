#include "sweeps/spec.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

#include "core/toml_parse.hpp"

#include "core/files.hpp"
#include "core/flops.hpp"

namespace dlcm::sweeps {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& key, const std::string& why) {
  throw std::runtime_error(fmt::format("{}: {}: {}", path, key, why));
}

template <class T>
std::vector<T> read_list(const toml::table& t, const std::string& key, const std::string& where,
                         const std::string& path, std::vector<T> fallback) {
  const auto* n = t.get(key);
  if (!n) return fallback;
  const auto* arr = n->as_array();
  if (!arr) fail(path, where + key, "expected a list");
  std::vector<T> out;
  for (const auto& e : *arr) {
    if constexpr (std::is_floating_point_v<T>) {
      if (!e.is_number()) fail(path, where + key, "expected a list of numbers");
      out.push_back(*e.value<double>());
      if (!std::isfinite(out.back())) fail(path, where + key, "values must be finite");
    } else {
      if (!e.is_integer()) fail(path, where + key, "expected a list of integers");
      out.push_back(static_cast<T>(*e.value<int64_t>()));
    }
  }
  if (out.empty()) fail(path, where + key, "empty list: the grid would be empty");
  if (std::set<T>(out.begin(), out.end()).size() != out.size()) fail(path, where + key, "duplicate values");
  return out;
}

std::string fmt_num(double v) { return fmt::format("{:g}", v); }

}  // namespace

std::string config_hash(const RunConfig& cfg) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : to_toml(cfg)) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

PlannedRun planned_run(const RunConfig& c, std::string label, double budget) {
  PlannedRun r;
  r.cfg = c;
  r.hash = config_hash(c);
  r.label = std::move(label);
  r.budget = budget;
  r.steps = c.train.steps;
  const auto a = account(c.model, c.boundary, c.boundary.ratio,
                         static_cast<double>(r.steps) * c.train.batch_size * c.model.seq_len);
  r.N = a.N;
  r.P = a.P;
  r.R = a.R;
  r.n_eff = a.n_eff;
  r.flops_per_token = 6 * a.n_eff;
  r.D = a.D;
  r.C = a.C;
  return r;
}

SweepSpec parse_spec(const std::string& text, const std::string& path) {
  const toml::table root = parse_toml(text, path);
  SweepSpec s;
  s.path = path;
  s.text = text;
  static const std::set<std::string> known = {"name", "budgets", "grid", "base", "runs_dir", "warmup_fraction",
                                              "min_steps", "max_steps", "evals", "max_attempts"};
  for (auto& [k, _] : root)
    if (!known.count(std::string(k.str()))) fail(path, std::string(k.str()), "unknown key");

  auto str = [&](const char* key) -> std::string {
    const auto* n = root.get(key);
    if (!n) return "";
    if (!n->is_string()) fail(path, key, "expected a string");
    return *n->value<std::string>();
  };
  s.name = str("name");
  if (s.name.empty()) fail(path, "name", "required: a non-empty sweep name");
  s.runs_dir = str("runs_dir");
  if (s.runs_dir.empty()) s.runs_dir = "runs/" + s.name;
  auto num = [&](const char* key, auto& out) {
    const auto* n = root.get(key);
    if (!n) return;
    using T = std::decay_t<decltype(out)>;
    if constexpr (std::is_floating_point_v<T>) {
      if (!n->is_number()) fail(path, key, "expected a number");
      out = *n->value<double>();
    } else {
      if (!n->is_integer()) fail(path, key, "expected an integer");
      out = static_cast<T>(*n->value<int64_t>());
    }
  };
  num("warmup_fraction", s.warmup_fraction);
  num("min_steps", s.min_steps);
  num("max_steps", s.max_steps);
  num("evals", s.evals);
  num("max_attempts", s.max_attempts);
  if (!(s.warmup_fraction >= 0 && s.warmup_fraction < 1)) fail(path, "warmup_fraction", "must be in [0, 1)");
  if (s.min_steps < 1) fail(path, "min_steps", "must be at least 1");
  if (s.max_steps < s.min_steps) fail(path, "max_steps", "must be at least min_steps");
  if (s.evals < 1) fail(path, "evals", "must be at least 1");
  if (s.max_attempts < 1) fail(path, "max_attempts", "must be at least 1");

  if (!root.get("budgets")) fail(path, "budgets", "required: a list of training FLOPs budgets");
  s.budgets = read_list<double>(root, "budgets", "", path, {});
  for (double b : s.budgets)
    if (!(b > 0)) fail(path, "budgets", fmt::format("budgets must be positive (got {})", b));

  const auto* base = root.get("base");
  if (base && !base->is_table()) fail(path, "base", "expected a table");
  std::ostringstream base_text;
  if (base) base_text << *base->as_table();
  s.base = parse_run_config(base_text.str(), path, "base.", /*check=*/false);

  const auto* grid_node = root.get("grid");
  if (!grid_node || !grid_node->is_table()) fail(path, "grid", "required: a table of lists");
  const auto& g = *grid_node->as_table();
  static const std::set<std::string> grid_keys = {"d_token", "baseline_layers", "d_concept", "concept_layers",
                                                  "encoder_layers", "decoder_layers", "ratio", "seed", "lr"};
  for (auto& [k, _] : g)
    if (!grid_keys.count(std::string(k.str()))) fail(path, "grid." + std::string(k.str()), "unknown key");
  const auto& m = s.base.model;
  s.grid.d_token = read_list<int>(g, "d_token", "grid.", path, {m.d_token});
  s.grid.baseline_layers = read_list<int>(g, "baseline_layers", "grid.", path, {m.n_layers});
  s.grid.d_concept = read_list<int>(g, "d_concept", "grid.", path, {m.d_concept});
  s.grid.concept_layers = read_list<int>(g, "concept_layers", "grid.", path, {m.concept_layers});
  s.grid.encoder_layers = read_list<int>(g, "encoder_layers", "grid.", path, {m.encoder_layers});
  s.grid.decoder_layers = read_list<int>(g, "decoder_layers", "grid.", path, {m.decoder_layers});
  s.grid.ratio = read_list<double>(g, "ratio", "grid.", path, {1.0, s.base.boundary.ratio});
  s.grid.seed = read_list<int64_t>(g, "seed", "grid.", path, {static_cast<int64_t>(s.base.train.seed)});
  s.grid.lr = read_list<double>(g, "lr", "grid.", path, {s.base.train.lr});
  bool has_baseline = false;
  for (double r : s.grid.ratio) {
    if (r < 1) fail(path, "grid.ratio", fmt::format("R must be at least 1 (got {})", r));
    if (r > 1 && r < 1.5) fail(path, "grid.ratio", fmt::format("R = {} is too close to 1 for a DLCM", r));
    has_baseline |= r == 1;
  }
  if (!has_baseline) fail(path, "grid.ratio", "must include 1: the baseline belongs in every study");
  for (double lr : s.grid.lr)
    if (!(lr > 0)) fail(path, "grid.lr", "learning rates must be positive");
  for (int64_t seed : s.grid.seed)
    if (seed < 0) fail(path, "grid.seed", "seeds must be non-negative");
  return s;
}

SweepSpec load_spec(const std::string& path) { return parse_spec(read_file(path, "sweep spec"), path); }

Plan plan(const SweepSpec& s) {
  Plan out;
  // Architectures first (baseline points ignore concept settings), then budgets × seeds × rates.
  std::vector<std::pair<std::string, RunConfig>> archs;
  std::set<std::string> seen;
  for (int d : s.grid.d_token)
    for (double R : s.grid.ratio) {
      auto add = [&](RunConfig c, const std::string& label) {
        const std::string key = to_toml(c);
        if (seen.insert(key).second) archs.emplace_back(label, c);
      };
      RunConfig c = s.base;
      c.model.d_token = d;
      if (R == 1) {
        c.model.arch = Arch::baseline;
        for (int L : s.grid.baseline_layers) {
          c.model.n_layers = L;
          // Concept-side fields do not exist for a baseline: reset so they do not split its identity.
          RunConfig b = c;
          b.model.d_concept = ModelConfig{}.d_concept;
          b.model.concept_layers = ModelConfig{}.concept_layers;
          b.model.encoder_layers = ModelConfig{}.encoder_layers;
          b.model.decoder_layers = ModelConfig{}.decoder_layers;
          b.boundary = BoundaryConfig{};
          add(b, fmt::format("baseline d{} L{}", d, L));
        }
        continue;
      }
      c.model.arch = Arch::dlcm;
      c.boundary.ratio = R;
      for (int dc : s.grid.d_concept)
        for (int lc : s.grid.concept_layers)
          for (int le : s.grid.encoder_layers)
            for (int ld : s.grid.decoder_layers) {
              c.model.d_concept = dc;
              c.model.concept_layers = lc;
              c.model.encoder_layers = le;
              c.model.decoder_layers = ld;
              add(c, fmt::format("dlcm d{} c{}x{} e{} d{} R{}", d, dc, lc, le, ld, fmt_num(R)));
            }
    }
  std::set<std::string> hashes;
  for (double budget : s.budgets)
    for (const auto& [arch_label, arch] : archs)
      for (int64_t seed : s.grid.seed)
        for (double lr : s.grid.lr) {
          RunConfig c = arch;
          c.train.seed = static_cast<uint64_t>(seed);
          c.train.lr = lr;
          const std::string label = fmt::format("{} s{} lr{}", arch_label, seed, fmt_num(lr));
          try {
            validate(c, s.path);
          } catch (const std::exception& e) {
            throw std::runtime_error(fmt::format("{} (grid point {})", e.what(), label));
          }
          const double R = c.model.arch == Arch::dlcm ? c.boundary.ratio : 1.0;
          const auto f = flops_per_token(c.model, c.boundary, R);
          const double tokens_per_step = static_cast<double>(c.train.batch_size) * c.model.seq_len;
          const auto steps = static_cast<int64_t>(std::llround(budget / (f.train_flops() * tokens_per_step)));
          if (steps < s.min_steps) {
            out.dropped.push_back({label, budget, fmt::format("{} steps < min_steps {}: model too large for this budget", steps, s.min_steps)});
            continue;
          }
          if (steps > s.max_steps) {
            out.dropped.push_back({label, budget, fmt::format("{} steps > max_steps {}", steps, s.max_steps)});
            continue;
          }
          c.train.steps = steps;
          c.train.warmup_steps = static_cast<int64_t>(std::llround(s.warmup_fraction * static_cast<double>(steps)));
          c.train.eval_every = std::max<int64_t>(1, (steps + s.evals - 1) / s.evals);
          c.train.checkpoint_every = std::max<int64_t>(1, steps / 4);
          PlannedRun r = planned_run(c, label, budget);
          if (!hashes.insert(r.hash).second) {
            out.dropped.push_back({label, budget, "same run as another grid point (identical config)"});
            continue;
          }
          out.runs.push_back(std::move(r));
        }
  if (out.runs.empty()) throw std::runtime_error(fmt::format("{}: budgets: no grid point fits any budget", s.path));
  return out;
}

}  // namespace dlcm::sweeps
