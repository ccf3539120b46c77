// Every malformed input kept in tests/malformed/ (listed in cases.tsv) goes through the real CLI:
// each must fail with a non-zero exit and one line on stderr naming the file (and the field), and
// leave every file it could touch (the central database, run directories, the inputs) as it was. A
// build without LibTorch tries every case but the trainer's own.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/files.hpp"
#include "storage/central.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;

namespace {

struct Case {
  std::string file, args, field;
};

std::vector<Case> read_cases(const fs::path& manifest) {
  std::vector<Case> out;
  std::ifstream in(manifest);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) cols.push_back(c);
    EXPECT_EQ(cols.size(), 3u) << manifest << ": " << line;
    if (cols.size() == 3) out.push_back({cols[0], cols[1], cols[2]});
  }
  return out;
}

// Every path under the folder (directories too) with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (auto& e : fs::recursive_directory_iterator(root)) {
    const auto rel = fs::relative(e.path(), root).string();
    out[rel] = e.is_directory() ? "<dir>" : dlcm::read_file(e.path().string());
  }
  return out;
}

}  // namespace

TEST(Malformed, EveryCaseFailsWithOneLineNamingFileAndFieldAndChangesNothing) {
  const fs::path src = fs::path(DLCM_SOURCE_DIR) / "tests" / "malformed";
  const auto cases = read_cases(src / "cases.tsv");
  ASSERT_GE(cases.size(), 30u);
  const auto sandbox = dlcm::test::temp_dir("malformed");
  fs::copy(src, sandbox, fs::copy_options::recursive);
  dlcm::storage::open_central((sandbox / "central.db").string());  // a good database to leave alone
  int clean = 0, left_out = 0;
  for (const auto& c : cases) {
    ASSERT_TRUE(fs::exists(sandbox / c.file)) << c.file;
#ifndef DLCM_TRAIN_BIN
    // Without LibTorch, `dlcm train` only says there is no trainer (test_forwarding.cpp).
    if (c.args.starts_with("train ")) {
      left_out += 1;
      continue;
    }
#endif
    const auto before = snapshot(sandbox);
    // stderr only: the error is the whole of what the user sees.
    const auto r = dlcm::test::run_command("cd " + dlcm::test::shell_quote(sandbox.string()) + " && " + DLCM_BIN + " " +
                                           c.args + " 2>&1 >/dev/null");
    const bool failed = r.code != 0 && r.code != -1;
    const bool one_line = !r.out.empty() && r.out.find('\n') == r.out.size() - 1;
    const bool names = r.out.find(c.file) != std::string::npos && r.out.find(c.field) != std::string::npos;
    const bool unchanged = snapshot(sandbox) == before;
    EXPECT_TRUE(failed) << c.args << " exited " << r.code;
    EXPECT_TRUE(one_line) << c.args << ": " << r.out;
    EXPECT_TRUE(names) << c.args << ": expected " << c.file << " and " << c.field << " in: " << r.out;
    EXPECT_TRUE(unchanged) << c.args << " changed files";
    clean += failed && one_line && names && unchanged;
  }
  std::printf("malformed inputs: %zu tried, %d clean one-line errors with nothing changed\n", cases.size() - left_out,
              clean);
  EXPECT_EQ(clean + left_out, static_cast<int>(cases.size()));
  fs::remove_all(sandbox);
}
