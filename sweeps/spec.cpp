#include "sweeps/spec.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

#include "core/overrides.hpp"
#include "core/toml_read.hpp"

#include "core/files.hpp"
#include "core/flops.hpp"

namespace dlcm::sweeps {
namespace {

// The words for [] in a grid list (and in budgets, which the grid is crossed with).
constexpr const char* kEmptyAxis = "empty list: the grid would be empty";

std::string fmt_num(double v) { return fmt::format("{:g}", v); }

// The grid's axes, in the order the planner nests them (the last varies fastest).
// boundary_mode comes last, so a grid that does not vary it nests as it always did.
enum Axis : int { kDToken, kRatio, kBaselineLayers, kDConcept, kConceptLayers, kEncoderLayers, kDecoderLayers, kSeed, kLr,
                  kBoundaryMode, kAxes };
constexpr const char* kAxisKeys[kAxes] = {"d_token",        "ratio",          "baseline_layers", "d_concept", "concept_layers",
                                          "encoder_layers", "decoder_layers", "seed",            "lr",        "boundary_mode"};
constexpr const char* kAxisList =
    "d_token, baseline_layers, d_concept, concept_width_mult, concept_layers, encoder_layers, decoder_layers, ratio, "
    "seed, lr, boundary_mode";

// The boundary predictor a grid word names (core/config's own words for it), nullopt for none.
std::optional<BoundaryMode> boundary_mode_of(const std::string& word) {
  for (BoundaryMode m : {BoundaryMode::global, BoundaryMode::sequence, BoundaryMode::fixed})
    if (word == name(m)) return m;
  return std::nullopt;
}

int axis_of(const std::string& key) {
  if (key == "concept_width_mult") return kDConcept;
  for (int a = 0; a < kAxes; ++a)
    if (key == kAxisKeys[a]) return a;
  return -1;
}

// The key the grid gives this axis under (the concept width is d_concept or concept_width_mult).
std::string axis_key(const Grid& g, int a) {
  return a == kDConcept && !g.concept_width_mult.empty() ? "concept_width_mult" : kAxisKeys[a];
}

template <class F>
auto with_axis(const Grid& g, int a, F&& f) {
  switch (a) {
    case kDToken: return f(g.d_token);
    case kRatio: return f(g.ratio);
    case kBaselineLayers: return f(g.baseline_layers);
    case kDConcept: return g.concept_width_mult.empty() ? f(g.d_concept) : f(g.concept_width_mult);
    case kConceptLayers: return f(g.concept_layers);
    case kEncoderLayers: return f(g.encoder_layers);
    case kDecoderLayers: return f(g.decoder_layers);
    case kSeed: return f(g.seed);
    case kBoundaryMode: return f(g.boundary_mode);
    default: return f(g.lr);
  }
}
size_t axis_size(const Grid& g, int a) {
  return with_axis(g, a, [](const auto& v) { return v.size(); });
}
std::string axis_value(const Grid& g, int a, size_t i) {
  return with_axis(g, a, [&](const auto& v) { return fmt::format("{}", v[i]); });
}

std::vector<std::vector<std::string>> read_pairs(const toml::table& t, const std::string& where, const std::string& path) {
  const auto* n = t.get("pair");
  if (!n) return {};
  const std::string key = where + "pair";
  const char* expect = "expected a list of grid keys, e.g. [\"d_token\", \"d_concept\"], or a list of such lists";
  const auto* arr = n->as_array();
  if (!arr || arr->empty()) fail(path, key, expect);
  auto names_of = [&](const toml::array& a) {
    std::vector<std::string> names;
    for (const auto& e : a) {
      if (!e.is_string()) fail(path, key, expect);
      names.push_back(*e.value<std::string>());
    }
    return names;
  };
  std::vector<std::vector<std::string>> groups;
  if ((*arr)[0].is_array()) {
    for (const auto& e : *arr) {
      if (!e.is_array()) fail(path, key, expect);
      groups.push_back(names_of(*e.as_array()));
    }
  } else {
    groups.push_back(names_of(*arr));
  }
  std::set<int> used;
  for (const auto& group : groups) {
    if (group.size() < 2) fail(path, key, "a pair needs at least two axes");
    for (const auto& name : group) {
      const int a = axis_of(name);
      if (a < 0) fail(path, key, fmt::format("\"{}\" is not a grid axis (one of {})", name, kAxisList));
      if (!used.insert(a).second) fail(path, key, fmt::format("{} is paired twice", name));
    }
  }
  return groups;
}

// Every grid point at one grid: paired axes advance together, the rest are crossed, nested in axis order.
std::vector<std::array<size_t, kAxes>> points(const Grid& g) {
  std::vector<std::vector<int>> groups;
  std::array<int, kAxes> group_of;
  group_of.fill(-1);
  for (size_t k = 0; k < g.pairs.size(); ++k)
    for (const auto& name : g.pairs[k]) group_of[axis_of(name)] = static_cast<int>(k);
  std::set<int> placed;
  for (int a = 0; a < kAxes; ++a) {
    if (group_of[a] < 0) {
      groups.push_back({a});
    } else if (placed.insert(group_of[a]).second) {  // a pair sits where its first axis would
      std::vector<int> axes;
      for (const auto& name : g.pairs[group_of[a]]) axes.push_back(axis_of(name));
      groups.push_back(axes);
    }
  }
  std::vector<size_t> at(groups.size(), 0);
  std::vector<std::array<size_t, kAxes>> out;
  for (;;) {
    std::array<size_t, kAxes> p{};
    for (size_t k = 0; k < groups.size(); ++k)
      for (int a : groups[k]) p[a] = at[k];
    out.push_back(p);
    size_t k = groups.size();
    while (k > 0 && ++at[k - 1] == axis_size(g, groups[k - 1][0])) at[--k] = 0;
    if (k == 0) return out;
  }
}

// Paired lists have equal lengths and no repeated tuple, in the grid as it stands at each budget.
void check_pairs(const Grid& g, const std::string& path, bool top) {
  const std::string key = top ? g.where + "pair" : g.where.substr(0, g.where.size() - 1);
  for (const auto& group : g.pairs) {
    std::vector<int> axes;
    for (const auto& name : group) {
      const int a = axis_of(name);
      if (axis_key(g, a) != name)
        fail(path, key, fmt::format("pairs {}, but the grid gives the concept width as {}", name, axis_key(g, a)));
      axes.push_back(a);
    }
    for (size_t k = 1; k < axes.size(); ++k)
      if (axis_size(g, axes[k]) != axis_size(g, axes[0]))
        fail(path, key,
             fmt::format("paired axes zip lists of equal length: {} has {} values, {} has {}", group[0],
                         axis_size(g, axes[0]), group[k], axis_size(g, axes[k])));
    std::set<std::string> tuples;
    for (size_t i = 0; i < axis_size(g, axes[0]); ++i) {
      std::vector<std::string> values;
      for (int a : axes) values.push_back(axis_value(g, a, i));
      if (!tuples.insert(fmt::format("{}", fmt::join(values, ", "))).second)
        fail(path, key,
             fmt::format("({}) = ({}) appears twice", fmt::join(group, ", "), fmt::join(values, ", ")));
    }
  }
}

// One grid table: [grid] (top, over the base config's defaults) or [grid.per_budget."C"] (over [grid]).
Grid read_grid(const toml::table& t, const std::string& where, const std::string& path, const Grid& fallback, bool top) {
  static const std::set<std::string> list_keys = {"d_token",        "baseline_layers", "d_concept", "concept_width_mult",
                                                  "concept_layers", "encoder_layers",  "decoder_layers", "ratio",
                                                  "seed",           "lr",              "tokens_per_param",
                                                  "boundary_mode"};
  static const std::set<std::string> top_keys = [] {
    auto k = list_keys;
    k.insert({"pair", "per_budget"});
    return k;
  }();
  if (top) check_keys(t, top_keys, path, where);
  else check_keys(t, list_keys, path, where, "unknown key (a per-budget table takes grid lists and tokens_per_param)");
  Grid g = fallback;
  g.where = where;
  if (top) g.pairs = read_pairs(t, where, path);
  std::set<std::string> paired;
  for (const auto& group : g.pairs) paired.insert(group.begin(), group.end());
  // A paired axis may repeat a value (d_token 32 with d_concept 64 and with 128); its tuples may not.
  auto list = [&](const char* key, auto& out) {
    using T = typename std::decay_t<decltype(out)>::value_type;
    out = read_list<T>(t, key, path, where, out, {.distinct = paired.count(key) == 0, .empty = kEmptyAxis});
  };
  list("d_token", g.d_token);
  list("baseline_layers", g.baseline_layers);
  if (t.get("d_concept") && t.get("concept_width_mult"))
    fail(path, where + "concept_width_mult", "give d_concept or concept_width_mult, not both");
  if (t.get("d_concept")) {
    list("d_concept", g.d_concept);
    g.concept_width_mult.clear();
  }
  if (t.get("concept_width_mult")) {
    list("concept_width_mult", g.concept_width_mult);
    for (double m : g.concept_width_mult)
      if (!(m > 0)) fail(path, where + "concept_width_mult", fmt::format("multipliers must be positive (got {})", m));
  }
  list("concept_layers", g.concept_layers);
  list("encoder_layers", g.encoder_layers);
  list("decoder_layers", g.decoder_layers);
  list("ratio", g.ratio);
  list("seed", g.seed);
  list("lr", g.lr);
  list("boundary_mode", g.boundary_mode);
  for (const auto& m : g.boundary_mode)
    if (!boundary_mode_of(m))
      fail(path, where + "boundary_mode", fmt::format("\"{}\" is not a boundary mode (global, sequence, fixed)", m));
  bool has_baseline = false;
  for (double r : g.ratio) {
    if (r < 1) fail(path, where + "ratio", fmt::format("R must be at least 1 (got {})", r));
    if (r > 1 && r < 1.5) fail(path, where + "ratio", fmt::format("R = {} is too close to 1 for a DLCM", r));
    has_baseline |= r == 1;
  }
  if (!has_baseline) fail(path, where + "ratio", "must include 1: the baseline belongs in every study");
  for (double lr : g.lr)
    if (!(lr > 0)) fail(path, where + "lr", "learning rates must be positive");
  for (int64_t seed : g.seed)
    if (seed < 0) fail(path, where + "seed", "seeds must be non-negative");
  if (const auto* n = t.get("tokens_per_param")) {
    const std::string key = where + "tokens_per_param";
    const auto* arr = n->as_array();
    if (!arr || arr->size() != 2 || !(*arr)[0].is_number() || !(*arr)[1].is_number())
      fail(path, key, "expected [lo, hi]: a band of training tokens per non-embedding parameter");
    const double lo = *(*arr)[0].value<double>(), hi = *(*arr)[1].value<double>();
    if (!std::isfinite(lo) || !std::isfinite(hi)) fail(path, key, "bounds must be finite");
    if (!(lo > 0)) fail(path, key, fmt::format("lo must be positive (got {})", lo));
    if (!(lo < hi)) fail(path, key, fmt::format("lo must be below hi (got [{}, {}])", lo, hi));
    g.tokens_per_param = std::make_pair(lo, hi);
    g.tokens_per_param_key = key;
  }
  check_pairs(g, path, top);
  // Widths given as multiples must come out whole at every DLCM point this grid makes.
  if (!g.concept_width_mult.empty())
    for (const auto& p : points(g)) {
      const double mult = g.concept_width_mult[p[kDConcept]], w = mult * g.d_token[p[kDToken]];
      if (g.ratio[p[kRatio]] > 1 && std::abs(w - std::round(w)) > 1e-9 * w)
        fail(path, where + (top || t.get("concept_width_mult") ? "concept_width_mult" : t.get("d_token") ? "d_token" : "ratio"),
             fmt::format("{} × d_token {} = {} is not a whole width", mult, g.d_token[p[kDToken]], w));
    }
  return g;
}

}  // namespace

std::string config_hash(const RunConfig& cfg) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : to_toml(cfg)) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

