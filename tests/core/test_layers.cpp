// The folders are the architecture: each library includes only the libraries below it. A test, so
// an include that crosses a forbidden direction fails CI instead of waiting for a reviewer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// Library folder -> what its sources may include besides the standard library and third parties:
// other dlcm libraries by their first path component, "torch" (LibTorch) and "sqlite3".
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"src/core", {"core"}},
    {"src/data", {"core", "data"}},
    {"fitting", {"core", "fitting"}},
    {"storage", {"core", "storage", "sqlite3"}},
    {"src/model", {"core", "model", "torch"}},
    {"src/train", {"core", "data", "model", "storage", "train", "torch"}},
    {"sweeps", {"core", "data", "fitting", "storage", "sweeps"}},
    {"reports", {"core", "fitting", "storage", "sweeps", "reports"}},
};

// What an include line names, as a layer: "torch" for <torch/...> and <ATen/...>, "sqlite3" for
// <sqlite3.h>, the first component of a quoted dlcm path, or "" for anything else.
std::string layer_of(const std::string& target) {
  static const std::set<std::string> dlcm{"core", "data", "fitting", "storage", "model", "train",
                                          "sweeps", "reports", "cli"};
  if (target.starts_with("torch/") || target.starts_with("ATen/") || target.starts_with("c10/")) return "torch";
  if (target == "sqlite3.h") return "sqlite3";
  const auto slash = target.find('/');
  if (slash == std::string::npos) return "";
  const std::string first = target.substr(0, slash);
  return dlcm.count(first) ? first : "";
}

std::vector<std::string> violations() {
  static const std::regex include(R"(^\s*#\s*include\s*[<"]([^>"]+)[>"])");
  std::vector<std::string> out;
  for (const auto& [dir, allowed] : kAllowed)
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(DLCM_SOURCE_DIR) / dir)) {
      const auto ext = entry.path().extension();
      if (ext != ".cpp" && ext != ".hpp" && ext != ".h") continue;
      std::ifstream in(entry.path());
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        std::smatch m;
        if (!std::regex_search(line, m, include)) continue;
        const std::string layer = layer_of(m[1]);
        if (!layer.empty() && !allowed.count(layer))
          out.push_back(fs::relative(entry.path(), DLCM_SOURCE_DIR).string() + ":" + std::to_string(n) + " includes " +
                        m[1].str());
      }
    }
  return out;
}

TEST(Layers, NoLibraryIncludesOneAboveItOrOutsideItsAllowedSet) {
  const auto v = violations();
  std::string all;
  for (const auto& s : v) all += s + "\n";
  EXPECT_TRUE(v.empty()) << all;
}

TEST(Layers, TheRuleSeesLibTorchSqliteAndDlcmPaths) {
  EXPECT_EQ(layer_of("torch/torch.h"), "torch");
  EXPECT_EQ(layer_of("ATen/Parallel.h"), "torch");
  EXPECT_EQ(layer_of("sqlite3.h"), "sqlite3");
  EXPECT_EQ(layer_of("storage/central.hpp"), "storage");
  EXPECT_EQ(layer_of("fmt/format.h"), "");
  EXPECT_EQ(layer_of("vector"), "");
}

}  // namespace
