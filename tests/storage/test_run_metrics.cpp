#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "storage/run_metrics.hpp"
#include "test_util.hpp"

using namespace dlcm::storage;
namespace fs = std::filesystem;

using dlcm::test::temp_dir;

TEST(RunMetrics, RewritingAStepReplacesItsRows) {
  auto dir = temp_dir("metrics");
  auto db = open_run_metrics((dir / "m.sqlite").string());
  write_metrics(db, {{1, "train", "all", "loss", 5.0}, {2, "train", "all", "loss", 4.0}});
  // A resumed run repeats step 2: one row per key survives, with the new value.
  write_metrics(db, {{2, "train", "all", "loss", 3.5}, {2, "val", "code", "loss", 4.5}});
  auto rows = read_metrics(db);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].step, 2);
  EXPECT_EQ(rows[1].split, "train");
  EXPECT_DOUBLE_EQ(rows[1].value, 3.5);
  EXPECT_EQ(rows[2].domain, "code");
  EXPECT_EQ(db.user_version(), 1);
}

TEST(RunMetrics, TextWithQuotesIsStoredAsData) {
  auto dir = temp_dir("quotes");
  auto db = open_run_metrics((dir / "m.sqlite").string());
  const std::string evil = "x'); DROP TABLE metrics; --";
  write_metrics(db, {{1, "val", evil, "loss", 1.0}});
  auto rows = read_metrics(db);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].domain, evil);
}

TEST(RunMetrics, AForeignFileIsRejectedAndLeftAlone) {
  auto dir = temp_dir("foreign");
  const auto path = dir / "notes.sqlite";
  std::ofstream(path) << "these are my notes, not a database\n";
  const auto before = fs::file_size(path);
  try {
    open_run_metrics(path.string());
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("notes.sqlite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fs::file_size(path), before);
}
