#include "reports/extend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "fitting/isoflop.hpp"
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

// fit_isoflop's parabola for one budget. fit_isoflop wants >= 2 budgets for its power law, so the
// budget is given twice (the copy at 1e6 times the compute): both copies fit identically.
struct Parabola {
  bool ok = false;
  double N_opt = 0, curvature = 0;
  std::string error;
};
Parabola budget_parabola(const std::vector<fitting::Observation>& obs) {
  std::vector<fitting::Observation> two = obs;
  for (auto o : obs) {
    o.C = fitting::compute(o) * 1e6;
    o.budget = o.budget * 1e6;
    two.push_back(o);
  }
  fitting::IsoflopOptions opt;
  opt.bracketed = false;
  Parabola p;
  try {
    const auto f = fitting::fit_isoflop(two, opt);
    p.ok = true;
    p.N_opt = f.budgets.front().x_opt;
    p.curvature = f.budgets.front().curvature;
  } catch (const std::exception& e) {
    p.error = e.what();
  }
  return p;
}

// Largest head count <= h that divides d with an even head size and a multiple of kv (when set).
int heads_for(int d, int h, int kv) {
  for (int k = h; k >= 1; --k)
    if (d % k == 0 && (d / k) % 2 == 0 && (kv <= 0 || k % kv == 0)) return k;
  return 0;
}

// The config at width d (DLCM: d_concept scaled by the same factor, rounded to even), heads reduced
// where the width needs it; nullopt when no head count fits.
std::optional<RunConfig> at_width(const RunConfig& base, int d) {
  RunConfig c = base;
  auto& m = c.model;
  const int h = heads_for(d, m.n_heads_token, m.n_kv_heads_token);
  if (h == 0) return std::nullopt;
  if (m.arch == Arch::dlcm) {
    const int dc = 2 * static_cast<int>(std::lround(static_cast<double>(base.model.d_concept) * d / base.model.d_token / 2));
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

}  // namespace

Extension plan_extension(storage::Database& db, const std::string& sweep, int per_side) {
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
        for (int j = 1; j <= per_side; ++j) {
          const double target = (small ? c.N_min : c.N_max) * std::exp((small ? -1.0 : 1.0) * j * step);
          std::optional<ExtendProposal> pick;
          double pick_err = INFINITY;
          std::string last_reason;
          for (int d = 2; d <= 16 * std::max(d0, 8); d += 2) {
            auto cfg = at_width(tpl->cfg, d);
            if (!cfg) continue;
            if (auto why = sweeps::set_budget_steps(spec, *cfg, budget); !why.empty()) {
              last_reason = why;
              continue;
            }
            try {
              validate(*cfg, "sweep extend");
            } catch (const std::exception&) {
              continue;
            }
            const auto r = sweeps::planned_run(*cfg, relabel(tpl->row->label, tpl->cfg, *cfg), budget);
            // Strictly beyond the range and the previous new size (by at least a third of a step).
            const double margin = std::exp(step / 3);
            if (small ? !(r.N * margin <= edge) : !(r.N >= edge * margin)) continue;
            if (known.count(r.hash)) continue;
            // Keeping the template's head counts is worth ~15% in N (a width that needs fewer heads
            // changes the head size as well as the width).
            const bool same_heads = cfg->model.n_heads_token == tpl->cfg.model.n_heads_token &&
                                    cfg->model.n_heads_concept == tpl->cfg.model.n_heads_concept;
            const double err = std::abs(std::log(r.N / target)) + (same_heads ? 0 : 0.15);
            if (err < pick_err) {
              pick_err = err;
              ExtendProposal p;
              p.family = f;
              p.side = side;
              p.from_label = tpl->row->label;
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
              p.why = fmt::format("{} (target N {:.3g}, {} side)", c.reason, target, side);
              pick = std::move(p);
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
  return {{"sweep", ext.sweep}, {"runs_dir", ext.runs_dir}, {"checks", checks}, {"proposals", props},
          {"notes", ext.notes}};
}

}  // namespace dlcm::reports
