#include "reports/extend.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "fitting/identification.hpp"
#include "fitting/isoflop.hpp"
#include "fitting/quadratic.hpp"
#include "fitting/uncertainty.hpp"
#include "reports/recommend.hpp"
#include "sweeps/spec.hpp"

namespace dlcm::reports {
namespace {

namespace fs = std::filesystem;

struct Member {
  const storage::RunRow* row = nullptr;
  RunConfig cfg;
  fitting::Observation obs;
};

// The budget's parabola of loss in log N (fitting/quadratic, as fit_isoflop fits each budget).
struct Parabola {
  bool ok = false;
  double N_opt = 0, curvature = 0;
  std::string error;
};
Parabola budget_parabola(const std::vector<fitting::Observation>& obs) {
  std::vector<double> u, loss;
  for (const auto& o : obs) {
    u.push_back(std::log(o.N));
    loss.push_back(o.loss);
  }
  const auto q = fitting::fit_quadratic(u, loss);
  Parabola p;
  p.curvature = q.a;
  if (!(q.a > 0)) {
    p.error = fmt::format("parabola curvature {:.3g}", q.a);
    return p;
  }
  p.ok = true;
  p.N_opt = std::exp(q.vertex);
  return p;
}

// Largest head count <= h that divides d with an even head size and a multiple of kv (when set).
int heads_for(int d, int h, int kv) {
  for (int k = h; k >= 1; --k)
    if (d % k == 0 && (d / k) % 2 == 0 && (kv <= 0 || k % kv == 0)) return k;
  return 0;
}

// The config at token width d and (DLCM) concept width dc, head counts reduced where a width needs
// it; nullopt when no head count fits.
std::optional<RunConfig> with_widths(const RunConfig& base, int d, int dc) {
  RunConfig c = base;
  auto& m = c.model;
  const int h = heads_for(d, m.n_heads_token, m.n_kv_heads_token);
  if (h == 0) return std::nullopt;
  if (m.arch == Arch::dlcm) {
    if (dc < 2) return std::nullopt;
    const int hc = heads_for(dc, m.n_heads_concept, m.n_kv_heads_concept);
    if (hc == 0) return std::nullopt;
    m.d_concept = dc;
    m.n_heads_concept = hc;
  }
  m.d_token = d;
  m.n_heads_token = h;
  return c;
}

// The config at width d, d_concept scaled by the same factor (rounded to even).
std::optional<RunConfig> at_width(const RunConfig& base, int d) {
  const int dc = 2 * static_cast<int>(std::lround(static_cast<double>(base.model.d_concept) * d / base.model.d_token / 2));
  return with_widths(base, d, dc);
}

// The template's label with its widths replaced: the first "d<int>" token, and for DLCM the first
// "c<int>..." token's number (the planner's "dlcm d64 c96x2 ..." and "baseline d64 L2 ..." forms).
std::string relabel(const std::string& label, const RunConfig& from, const RunConfig& to) {
  std::istringstream in(label);
  std::vector<std::string> tok;
  for (std::string t; in >> t;) tok.push_back(t);
  bool d_done = false, c_done = from.model.arch != Arch::dlcm;
  auto digits = [](const std::string& t, size_t i) {
    size_t j = i;
    while (j < t.size() && std::isdigit(static_cast<unsigned char>(t[j]))) ++j;
    return j;
  };
  for (auto& t : tok) {
    if (!d_done && t.size() > 1 && t[0] == 'd' && digits(t, 1) == t.size() &&
        std::stoi(t.substr(1)) == from.model.d_token) {
      t = fmt::format("d{}", to.model.d_token);
      d_done = true;
    } else if (!c_done && t.size() > 1 && t[0] == 'c' && digits(t, 1) > 1) {
      t = fmt::format("c{}{}", to.model.d_concept, t.substr(digits(t, 1)));
      c_done = true;
    }
  }
  std::string out;
  for (const auto& t : tok) out += (out.empty() ? "" : " ") + t;
  if (!d_done) out += fmt::format(" d{}", to.model.d_token);
  if (!c_done) out += fmt::format(" c{}", to.model.d_concept);
  if (to.model.n_heads_token != from.model.n_heads_token) out += fmt::format(" h{}", to.model.n_heads_token);
  if (to.model.arch == Arch::dlcm && to.model.n_heads_concept != from.model.n_heads_concept)
    out += fmt::format(" hc{}", to.model.n_heads_concept);
  return out;
}

// The run `cfg` stands for at `budget` (steps from the budget as the planner derives them), or
// nullopt with `reason` set when the budget or the config rules it out.
std::optional<ExtendProposal> make_proposal(const sweeps::SweepSpec& spec, RunConfig cfg, const std::string& label,
                                            double budget, std::string& reason) {
  if (auto why = sweeps::set_budget_steps(spec, cfg, budget); !why.empty()) {
    reason = why;
    return std::nullopt;
  }
  try {
    validate(cfg, "sweep extend");
  } catch (const std::exception& e) {
    reason = e.what();
    return std::nullopt;
  }
  const auto r = sweeps::planned_run(cfg, label, budget);
  ExtendProposal p;
  p.hash = r.hash;
  p.label = r.label;
  p.budget = budget;
  p.N = r.N;
  p.P = r.P;
  p.R = r.R;
  p.D = r.D;
  p.C = r.C;
  p.flops_per_token = r.flops_per_token;
  p.steps = r.steps;
  p.cfg = r.cfg;
  return p;
}

// Decides the budget's check; fills side and reason when not bracketed.
BudgetCheck check_budget(const std::string& family, double budget, const std::vector<Member>& ms) {
  BudgetCheck c;
  c.family = family;
  c.budget = budget;
  c.n_runs = ms.size();
  std::set<double> sizes;
  std::vector<fitting::Observation> obs;
  const Member* best = nullptr;
  for (const auto& m : ms) {
    sizes.insert(m.obs.N);
    obs.push_back(m.obs);
    if (!best || m.obs.loss < best->obs.loss) best = &m;
  }
  c.n_sizes = sizes.size();
  c.N_min = *sizes.begin();
  c.N_max = *sizes.rbegin();
  // Where the best run sits says which side is missing when the parabola cannot.
  auto side_of_best = [&] {
    if (sizes.size() == 1) return std::string("both");
    if (best->obs.N == c.N_min) return std::string("small");
    if (best->obs.N == c.N_max) return std::string("large");
    return std::string("both");
  };
  if (ms.size() < 3 || sizes.size() < 3) {
    c.reason = fmt::format("{} runs at {} distinct sizes: a parabola needs 3", ms.size(), sizes.size());
    c.side = side_of_best();
    return c;
  }
  const auto p = budget_parabola(obs);
  if (!p.ok) {
    c.reason = fmt::format("loss against log N has no minimum ({})", p.error);
    c.side = side_of_best();
    return c;
  }
  c.N_opt = p.N_opt;
  if (p.N_opt < c.N_min) {
    c.reason = fmt::format("minimum at N = {:.3g}, below the runs' range [{:.3g}, {:.3g}]", p.N_opt, c.N_min, c.N_max);
    c.side = "small";
  } else if (p.N_opt > c.N_max) {
    c.reason = fmt::format("minimum at N = {:.3g}, above the runs' range [{:.3g}, {:.3g}]", p.N_opt, c.N_min, c.N_max);
    c.side = "large";
  } else {
    c.bracketed = true;
  }
  return c;
}


// The law's least-pinned parameters: the unidentified ones, else the one whose interval is widest
// against its rule.
PinTargets pin_targets(const Study& study, const ExtendOptions& opt) {
  const auto obs = law_runs(study);
  const auto fit = fitting::fit_law(fitting::Law::dlcm, obs, opt.fit);
  double c_max = 0;
  for (const auto& o : obs) c_max = std::max(c_max, o.budget);
  fitting::BootstrapOptions boot;
  boot.replicates = opt.bootstrap;
  boot.seed = opt.seed;
  boot.level = 0.9;  // recommend's level
  const auto ident = fitting::identify(fit, fitting::bootstrap_fit(fit, obs, opt.fit, boot, c_max), obs);
  PinTargets t;
  for (const auto& p : ident)
    if (!p.identified) {
      t.params.push_back(p.name);
      t.why += fmt::format("{}{}: {}", t.why.empty() ? "" : "; ", p.name, p.why);
    }
  t.unidentified = !t.params.empty();
  if (t.unidentified) return t;
  const fitting::ParamIdentification* widest = nullptr;
  for (const auto& p : ident)
    if (std::isfinite(p.spread) && (!widest || p.spread > widest->spread)) widest = &p;
  if (widest) {
    t.params.push_back(widest->name);
    t.why = fmt::format("every parameter is identified; {}'s interval is the widest ({:.2f} of its limit)",
                        widest->name, widest->spread);
  }
  return t;
}

// What a law parameter's term reads, so what a run must move to pin it.
enum class Move { backbone, ratio, token, data, scale };
Move move_for(const std::string& param) {
  if (param == "A_con" || param == "delta2" || param == "t_con") return Move::backbone;
  if (param == "gamma") return Move::ratio;
  if (param == "A_tok" || param == "delta1" || param == "t_tok") return Move::token;
  if (param == "A_data" || param == "alpha" || param == "t_data") return Move::data;
  return Move::scale;  // E0: where the loss flattens
}
std::string_view move_name(Move m) {
  switch (m) {
    case Move::backbone: return "the backbone's width";
    case Move::ratio: return "the compression ratio";
    case Move::token: return "the token width";
    case Move::data: return "the tokens (the same model at another budget)";
    case Move::scale: return "a larger budget";
  }
  return "";
}

// The template moved as `m` asks: (config, budget) pairs.
std::vector<std::pair<RunConfig, double>> moved(const RunConfig& tpl, double budget, Move m) {
  std::vector<std::pair<RunConfig, double>> out;
  const auto& t = tpl.model;
  auto even = [](double x) { return 2 * static_cast<int>(std::lround(x / 2)); };
  switch (m) {
    case Move::backbone:
      for (double f : {0.5, 2.0})
        if (auto c = with_widths(tpl, t.d_token, even(t.d_concept * f))) out.emplace_back(*c, budget);
      break;
    case Move::ratio:
      for (double f : {0.5, 2.0}) {
        RunConfig c = tpl;
        c.boundary.ratio = tpl.boundary.ratio * f;
        if (c.boundary.ratio >= 1.5) out.emplace_back(c, budget);
      }
      break;
    case Move::token:
      for (double f : {2.0 / 3, 1.5})
        if (auto c = with_widths(tpl, even(t.d_token * f), t.d_concept)) out.emplace_back(*c, budget);
      break;
    case Move::data:
      out.emplace_back(tpl, budget / 3);
      out.emplace_back(tpl, budget * 3);
      break;
    case Move::scale:
      out.emplace_back(tpl, budget * 3);
      break;
  }
  return out;
}

// Runs that would pin `targets`, from the best DLCM run of the largest budget; one already in the
// sweep (or proposed) becomes its next unused seed.
void propose_pins(Extension& ext, const sweeps::SweepSpec& spec, const Study& study, const PinTargets& targets,
                  std::set<std::string>& known) {
  const fitting::Observation* best = nullptr;
  std::string best_hash;
  for (const auto& [hash, o] : study.by_hash)
    if (o.P > 0 && (!best || o.budget > best->budget || (o.budget == best->budget && o.loss < best->loss))) {
      best = &o;
      best_hash = hash;
    }
  if (!best) {
    ext.notes.push_back("no completed DLCM run to move: nothing to pin the law with");
    return;
  }
  const auto row = std::find_if(study.runs.begin(), study.runs.end(), [&](const auto& r) { return r.hash == best_hash; });
  const RunConfig tpl = parse_run_config(row->config, fmt::format("config of run {}", row->hash), "", false);
  std::vector<Move> moves;
  std::map<Move, std::vector<std::string>> pins;
  for (const auto& p : targets.params) {
    const Move m = move_for(p);
    if (!pins.count(m)) moves.push_back(m);
    pins[m].push_back(p);
  }
  for (const Move m : moves) {
    for (auto [cfg, budget] : moved(tpl, best->budget, m)) {
      std::optional<ExtendProposal> p;
      std::string reason;
      for (int k = 0; k < 16; ++k, ++cfg.train.seed) {  // the next seed when this run exists
        p = make_proposal(spec, cfg, sweeps::run_label(cfg), budget, reason);
        if (!p || !known.count(p->hash)) break;
      }
      if (!p || known.count(p->hash)) {
        ext.notes.push_back(fmt::format("pinning {} by {}: \"{}\" at budget {:.3g} cannot run ({})",
                                        fmt::join(pins[m], ", "), move_name(m), sweeps::run_label(cfg), budget,
                                        reason.empty() ? "16 seeds already in the sweep" : reason));
        continue;
      }
      known.insert(p->hash);
      p->family = p->cfg.model.arch == Arch::dlcm ? fmt::format("dlcm R{:g}", p->cfg.boundary.ratio) : "baseline";
      p->side = "pin";
      p->from_label = row->label;
      p->why = fmt::format("pins {}: moves {}", fmt::join(pins[m], ", "), move_name(m));
      ext.proposals.push_back(std::move(*p));
    }
  }
}

}  // namespace

Extension plan_extension(storage::Database& db, const std::string& sweep, const ExtendOptions& opt) {
  const Study study = load_study(db, sweep);
  Extension ext;
  ext.sweep = sweep;
  ext.spec_text = storage::sweep_spec(db, sweep);
  sweeps::SweepSpec spec;
  try {
    spec = sweeps::parse_spec(ext.spec_text, fmt::format("{}: stored spec of sweep \"{}\"", db.path(), sweep));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("sweep extend needs the sweep's stored spec to plan steps: {}", e.what()));
  }
  ext.runs_dir = spec.runs_dir;
  // The runs directory the sweep's runs were registered under (their parent), else the spec's.
  for (const auto& r : study.runs)
    if (!r.run_dir.empty()) {
      ext.runs_dir = fs::path(r.run_dir).parent_path().string();
      break;
    }

