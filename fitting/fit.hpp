#pragma once
// Multi-start robust fits of a parametric law (Hoffmann et al. 2022, Approach 3): minimise the SUM
// over runs of Huber_delta on log-space residuals from every start of a grid, keep the best.
// Exponents stay within param_bounds (fitting/laws.hpp).
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fitting/laws.hpp"
#include "fitting/observation.hpp"

namespace dlcm::fitting {

// Stopping rules, all relative to the scale of the objective f or of the parameters: a Huber sum
// with delta = 1e-3 is tiny (~1e-3 on good data), and absolute tolerances of the usual size stop
// such fits far from the optimum.
struct Tolerances {
  int max_iterations = 2000;
  double function = 1e-10;   // |Δf| <= function·f over an iteration
  double gradient = 1e-10;   // max_i |∂f/∂θ_i| <= gradient·f
  double parameter = 1e-10;  // |Δθ| <= parameter·(|θ| + parameter)
};

// Where the local fits start when FitOptions::starts is empty. grid: every start of
// default_starts(law, obs) (Hoffmann's 4500 for chinchilla, 1296 for dlcm). profile: the few starts
// variable projection picks (fitting/profile.hpp), with the grid as fallback where the answer is not
// one the profile can vouch for (fitting/README.md): the grid's optimum, or a lower one, in a
// fraction of its time.
enum class Search { profile, grid };

struct FitOptions {
  double huber_delta = 1e-3;
  bool offsets = true;  // dlcm: fit t_tok, t_con, t_data; false fixes them at 0
  int threads = 0;      // 0: every core
  Tolerances tol;
  std::vector<std::vector<double>> starts;  // fitting space; empty: chosen by `search`
  Search search = Search::profile;
};

enum class Termination { function_tolerance, gradient_tolerance, parameter_tolerance, max_iterations, failed };
std::string_view termination_name(Termination t);
inline bool converged(Termination t) {
  return t != Termination::max_iterations && t != Termination::failed;
}

struct StartOutcome {
  double objective = 0;
  Termination termination = Termination::failed;
  int iterations = 0;
  bool bounded = false;  // BFGS left the exponent range, so this start was re-solved with bounds
};

struct Fit {
  Model model;                        // the best start's end point
  double objective = 0;               // Huber sum there
  std::vector<StartOutcome> outcomes; // one per start, in start order
  std::size_t best = 0;               // index of the start that won
  std::vector<std::string> active_bounds;  // parameters of model on a bound of param_bounds
  int converged_starts() const;
};

// Throws std::invalid_argument on unusable input (no runs, starts of the wrong size).
Fit fit_law(Law law, std::span<const Observation> obs, const FitOptions& opt);

// One local fit from model.theta (updated in place), within param_bounds.
StartOutcome refine(Model& model, std::span<const Observation> obs, const FitOptions& opt);

}  // namespace dlcm::fitting
