// The report's "Loss by position inside a concept" section (reports/positions.hpp): which runs it
// pairs, and what it shows from a given analysis (the CLI computes it; test_positions pins that).
#include <gtest/gtest.h>

#include <algorithm>

#include "reports/positions.hpp"
#include "reports/report.hpp"
#include "study_fixture.hpp"
#include "test_util.hpp"

using namespace dlcm;

namespace {

// Two windows' worth of targets by hand: lengths 1, 2 and one concept longer than max_length = 2.
PositionLoss small_analysis() {
  PositionLoss r;
  r.run_dir = "runs/d";
  r.baseline_run_dir = "runs/b";
  r.seq_len = 8, r.windows = 1, r.max_length = 2, r.concepts = 4;
  r.by_length = {std::vector<PositionCell>(1), std::vector<PositionCell>(2)};
  r.single = r.by_length[0][0] = {1, 3.0, 2.0};
  r.first = r.by_length[1][0] = {2, 2.0, 3.0};
  r.last = r.by_length[1][1] = {2, 1.0, 1.5};
  r.internal = r.longer[1] = {2, 5.0, 4.0};
  r.open = {1, 4.0, 4.0};
  r.all = {8, 15.0, 14.4};
  return r;
}

}  // namespace

// Matched compute: the baseline of the DLCM run's own budget, the best one there.
TEST(PositionSection, PairsTheBestDlcmRunWithTheBestBaselineOfItsBudget) {
  const auto dir = test::temp_dir("positions-report");
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, "study");
  const auto study = reports::load_study(db, "study");
  const auto run = reports::position_run(study);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->label, study.proxy_label);
  EXPECT_EQ(run->arch, "dlcm");
  const auto base = reports::matched_baseline(study, *run);
  ASSERT_TRUE(base);
  EXPECT_EQ(base->arch, "baseline");
  EXPECT_EQ(base->budget, run->budget);
  int rivals = 0;
  for (const auto& r : study.runs)
    if (r.arch == "baseline" && r.budget == run->budget && r.hash != base->hash) {
      ++rivals;
      EXPECT_GT(*r.final_val_loss, *base->final_val_loss) << r.label;
    }
  EXPECT_EQ(rivals, 2);  // the fixture's three baseline sizes per budget
}

TEST(PositionSection, ShowsTheClassesTheLengthsAndTheGapToTheBaseline) {
  reports::PositionAnalysis a;
  a.run_label = "dlcm <d>";
  a.baseline_label = "base & b";
  a.result = small_analysis();
  const auto h = reports::position_section(a);
  EXPECT_NE(h.find("id=positions"), std::string::npos);
  EXPECT_NE(h.find("run “dlcm &lt;d&gt;” on 8 targets (1 windows per domain of 8 tokens"), std::string::npos) << h;
  EXPECT_NE(h.find("realised R = 2"), std::string::npos);
  EXPECT_NE(h.find("run “base &amp; b”"), std::string::npos);
  // class, targets, share %, DLCM, baseline, DLCM − baseline
  EXPECT_NE(h.find("<tr><td>all</td><td>8</td><td>100</td><td>1.875</td><td>1.8</td><td>0.075</td></tr>"),
            std::string::npos) << h;
  EXPECT_NE(h.find("<tr><td>first</td><td>2</td><td>25</td><td>1</td><td>1.5</td><td>-0.5</td></tr>"),
            std::string::npos);
  // By length: L = 2's two positions with their gaps; the longer row's internal mean.
  EXPECT_NE(h.find("<tr><td>2</td><td>2</td><td>1 (-0.5)</td><td>0.5 (-0.25)</td></tr>"), std::string::npos) << h;
  EXPECT_NE(h.find("<td>&gt; 2</td><td>0</td><td>first –</td><td>internal 2.5 (+0.5)</td>"), std::string::npos) << h;
  EXPECT_NE(h.find("Loss by position class"), std::string::npos);
  EXPECT_NE(h.find("<svg"), std::string::npos) << h;  // drawn, with named tics, not a note
  EXPECT_EQ(h.find("not drawn"), std::string::npos);
  EXPECT_EQ(std::count(h.begin(), h.end(), '<') - std::count(h.begin(), h.end(), '>'), 0);
}

TEST(PositionSection, SaysWhyWhenThereIsNoAnalysis) {
  reports::PositionAnalysis a;
  a.note = "the sweep has no completed DLCM run";
  EXPECT_NE(reports::position_section(a).find("Not computed: the sweep has no completed DLCM run"), std::string::npos);
  reports::ReportOptions opt;  // a report given no analysis keeps its other sections
  EXPECT_EQ(opt.positions.note, "none was given");
}
