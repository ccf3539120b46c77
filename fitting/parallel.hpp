#pragma once
// A minimal work queue: fit starts and bootstrap replicates are independent and uneven in cost.
#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace dlcm::fitting {

// 0 means every core.
inline int resolve_threads(int threads) {
  return threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
}

// Calls work(i) for every i in [0, n) on up to `threads` threads. Each thread first calls
// make_worker() once, so it can own scratch state (a Ceres problem) across its items.
// The first exception thrown stops the queue and is rethrown here.
template <typename MakeWorker>
void parallel_for(int n, int threads, MakeWorker make_worker) {
  std::atomic<int> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto drain = [&] {
    try {
      auto work = make_worker();
      for (int i = next++; i < n; i = next++) work(i);
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
      next = n;
    }
  };
  const int t = std::min(resolve_threads(threads), std::max(n, 1));
  std::vector<std::thread> pool;
  for (int k = 1; k < t; ++k) pool.emplace_back(drain);
  drain();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace dlcm::fitting
