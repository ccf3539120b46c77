#pragma once
// Whether a fitted law's parameters are pinned by the runs (issue "identification is measured"):
// a parameter on a bound, or one whose bootstrap interval spans a flat direction, is not an
// estimate, and nothing derived from it (an optimum, a recommendation) is an answer.
#include <cmath>
#include <string>
#include <vector>

#include "fitting/fit.hpp"
#include "fitting/uncertainty.hpp"

namespace dlcm::fitting {

// The rules, in natural units over the bootstrap's percentile interval:
// - an exponent (alpha, beta, delta1, delta2) is identified when the fit is not on its bound and
//   the interval excludes 0 and is narrower than kMaxExponentWidth;
// - gamma (either sign) when its interval is narrower than kMaxExponentWidth;
// - the irreducible loss (E, E0) when high/low <= kMaxIrreducibleSpan: it is what the law
//   extrapolates to, so a factor of 1.5 is already a different answer;
// - an amplitude or offset when high/low <= kMaxAmplitudeSpan: amplitudes trade against their
//   exponents (A moves by an order of magnitude while alpha moves by 0.1), so only a span of
//   decades means the term itself is not pinned.
inline constexpr double kMaxExponentWidth = 0.5;
inline constexpr double kMaxIrreducibleSpan = 1.5;
inline constexpr double kMaxAmplitudeSpan = 1e3;

struct ParamIdentification {
  std::string name;
  bool identified = false;
  std::string why;  // what is wrong, empty when identified
  // The interval against its rule's limit (1: at the limit): width / kMaxExponentWidth for an
  // exponent, log(high/low) / log(limit) for the rest; NaN without an interval. What a study does
  // next when everything is identified: shrink the widest.
  double spread = NAN;
};

// Parameters along a flat direction of the fit: the smallest eigenvalues of the Gauss-Newton
// matrix JᵀJ of the log-loss residuals (columns scaled to unit length, so units do not matter)
// below kFlatEigenvalue, each naming the parameters with a weight above 0.3 in its eigenvector.
// One compression ratio, say, makes A_con and gamma exactly collinear: a ridge a bootstrap from
// a few starts may not walk far enough along to show.
inline constexpr double kFlatEigenvalue = 1e-6;
std::vector<std::string> flat_parameters(const Model& m, std::span<const Observation> obs);

// One entry per parameter of the law (offsets fixed at 0 are left out). Without intervals
// (no bootstrap, or every replicate failed) nothing is identified: it was not measured. `obs`, the
// runs of the fit, adds the flat-direction check.
std::vector<ParamIdentification> identify(const Fit& fit, const Bootstrap& boot,
                                          std::span<const Observation> obs = {});
// The parameters of `report` that are not identified, by name.
std::vector<std::string> unidentified(const std::vector<ParamIdentification>& report);

}  // namespace dlcm::fitting