  std::set<std::string> known;
  for (const auto& r : study.runs) known.insert(r.hash);
  // family -> budget -> completed runs
  std::map<std::string, std::map<double, std::vector<Member>>> fam;
  std::vector<std::string> order;
  for (const auto& r : study.runs) {
    const auto it = study.by_hash.find(r.hash);
    if (it == study.by_hash.end()) continue;  // not completed (or no finite loss)
    Member m;
    m.row = &r;
    m.cfg = parse_run_config(r.config, fmt::format("{}: config of run {}", db.path(), r.hash), "", false);
    m.obs = it->second;
    const std::string f =
        m.cfg.model.arch == Arch::dlcm ? fmt::format("dlcm R{:g}", m.cfg.boundary.ratio) : std::string("baseline");
    if (!fam.count(f)) order.push_back(f);
    fam[f][r.budget].push_back(std::move(m));
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return (a == "baseline") != (b == "baseline") ? a == "baseline" : a < b;
  });

  std::map<std::string, bool> curve;
  bool dlcm_curve = false;
  for (const auto& f : order) {
    std::vector<fitting::Observation> all;
    for (const auto& [_, ms] : fam[f])
      for (const auto& m : ms) all.push_back(m.obs);
    curve[f] = fitting::isoflop_family(all);
    dlcm_curve |= f != "baseline" && curve[f];
  }
  for (const auto& f : order) {
    if (f != "baseline" && !curve[f] && dlcm_curve) {
      ext.notes.push_back(fmt::format("{} is a probe (one size at every budget), not an isoFLOP curve: "
                                      "not extended",
                                      f));
      continue;
    }
    for (auto& [budget, ms] : fam[f]) {
      BudgetCheck c = check_budget(f, budget, ms);
      ext.checks.push_back(c);
      if (c.bracketed) continue;
      // Mean log-spacing of the existing sizes (a factor 2 with a single size).
      const double step = c.n_sizes > 1 ? std::log(c.N_max / c.N_min) / static_cast<double>(c.n_sizes - 1) : std::log(2.0);
      for (const std::string side : {"small", "large"}) {
        if (c.side != side && c.side != "both") continue;
        const bool small = side == "small";
        // The template: the run at the extreme size (the best of them when several share it).
        const Member* tpl = nullptr;
        for (const auto& m : ms) {
          const double n = m.obs.N;
          if (!tpl || (small ? n < tpl->obs.N : n > tpl->obs.N) || (n == tpl->obs.N && m.obs.loss < tpl->obs.loss))
            tpl = &m;
        }
        double edge = small ? c.N_min : c.N_max;
        const int d0 = tpl->cfg.model.d_token;
        for (int j = 1; j <= opt.per_side; ++j) {
          const double target = (small ? c.N_min : c.N_max) * std::exp((small ? -1.0 : 1.0) * j * step);
          std::optional<ExtendProposal> pick;
          double pick_err = INFINITY;
          std::string last_reason;
          for (int d = 2; d <= 16 * std::max(d0, 8); d += 2) {
            auto cfg = at_width(tpl->cfg, d);
            if (!cfg) continue;
            auto r = make_proposal(spec, *cfg, relabel(tpl->row->label, tpl->cfg, *cfg), budget, last_reason);
            if (!r) continue;
            // Strictly beyond the range and the previous new size (by at least a third of a step).
            const double margin = std::exp(step / 3);
            if (small ? !(r->N * margin <= edge) : !(r->N >= edge * margin)) continue;
            if (known.count(r->hash)) continue;
            // Keeping the template's head counts is worth ~15% in N (a width that needs fewer heads
            // changes the head size as well as the width).
            const bool same_heads = cfg->model.n_heads_token == tpl->cfg.model.n_heads_token &&
                                    cfg->model.n_heads_concept == tpl->cfg.model.n_heads_concept;
            const double err = std::abs(std::log(r->N / target)) + (same_heads ? 0 : 0.15);
            if (err < pick_err) {
              pick_err = err;
              r->family = f;
              r->side = side;
              r->from_label = tpl->row->label;
              r->why = fmt::format("{} (target N {:.3g}, {} side)", c.reason, target, side);
              pick = std::move(r);
            }
          }
          if (!pick) {
            ext.notes.push_back(fmt::format(
                "{} at budget {:.3g}: no width of \"{}\" gives a new size on the {} side{}", f, budget,
                tpl->row->label, side, last_reason.empty() ? "" : " (e.g. " + last_reason + ")"));
            break;
          }
          edge = pick->N;
          known.insert(pick->hash);
          ext.proposals.push_back(std::move(*pick));
        }
      }
    }
  }
  if (opt.pin) {
    if (study.dlcm.empty()) {
      ext.notes.push_back("no completed DLCM run: the compression-aware law cannot be fitted, nothing to pin");
    } else {
      ext.pin = pin_targets(study, opt);
      propose_pins(ext, spec, study, *ext.pin, known);
    }
  }
  return ext;
}

