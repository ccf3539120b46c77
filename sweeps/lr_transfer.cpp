#include "sweeps/lr_transfer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

#include "core/toml_read.hpp"

#include "core/files.hpp"
#include "core/flops.hpp"
#include "storage/status.hpp"

namespace dlcm::sweeps {
namespace {

using nlohmann::json;

// lr-transfer specs word a bad number in a list one way, whether it is no number or not finite.
constexpr ListRules kRules{.not_number = "expected a list of finite numbers", .not_finite = "expected a list of finite numbers"};

bool same_point(const TransferPoint& a, const fitting::TransferResult& r) {
  return a.parametrisation == r.parametrisation && a.axis == r.axis && a.width_token == r.width_token &&
         a.width_concept == r.width_concept;
}

}  // namespace

LrTransferSpec parse_lr_transfer_spec(const std::string& text, const std::string& path) {
  const toml::table root = parse_toml(text, path);
  static const std::set<std::string> known = {"name", "runs_dir", "lrs", "token_widths", "concept_widths", "axes",
                                              "parametrisations", "steps", "seeds", "warmup_fraction",
                                              "max_attempts", "rate", "base"};
  check_keys(root, known, path);
  LrTransferSpec s;
  s.path = path;
  s.text = text;
  read_scalar(root, "name", s.name, path);
  if (s.name.empty()) fail(path, "name", "required: a non-empty study name");
  if (read_scalar(root, "rate", s.rate, path) && s.rate != "all" && s.rate != "token" && s.rate != "concept" &&
      s.rate != "other")
    fail(path, "rate", fmt::format("unknown rate \"{}\" (expected all, token, concept, other)", s.rate));
  read_scalar(root, "runs_dir", s.runs_dir, path);
  if (s.runs_dir.empty()) s.runs_dir = "runs/" + s.name;
  if (const auto* n = root.get("steps")) {
    if (!n->is_integer() || *n->value<int64_t>() < 1) fail(path, "steps", "expected a positive integer");
    s.steps = *n->value<int64_t>();
  }
  if (const auto* n = root.get("max_attempts")) {
    if (!n->is_integer() || *n->value<int64_t>() < 1) fail(path, "max_attempts", "expected a positive integer");
    s.max_attempts = static_cast<int>(*n->value<int64_t>());
  }
  if (const auto* n = root.get("warmup_fraction")) {
    if (!n->is_number() || !(*n->value<double>() >= 0 && *n->value<double>() < 1))
      fail(path, "warmup_fraction", "expected a number in [0, 1)");
    s.warmup_fraction = *n->value<double>();
  }
  std::ostringstream base_text;
  if (const auto* base = read_table(root, "base", path)) base_text << *base;
  s.base = parse_run_config(base_text.str(), path, "base.", /*check=*/false);

  s.lrs = read_list<double>(root, "lrs", path, "", {}, kRules);
  for (double lr : s.lrs)
    if (!(lr > 0)) fail(path, "lrs", "learning rates must be positive");
  std::sort(s.lrs.begin(), s.lrs.end());
  if (s.lrs.size() < 3) fail(path, "lrs", "at least three learning rates are needed for a parabola");
  s.seeds = read_list<int64_t>(root, "seeds", path, "", {static_cast<int64_t>(s.base.train.seed)});
  for (auto seed : s.seeds)
    if (seed < 0) fail(path, "seeds", "seeds must be non-negative");
  s.axes = read_list<std::string>(root, "axes", path, "", {"token", "concept", "both"});
  for (const auto& a : s.axes)
    if (a != "token" && a != "concept" && a != "both")
      fail(path, "axes", fmt::format("unknown axis \"{}\" (expected token, concept, both)", a));
  const auto has = [&](const char* axis) { return std::find(s.axes.begin(), s.axes.end(), axis) != s.axes.end(); };
  const auto& m = s.base.model;
  // A width axis the study scales must be given; the other stays at the base's width.
  const auto widths = [&](const char* key, bool scaled, int base) {
    return read_list<int>(root, key, path, "", scaled ? std::vector<int>{} : std::vector<int>{base});
  };
  s.token_widths = widths("token_widths", has("token") || has("both"), m.d_token);
  s.concept_widths = widths("concept_widths", has("concept") || has("both"), m.d_concept);
  for (int w : s.token_widths)
    if (w < 1) fail(path, "token_widths", "widths must be positive");
  for (int w : s.concept_widths)
    if (w < 1) fail(path, "concept_widths", "widths must be positive");
  if (has("both") && s.token_widths.size() != s.concept_widths.size())
    fail(path, "concept_widths", "axis \"both\" pairs token_widths with concept_widths: they need the same length");
  for (const auto& p : read_list<std::string>(root, "parametrisations", path, "", {"mup", "standard"})) {
    if (p != "mup" && p != "standard")
      fail(path, "parametrisations", fmt::format("unknown parametrisation \"{}\" (expected mup, standard)", p));
    s.parametrisations.push_back(p == "mup" ? Parametrisation::mup : Parametrisation::standard);
  }
  return s;
}

LrTransferSpec load_lr_transfer_spec(const std::string& path) {
  return parse_lr_transfer_spec(read_file(path, "lr-transfer spec"), path);
}

TransferPlan plan_lr_transfer(const LrTransferSpec& s) {
  TransferPlan out;
  out.sweep.name = s.name;
  out.sweep.path = s.path;
  out.sweep.text = s.text;
  out.sweep.runs_dir = s.runs_dir;
  out.sweep.max_attempts = s.max_attempts;
  out.sweep.base = s.base;
  const int tok_base = s.base.model.d_token_base, con_base = s.base.model.d_concept_base;
  std::set<std::string> hashes;
  for (const auto p : s.parametrisations)
    for (const auto& axis : s.axes) {
      std::vector<std::pair<int, int>> widths;
      if (axis == "token")
        for (int w : s.token_widths) widths.emplace_back(w, con_base);
      else if (axis == "concept")
        for (int w : s.concept_widths) widths.emplace_back(tok_base, w);
      else
        for (size_t i = 0; i < s.token_widths.size(); ++i) widths.emplace_back(s.token_widths[i], s.concept_widths[i]);
      for (const auto& [wt, wc] : widths)
        for (double lr : s.lrs)
          for (int64_t seed : s.seeds) {
            RunConfig c = s.base;
            c.model.parametrisation = p;
            c.model.d_token = wt;
            c.model.d_concept = wc;
            if (s.rate == "all") {  // one rate for every group: the base's per-group overrides go
              c.train.lr = lr;
              c.train.lr_token = c.train.lr_concept = c.train.lr_other = std::nullopt;
            } else {
              (s.rate == "token" ? c.train.lr_token : s.rate == "concept" ? c.train.lr_concept : c.train.lr_other) = lr;
            }
            c.train.seed = static_cast<uint64_t>(seed);
            c.train.steps = s.steps;
            c.train.warmup_steps = static_cast<int64_t>(std::llround(s.warmup_fraction * static_cast<double>(s.steps)));
            c.train.eval_every = s.steps;
            c.train.checkpoint_every = std::max<int64_t>(1, s.steps / 2);
            const std::string label = fmt::format("{} d{} c{} {}{:g} s{}", name(p), wt, wc,
                                                  s.rate == "all" ? "lr" : "lr_" + s.rate, lr, seed);
            try {
              validate(c, s.path);
            } catch (const std::exception& e) {
              throw std::runtime_error(fmt::format("{} (grid point {} {})", e.what(), axis, label));
            }
            TransferPoint tp{p, axis, wt, wc, lr, seed, config_hash(c)};
            out.points.push_back(tp);
            if (!hashes.insert(tp.hash).second) continue;  // the base widths appear on every axis
            PlannedRun r = planned_run(c, label, 0);
            r.budget = r.C;  // no budget was asked: the run's own compute
            out.plan.runs.push_back(std::move(r));
          }
    }
  return out;
}

fitting::TransferCurves lr_transfer_curves(const LrTransferSpec& spec, const TransferPlan& plan,
                                           const std::vector<storage::RunRow>& rows) {
  fitting::TransferCurves out;
  out.name = spec.name;
  out.rate = spec.rate;
  out.d_token_base = spec.base.model.d_token_base;
  out.d_concept_base = spec.base.model.d_concept_base;
  std::map<std::string, const storage::RunRow*> by_hash;
  for (const auto& r : rows) by_hash[r.hash] = &r;
  for (const auto& pt : plan.points) {
    if (std::none_of(out.curves.begin(), out.curves.end(), [&](const auto& r) { return same_point(pt, r); })) {
      fitting::TransferResult r;
      r.parametrisation = pt.parametrisation;
      r.axis = pt.axis;
      r.width_token = pt.width_token;
      r.width_concept = pt.width_concept;
      r.lrs = spec.lrs;
      out.curves.push_back(r);
    }
  }
  const std::string completed = to_string(storage::RunStatus::completed);
  const std::string diverged = to_string(storage::RunStatus::diverged);
  for (auto& r : out.curves) {
    for (double lr : r.lrs) {
      double sum = 0;
      int n = 0;
      std::string note;
      for (const auto& pt : plan.points) {
        if (!same_point(pt, r) || pt.lr != lr) continue;
        const auto row = by_hash.find(pt.hash);
        const std::string status = row == by_hash.end() ? "missing" : row->second->status;
        if (status == completed && row->second->final_val_loss) {
          sum += *row->second->final_val_loss;
          n += 1;
        } else if (note.empty()) {
          note = fmt::format("lr {:g} seed {}: {}", lr, pt.seed, status == diverged ? status : "not finished (" + status + ")");
        }
      }
      if (note.empty() && n > 0) {
        r.losses.push_back(sum / n);
      } else {
        r.losses.push_back(std::nullopt);
        r.notes.push_back(note);
      }
    }
  }
  return out;
}

void resolve_lr_from(SweepSpec& spec, storage::Database& db) {
  if (spec.lr_from.empty()) return;
  const auto bad = [&](const std::string& why) { fail(spec.path, "lr_from", why); };
  const auto study = storage::latest_mup_study(db, "lr-transfer", spec.lr_from);
  if (!study)
    bad(fmt::format("no lr-transfer study \"{}\" in {}: run `dlcm mup lr-transfer SPEC --db {}` with that name first",
                    spec.lr_from, db.path(), db.path()));
  fitting::TransferAnalysis a;
  try {
    a = fitting::transfer_analysis_from_json(study->result);
  } catch (const std::exception& e) {
    bad(fmt::format("study \"{}\" does not read as an lr-transfer study: {}", spec.lr_from, e.what()));
  }
  const auto& m = spec.base.model;
  if (m.parametrisation != Parametrisation::mup)
    bad("a measured μP base rate needs base.model.parametrisation = \"mup\"");
  if (a.rate != "all")
    bad(fmt::format("study \"{}\" did not sweep every group's rate (rate = \"all\")", spec.lr_from));
  if (a.d_token_base != m.d_token_base || a.d_concept_base != m.d_concept_base)
    bad(fmt::format("study \"{}\" measured at base widths {}/{}, the sweep's base.model is {}/{}", spec.lr_from,
                    a.d_token_base, a.d_concept_base, m.d_token_base, m.d_concept_base));
  if (!a.best_base_lr_mup)
    bad(fmt::format("study \"{}\" found no μP optimum at the base widths", spec.lr_from));
  if (a.base_method_mup == "grid-edge")
    bad(fmt::format("study \"{}\": the best μP rate is at the edge of its grid; widen `lrs`", spec.lr_from));
  const double v = std::stod(fmt::format("{:.3g}", *a.best_base_lr_mup));
  spec.lr_measured = v;
  spec.grid.lr = {v};
  for (auto& [_, g] : spec.per_budget) g.lr = {v};
}

}  // namespace dlcm::sweeps
