#pragma once
// What this machine and binary are: the training FLOP/s it reaches, its BLAS, its build. Plain C++
// interface (the CLI never includes LibTorch).
#include <string>

#include "core/build_info.hpp"
#include "core/config.hpp"

namespace dlcm::train {

// Training FLOP/s this machine achieves on the config's model: a few optimizer steps on random
// tokens after one warm-up step (the sweep planner's wall-time estimate).
double measure_train_flops_per_second(const RunConfig& cfg, int threads, int steps = 2);

// Which BLAS library LibTorch is calling, read from the process's mapped libraries, and for
// OpenBLAS which of its kernels it chose: "... (kernels: Haswell)".
std::string blas_in_use();
// This binary: compiled_build_info() with LibTorch's version, CUDA's availability and blas_in_use().
BuildInfo build_info();

}  // namespace dlcm::train