std::size_t apply_extension(storage::Database& db, const Extension& ext) {
  std::set<std::string> before;
  for (const auto& r : storage::sweep_runs(db, ext.sweep)) before.insert(r.hash);
  std::vector<storage::RunPlanRow> rows;
  std::size_t added = 0;
  for (const auto& p : ext.proposals) {
    rows.push_back({p.hash, p.label, to_toml(p.cfg), (fs::path(ext.runs_dir) / p.hash).string(), name(p.cfg.model.arch),
                    p.budget, p.N, p.P, p.R, p.D, p.C, p.flops_per_token, p.steps});
    added += before.count(p.hash) ? 0 : 1;
  }
  if (!rows.empty()) storage::register_sweep(db, ext.sweep, ext.spec_text, rows, "extend");
  return added;
}

nlohmann::json to_json(const Extension& ext) {
  using nlohmann::json;
  json checks = json::array(), props = json::array();
  for (const auto& c : ext.checks)
    checks.push_back({{"family", c.family}, {"budget", c.budget}, {"runs", c.n_runs}, {"sizes", c.n_sizes},
                      {"N_min", c.N_min}, {"N_max", c.N_max},
                      {"N_opt", c.N_opt > 0 ? json(c.N_opt) : json(nullptr)}, {"bracketed", c.bracketed},
                      {"missing_side", c.side}, {"reason", c.reason}});
  for (const auto& p : ext.proposals)
    props.push_back({{"family", p.family}, {"budget", p.budget}, {"side", p.side}, {"label", p.label},
                     {"hash", p.hash}, {"from", p.from_label}, {"N", p.N}, {"P", p.P}, {"R", p.R}, {"D", p.D},
                     {"tokens_per_param", p.D / p.N}, {"C", p.C}, {"steps", p.steps}, {"why", p.why}});
  json out = {{"sweep", ext.sweep}, {"runs_dir", ext.runs_dir}, {"checks", checks}, {"proposals", props},
              {"notes", ext.notes}};
  if (ext.pin)
    out["pin"] = {{"params", ext.pin->params}, {"unidentified", ext.pin->unidentified}, {"why", ext.pin->why}};
  return out;
}

}  // namespace dlcm::reports
