// C++ side of bench/fit_chinchilla.sh.
//   dlcm_fit_bench table OUT.csv [SEED]        write the 240-run table (Hoffmann's law, 1.5% noise)
//   dlcm_fit_bench dlcm-table OUT.csv [SEED]   write a 36-run table of the compression-aware law
//   dlcm_fit_bench fit TABLE.csv THREADS [chinchilla|dlcm] [offsets|zero-offsets] [profile|grid]
//                                              time one fit (FitOptions::search); one JSON line
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

// Box-Muller on mt19937_64: the same table on every platform.
double gaussian(std::mt19937_64& rng) {
  const double u1 = (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
  const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

// 12 isoFLOP budgets from 1e18 to 1e22 FLOPs, 20 model sizes over 1.5 decades each.
int write_table(const std::string& path, std::uint64_t seed) {
  const ChinchillaParams truth{1.69, 406.4, 410.7, 0.34, 0.28};
  std::mt19937_64 rng(seed);
  std::ofstream out(path);
  out << "N,D,C,loss\n";
  for (int b = 0; b < 12; ++b) {
    const double C = std::pow(10.0, 18 + 4.0 * b / 11);
    const double centre = std::log10(chinchilla_compute_optimal(truth, C).N);
    for (int k = 0; k < 20; ++k) {
      const double N = std::pow(10.0, centre - 0.75 + 1.5 * k / 19);
      const double D = C / (6 * N);
      const double loss = chinchilla_loss(truth, N, D) * std::exp(0.015 * gaussian(rng));
      out << fmt::format("{:.6g},{:.6g},{:.6g},{:.9g}\n", N, D, C, loss);
    }
  }
  return out ? 0 : 1;
}

// A sweep like the demo's, at 4 budgets from 8e11 to 1.25e13 FLOPs: 3 model sizes (each with its
// backbone share) × 3 compression ratios, D = C/(6N), 1 % noise on the compression-aware law: 36 runs.
int write_dlcm_table(const std::string& path, std::uint64_t seed) {
  const DlcmParams truth{1.5, 50, 2e5, 0.3, 80, 0.2, 1e5, 0.35, 60, 3e5, 0.3};
  std::mt19937_64 rng(seed);
  std::ofstream out(path);
  out << "N,P,R,D,C,budget,loss\n";
  for (double C : {8e11, 2e12, 5e12, 1.25e13})
    for (auto [N, P] : {std::pair{4e5, 0.56}, {1.1e6, 0.82}, {3.8e6, 0.94}})
      for (double R : {2.0, 3.0, 4.0}) {
        const double D = C / (6 * N);
        const double loss = dlcm_loss(truth, N, P, R, D) * std::exp(0.01 * gaussian(rng));
        out << fmt::format("{:.6g},{},{},{:.6g},{:.6g},{:.6g},{:.9g}\n", N, P, R, D, C, C, loss);
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

int time_fit(const std::string& path, int threads, const std::string& law_arg, bool offsets, Search search) {
  const Law law = law_arg == "dlcm" ? Law::dlcm : Law::chinchilla;
  const auto obs = read_observations_csv(path, {.P = law == Law::dlcm, .R = law == Law::dlcm});
  FitOptions opt;
  opt.threads = threads;
  opt.offsets = offsets;
  opt.search = search;
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  const Fit fit = fit_law(law, obs, opt);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  const auto p = natural_params(fit.model);
  long iterations = 0;
  for (const auto& s : fit.outcomes) iterations += s.iterations;
  fmt::print(
      "{{\"seconds\": {:.6f}, \"cpu_seconds\": {:.6f}, \"objective\": {:.17g}, \"starts\": {}, "
      "\"converged_starts\": {}, \"bounded_starts\": {}, \"iterations\": {}, \"threads\": {}, \"search\": \"{}\", "
      "\"params\": [{:.17g}]}}\n",
      seconds, cpu, fit.objective, fit.outcomes.size(), fit.converged_starts(),
      std::count_if(fit.outcomes.begin(), fit.outcomes.end(), [](const StartOutcome& s) { return s.bounded; }),
      iterations, threads, search == Search::grid ? "grid" : "profile", fmt::join(p, ", "));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "table" && argc >= 3) return write_table(argv[2], argc > 3 ? std::stoull(argv[3]) : 1);
  if (mode == "dlcm-table" && argc >= 3) return write_dlcm_table(argv[2], argc > 3 ? std::stoull(argv[3]) : 1);
  if (mode == "fit" && argc >= 4)
    return time_fit(argv[2], std::stoi(argv[3]), argc > 4 ? argv[4] : "chinchilla",
                    !(argc > 5 && std::string(argv[5]) == "zero-offsets"),
                    argc > 6 && std::string(argv[6]) == "grid" ? Search::grid : Search::profile);
  std::fprintf(stderr,
               "usage: dlcm_fit_bench table|dlcm-table OUT.csv [SEED] | fit TABLE.csv THREADS [chinchilla|dlcm] "
               "[offsets|zero-offsets] [profile|grid]\n");
  return 2;
}
