// dlcm recommend: the compute-optimal DLCM for a budget (docs/recommend.md "Recommendations").
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "commands.hpp"
#include "reports/recommend.hpp"

namespace dlcm::cli {
namespace {

struct RecommendArgs {
  double budget = 0;
  std::string sweep, db = "dlcm.db", r_choices = "1,2,4,8", r_range;
  int64_t fit_id = -1;
  int bootstrap = 20, threads = 0;
  std::uint64_t seed = 0;
  bool json = false, zero_offsets = false;
};

// "1,2,4,8" or "1:16": positive numbers, the range increasing.
std::vector<double> parse_numbers(const std::string& text, char sep, const std::string& option) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, sep)) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !(v >= 1))
      throw std::runtime_error(fmt::format("{} {}: \"{}\" is not a ratio >= 1", option, text, item));
    out.push_back(v);
  }
  if (out.empty()) throw std::runtime_error(fmt::format("{}: no ratios given", option));
  return out;
}

std::string g(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "-"; }
std::string span(const reports::Span& iv) { return iv ? fmt::format(" [{}, {}]", g(iv->first), g(iv->second)) : ""; }

void print_text(const reports::Recommendation& r) {
  const auto& iv = r.interval;
  fmt::print("recommendation for C = {} FLOPs (sweep {}):\n", g(r.budget), r.sweep);
  // An optimum on a search bound is the law running past the searched range: say so first.
  if (r.status == reports::Answer::unidentified)
    fmt::print("  NO RECOMMENDATION: the runs do not identify the law ({} not pinned; below: not an answer)\n",
               reports::unidentified_names(r));
  else if (r.status != reports::Answer::interior)
    fmt::print("  NO RECOMMENDATION: the law's optimum lies on the search bound {} (below: that bound, not an "
               "answer)\n",
               reports::json(r.bounds_hit).dump());
  fmt::print("  optimum    N {}{}  P {}{}  R {}{}  D {}{}\n", g(r.N), span(iv.N), g(r.P), span(iv.P), g(r.R),
             span(iv.R), g(r.D), span(iv.D));
  fmt::print("  predicted loss {}{}   tokens per parameter {}{}   ({:.0f}% bootstrap interval, {} replicates)\n",
             g(r.predicted_loss), span(iv.predicted_loss), g(r.tokens_per_param), span(iv.tokens_per_param),
             100 * iv.level, iv.replicates);
  const auto& a = r.architecture;
  fmt::print("  architecture: d_token {} ({} heads), encoder {} + decoder {} layers; d_concept {} ({} heads), {} "
             "backbone layers; R {}\n",
             a.d_token, a.n_heads_token, a.encoder_layers, a.decoder_layers, a.d_concept, a.n_heads_concept,
             a.concept_layers, g(a.R));
  fmt::print("    N {}  P {}  FLOPs/token {}  D {}  predicted loss {}{}\n", g(a.N), g(a.P), g(a.flops_per_token),
             g(a.D), g(a.predicted_loss), span(iv.architecture_loss));
  if (const auto& h = r.hyperparameters.mup) {
    fmt::print("  μP: base lr {} ({}), output multiplier {}\n", g(h->base_lr), h->source, g(h->output_mult));
    for (const auto& grp : h->groups)
      fmt::print("    {:<30} lr {:<10} init_std {:<10} eps {:<10} wd {}\n", grp.group, g(grp.lr), g(grp.init_std),
                 g(grp.eps), g(grp.weight_decay));
  } else {
    fmt::print("  μP: {}\n", r.hyperparameters.refused);
  }
  if (r.baseline && r.baseline->unidentified.empty())
    fmt::print("  baseline: N {}  D {}  predicted loss {}; compute multiplier {}{}\n", g(r.baseline->N),
               g(r.baseline->D), g(r.baseline->predicted_loss), g(r.compute_multiplier.value_or(NAN)),
               span(iv.compute_multiplier.value_or(std::nullopt)));
  if (r.recommendation_id) fmt::print("  stored as recommendation {}\n", *r.recommendation_id);
}

void run_recommend(const RecommendArgs& a) {
  if (!std::filesystem::exists(a.db)) throw std::runtime_error(fmt::format("{}: database not found", a.db));
  // Reads through a read-only handle; only the recommendation is written, through its own.
  auto db = storage::open_central_readonly(a.db);
  reports::RecommendRequest req;
  req.sweep = a.sweep;
  if (a.fit_id >= 0) req.fit_id = a.fit_id;
  req.options.budget = a.budget;
  req.options.replicates = a.bootstrap;
  req.options.seed = a.seed;
  if (!a.r_range.empty()) {
    const auto r = parse_numbers(a.r_range, ':', "--r-range");
    if (r.size() != 2 || !(r[1] > r[0])) throw std::runtime_error(fmt::format("--r-range {}: give LO:HI with LO < HI", a.r_range));
    req.options.space.ratio_range = std::pair{r[0], r[1]};
  } else {
    req.options.space.ratios = parse_numbers(a.r_choices, ',', "--r-choices");
  }
  req.fit.offsets = !a.zero_offsets;
  req.fit.threads = a.threads;
  auto store = storage::open_central(a.db);
  const auto r = reports::recommend_and_store(db, store, req);
  for (const auto& w : r.warnings) fmt::print(stderr, "dlcm: warning: {}\n", w);
  if (a.json) fmt::print("{}\n", reports::to_json(r).dump());
  else print_text(r);
}

}  // namespace

void add_recommend_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("recommend", "Compute-optimal DLCM for a FLOPs budget from a sweep's fitted laws");
  auto a = std::make_shared<RecommendArgs>();
  cmd->add_option("--budget", a->budget, "Training compute C in FLOPs")->required()->check(CLI::PositiveNumber);
  auto* sweep = cmd->add_option("--sweep", a->sweep, "Fit the dlcm law to this sweep's runs");
  auto* fit = cmd->add_option("--fit", a->fit_id, "Use this stored dlcm fit (dlcm fit --sweep ... --law dlcm)");
  sweep->excludes(fit);
  cmd->add_option("--db", a->db, "Central database")->capture_default_str();
  auto* choices = cmd->add_option("--r-choices", a->r_choices, "Compression ratios to choose from")->capture_default_str();
  auto* range = cmd->add_option("--r-range", a->r_range, "Search R continuously in LO:HI instead");
  range->excludes(choices);
  cmd->add_option("--bootstrap", a->bootstrap, "Bootstrap replicates, each refitted and re-optimised (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Bootstrap seed")->capture_default_str();
  cmd->add_flag("--zero-offsets", a->zero_offsets, "With --sweep: fit the dlcm law with t_tok = t_con = t_data = 0");
  cmd->add_option("--threads", a->threads, "Threads for the fits (0: every core)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a] { run_recommend(*a); });
}

}  // namespace dlcm::cli
