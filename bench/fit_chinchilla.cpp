// C++ side of bench/fit_chinchilla.sh.
//   dlcm_fit_bench table OUT.csv [SEED]   write the 240-run table (Hoffmann's law, 1.5% noise)
//   dlcm_fit_bench fit TABLE.csv THREADS   time the 4500-start Chinchilla fit; one JSON line
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include <sys/resource.h>

#include "fitting/csv.hpp"
#include "fitting/fit.hpp"

using namespace dlcm::fitting;

namespace {

// 12 isoFLOP budgets from 1e18 to 1e22 FLOPs, 20 model sizes over 1.5 decades each.
int write_table(const std::string& path, std::uint64_t seed) {
  const ChinchillaParams truth{1.69, 406.4, 410.7, 0.34, 0.28};
  std::mt19937_64 rng(seed);
  auto gaussian = [&] {
    const double u1 = (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  };
  std::ofstream out(path);
  out << "N,D,C,loss\n";
  for (int b = 0; b < 12; ++b) {
    const double C = std::pow(10.0, 18 + 4.0 * b / 11);
    const double centre = std::log10(chinchilla_compute_optimal(truth, C).N);
    for (int k = 0; k < 20; ++k) {
      const double N = std::pow(10.0, centre - 0.75 + 1.5 * k / 19);
      const double D = C / (6 * N);
      const double loss = chinchilla_loss(truth, N, D) * std::exp(0.015 * gaussian());
      out << fmt::format("{:.6g},{:.6g},{:.6g},{:.9g}\n", N, D, C, loss);
    }
  }
  return out ? 0 : 1;
}

// Process CPU time, all threads: unlike wall time, barely moved by other work on a shared machine.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int time_fit(const std::string& path, int threads) {
  const auto obs = read_observations_csv(path);
  FitOptions opt;
  opt.threads = threads;
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  const Fit fit = fit_law(Law::chinchilla, obs, opt);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  const auto p = natural_params(fit.model);
  fmt::print(
      "{{\"seconds\": {:.6f}, \"cpu_seconds\": {:.6f}, \"objective\": {:.17g}, \"starts\": {}, "
      "\"converged_starts\": {}, \"bounded_starts\": {}, \"threads\": {}, \"params\": [{:.17g}]}}\n",
      seconds, cpu, fit.objective, fit.outcomes.size(), fit.converged_starts(),
      std::count_if(fit.outcomes.begin(), fit.outcomes.end(), [](const StartOutcome& s) { return s.bounded; }),
      threads, fmt::join(p, ", "));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "table" && argc >= 3) return write_table(argv[2], argc > 3 ? std::stoull(argv[3]) : 1);
  if (mode == "fit" && argc >= 4) return time_fit(argv[2], std::stoi(argv[3]));
  std::fprintf(stderr, "usage: dlcm_fit_bench table OUT.csv [SEED] | fit TABLE.csv THREADS\n");
  return 2;
}
