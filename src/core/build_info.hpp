#pragma once
// What a binary is: dlcm's version and commit, the LibTorch it runs on, whether CUDA is there and
// which BLAS library it loaded. `dlcm-train --version` prints it, every run directory records it
// (result.json's `build`), and the report shows it for itself and its runs.
#include <string>

#include <nlohmann/json.hpp>

namespace dlcm {

struct BuildInfo {
  std::string version;   // CMake's project VERSION
  std::string commit;    // `git rev-parse --short HEAD` when the build was configured; "unknown" outside git
  bool dirty = false;    // tracked files differed from that commit then
  std::string torch;     // LibTorch version (TORCH_VERSION)
  bool cuda = false;     // torch::cuda::is_available()
  std::string blas;      // the BLAS library mapped into the process (train::blas_in_use)
};

// The fields fixed at build time (version, commit, dirty); train::build_info() adds the LibTorch ones.
BuildInfo compiled_build_info();

// `dlcm-train --version`: one field per line; a BuildInfo without LibTorch (`dlcm --version`, the
// torch-free binary) shows its version and commit, then the trainer it hands training to.
std::string to_text(const BuildInfo& b);
// One line, for logs and the report: "dlcm 0.1.0 (commit 2109564, dirty), LibTorch 1.13.0, no CUDA, BLAS ...";
// without LibTorch just "dlcm 0.1.0 (commit 2109564, dirty)".
std::string one_line(const BuildInfo& b);
nlohmann::json to_json(const BuildInfo& b);
// Missing fields stay empty (a block written by an older binary).
BuildInfo build_info_from_json(const nlohmann::json& j);

// This build's trainer, dlcm-train: the binary beside the running one (build/src/cli/ or wherever
// both were installed). `dlcm train`, `inspect` and `mup coord-check` exec it; sweeps start it; the
// report and `sweep plan` run it for what needs LibTorch. Throws "this build has no trainer:
// configure with -DDLCM_WITH_TORCH=ON" in a build made without LibTorch.
std::string trainer_exe();

}  // namespace dlcm