std::string run_label(const RunConfig& c) {
  const auto& m = c.model;
  const std::string arch = m.arch == Arch::dlcm
                               ? fmt::format("dlcm d{} c{}x{} e{} d{} R{}", m.d_token, m.d_concept, m.concept_layers,
                                             m.encoder_layers, m.decoder_layers, fmt_num(c.boundary.ratio))
                               : fmt::format("baseline d{} L{}", m.d_token, m.n_layers);
  // The Global Parser is the default predictor; another one is named.
  const std::string mode = m.arch == Arch::dlcm && c.boundary.mode != BoundaryMode::global
                               ? fmt::format(" {}", name(c.boundary.mode)) : "";
  return fmt::format("{}{} s{} lr{}", arch, mode, c.train.seed, fmt_num(c.train.lr));
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

bool spec_baselines_in_law(const std::string& text, const std::string& path) {
  bool in_law = false;
  read_scalar(parse_toml(text, path), "baselines_in_law", in_law, path);
  return in_law;
}

SweepSpec parse_spec(const std::string& text, const std::string& path) {
  const toml::table root = parse_toml(text, path);
  SweepSpec s;
  s.path = path;
  s.text = text;
  static const std::set<std::string> known = {"name", "budgets", "grid", "base", "runs_dir", "lr_from", "warmup_fraction",
                                              "min_steps", "max_steps", "evals", "max_attempts", "baselines_in_law"};
  check_keys(root, known, path);

  read_scalar(root, "name", s.name, path);
  if (s.name.empty()) fail(path, "name", "required: a non-empty sweep name");
  read_scalar(root, "runs_dir", s.runs_dir, path);
  read_scalar(root, "lr_from", s.lr_from, path);
  if (s.runs_dir.empty()) s.runs_dir = "runs/" + s.name;
  read_scalar(root, "baselines_in_law", s.baselines_in_law, path);
  read_scalar(root, "warmup_fraction", s.warmup_fraction, path);
  read_scalar(root, "min_steps", s.min_steps, path);
  read_scalar(root, "max_steps", s.max_steps, path);
  read_scalar(root, "evals", s.evals, path);
  read_scalar(root, "max_attempts", s.max_attempts, path);
  if (!(s.warmup_fraction >= 0 && s.warmup_fraction < 1)) fail(path, "warmup_fraction", "must be in [0, 1)");
  if (s.min_steps < 1) fail(path, "min_steps", "must be at least 1");
  if (s.max_steps < s.min_steps) fail(path, "max_steps", "must be at least min_steps");
  if (s.evals < 1) fail(path, "evals", "must be at least 1");
  if (s.max_attempts < 1) fail(path, "max_attempts", "must be at least 1");

  if (!root.get("budgets")) fail(path, "budgets", "required: a list of training FLOPs budgets");
  s.budgets = read_list<double>(root, "budgets", path, "", {}, {.empty = kEmptyAxis});
  for (double b : s.budgets)
    if (!(b > 0)) fail(path, "budgets", fmt::format("budgets must be positive (got {})", b));

  std::ostringstream base_text;
  if (const auto* base = read_table(root, "base", path)) base_text << *base;
  s.base = parse_run_config(base_text.str(), path, "base.", /*check=*/false);

  const auto* grid_node = root.get("grid");
  if (!grid_node || !grid_node->is_table()) fail(path, "grid", "required: a table of lists");
  const auto& g = *grid_node->as_table();
  const auto& m = s.base.model;
  Grid defaults;
  defaults.d_token = {m.d_token};
  defaults.baseline_layers = {m.n_layers};
  defaults.d_concept = {m.d_concept};
  defaults.concept_layers = {m.concept_layers};
  defaults.encoder_layers = {m.encoder_layers};
  defaults.decoder_layers = {m.decoder_layers};
  defaults.ratio = {1.0, s.base.boundary.ratio};
  defaults.seed = {static_cast<int64_t>(s.base.train.seed)};
  defaults.lr = {s.base.train.lr};
  defaults.boundary_mode = {name(s.base.boundary.mode)};
  if (!s.lr_from.empty() && g.get("lr"))
    fail(path, "grid.lr", fmt::format("lr_from = \"{}\" sets every run's learning rate: remove one", s.lr_from));
  s.grid = read_grid(g, "grid.", path, defaults, /*top=*/true);

  if (const auto* pb = g.get("per_budget")) {
    if (!pb->is_table())
      fail(path, "grid.per_budget", "expected tables keyed by budget, e.g. [grid.per_budget.\"1e12\"]");
    for (auto& [k, v] : *pb->as_table()) {
      const std::string text_key(k.str());
      const std::string where = "grid.per_budget.\"" + text_key + "\".";
      const std::string key = where.substr(0, where.size() - 1);
      char* end = nullptr;
      const double b = std::strtod(text_key.c_str(), &end);
      const double* match = nullptr;
      if (!text_key.empty() && *end == '\0' && std::isfinite(b))
        for (const double& c : s.budgets)
          if (std::abs(c - b) <= 1e-9 * c) match = &c;
      if (!match)
        fail(path, key,
             fmt::format("not one of budgets ({:g}); name a budget, quoted, e.g. [grid.per_budget.\"{:g}\"]",
                         fmt::join(s.budgets, ", "), s.budgets.front()));
      if (s.per_budget.count(*match)) fail(path, key, fmt::format("budget {} has two per-budget tables", *match));
      if (!v.is_table()) fail(path, key, "expected a table of grid lists");
      if (!s.lr_from.empty() && v.is_table() && v.as_table()->get("lr"))
        fail(path, where + "lr", fmt::format("lr_from = \"{}\" sets every run's learning rate: remove one", s.lr_from));
      Grid at = read_grid(*v.as_table(), where, path, s.grid, /*top=*/false);
      s.per_budget.emplace(*match, std::move(at));
    }
  }
  return s;
}

SweepSpec load_spec(const std::string& path, const std::vector<std::string>& overrides) {
  const std::string text = read_file(path, "sweep spec");
  if (overrides.empty()) return parse_spec(text, path);
  toml::table root = parse_toml(text, path);
  apply_overrides(root, overrides, path);
  // The spec stored with the sweep is the overridden one, so what re-reads it (status, extend,
  // verify) sees the study that ran; a comment line says where it came from.
  std::ostringstream out;
  out << overrides_comment(path, overrides) << root << "\n";
  try {
    return parse_spec(out.str(), path);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(note_overrides(e.what(), path, overrides));
  }
}

const Grid& grid_at(const SweepSpec& s, double budget) {
  const auto it = s.per_budget.find(budget);
  return it == s.per_budget.end() ? s.grid : it->second;
}

std::string set_budget_steps(const SweepSpec& s, RunConfig& c, double budget) {
  const auto f = flops_per_token(c.model, c.boundary, c.model.arch == Arch::dlcm ? c.boundary.ratio : 1.0);
  const double tokens_per_step = static_cast<double>(c.train.batch_size) * c.model.seq_len;
  const auto steps = static_cast<int64_t>(std::llround(budget / (f.train_flops() * tokens_per_step)));
  if (steps < s.min_steps)
    return fmt::format("{} steps < min_steps {}: model too large for this budget", steps, s.min_steps);
  if (steps > s.max_steps) return fmt::format("{} steps > max_steps {}", steps, s.max_steps);
  c.train.steps = steps;
  c.train.warmup_steps = static_cast<int64_t>(std::llround(s.warmup_fraction * static_cast<double>(steps)));
  c.train.eval_every = std::max<int64_t>(1, (steps + s.evals - 1) / s.evals);
  c.train.checkpoint_every = std::max<int64_t>(1, steps / 4);
  return "";
}

Plan plan(const SweepSpec& s) {
  if (!s.lr_from.empty() && !s.lr_measured)
    fail(s.path, "lr_from", fmt::format("the rate of lr-transfer study \"{}\" was not read from a database", s.lr_from));
  Plan out;
  std::set<std::string> hashes;
  for (double budget : s.budgets) {
    const Grid& g = grid_at(s, budget);
    std::set<std::string> seen;
    size_t in_window = 0, outside = 0;
    double tpp_min = INFINITY, tpp_max = 0;
    for (const auto& pt : points(g)) {
      RunConfig c = s.base;
      const int d = g.d_token[pt[kDToken]];
      const double R = g.ratio[pt[kRatio]];
      c.model.d_token = d;
      if (R == 1) {
        const int L = g.baseline_layers[pt[kBaselineLayers]];
        c.model.arch = Arch::baseline;
        c.model.n_layers = L;
        // Concept-side fields do not exist for a baseline: reset so they do not split its identity.
        c.model.d_concept = ModelConfig{}.d_concept;
        c.model.concept_layers = ModelConfig{}.concept_layers;
        c.model.encoder_layers = ModelConfig{}.encoder_layers;
        c.model.decoder_layers = ModelConfig{}.decoder_layers;
        c.boundary = BoundaryConfig{};
      } else {
        int dc = 0;
        if (g.concept_width_mult.empty()) {
          dc = g.d_concept[pt[kDConcept]];
        } else {
          dc = static_cast<int>(std::llround(g.concept_width_mult[pt[kDConcept]] * d));  // whole: checked on parse
        }
        const int lc = g.concept_layers[pt[kConceptLayers]];
        const int le = g.encoder_layers[pt[kEncoderLayers]];
        const int ld = g.decoder_layers[pt[kDecoderLayers]];
        c.model.arch = Arch::dlcm;
        c.boundary.ratio = R;
        c.model.d_concept = dc;
        c.model.concept_layers = lc;
        c.model.encoder_layers = le;
        c.model.decoder_layers = ld;
        c.boundary.mode = *boundary_mode_of(g.boundary_mode[pt[kBoundaryMode]]);  // checked on parse
      }
      const int64_t seed = g.seed[pt[kSeed]];
      const double lr = g.lr[pt[kLr]];
      c.train.seed = static_cast<uint64_t>(seed);
      c.train.lr = lr;
      // Points that differ only in axes this architecture ignores (a baseline's concept width) are one run.
      if (!seen.insert(to_toml(c)).second) continue;
      const std::string label = run_label(c);
      try {
        validate(c, s.path);
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("{} (grid point {})", e.what(), label));
      }
      if (auto why = set_budget_steps(s, c, budget); !why.empty()) {
        out.dropped.push_back({label, budget, std::move(why)});
        continue;
      }
      PlannedRun r = planned_run(c, label, budget);
      if (g.tokens_per_param) {
        const auto [lo, hi] = *g.tokens_per_param;
        const double tpp = r.D / r.N;
        if (!(tpp >= lo && tpp <= hi)) {
          ++outside;
          tpp_min = std::min(tpp_min, tpp);
          tpp_max = std::max(tpp_max, tpp);
          out.dropped.push_back({label, budget,
                                 fmt::format("D/N = {:.3g} {} tokens_per_param [{}, {}]: model too {} for this budget",
                                             tpp, tpp < lo ? "below" : "above", fmt_num(lo), fmt_num(hi),
                                             tpp < lo ? "large" : "small")});
          continue;
        }
        ++in_window;
      }
      if (!hashes.insert(r.hash).second) {
        out.dropped.push_back({label, budget, "same run as another grid point (identical config)"});
        continue;
      }
      out.runs.push_back(std::move(r));
    }
    if (outside > 0 && in_window == 0)
      fail(s.path, g.tokens_per_param_key,
           fmt::format("keeps no run at budget {:g} (the grid's D/N there spans {:.3g} to {:.3g})", budget, tpp_min,
                       tpp_max));
  }
  if (out.runs.empty()) fail(s.path, "budgets", "no grid point fits any budget");
  return out;
}

}  // namespace dlcm::sweeps
