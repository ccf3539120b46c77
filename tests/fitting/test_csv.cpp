#include <gtest/gtest.h>

#include <sstream>

#include "fitting/csv.hpp"
#include "helpers.hpp"

namespace dlcm::fitting {
namespace {

using test::error_of;

std::vector<Observation> parse(const std::string& text, CsvNeeds needs = {}) {
  std::istringstream in(text);
  return read_observations_csv(in, "runs.csv", needs);
}

TEST(Csv, ReadsNamedColumnsInAnyOrderAndIgnoresOthers) {
  const auto obs = parse("name,loss,D,N\nsmall,3.5,2e9,1e7\n\"big, wide\",2.75,4e10,3e8\n");
  ASSERT_EQ(obs.size(), 2u);
  EXPECT_EQ(obs[0].N, 1e7);
  EXPECT_EQ(obs[0].D, 2e9);
  EXPECT_EQ(obs[0].loss, 3.5);
  EXPECT_EQ(obs[0].line, 2);
  EXPECT_EQ(obs[1].N, 3e8);
  EXPECT_EQ(obs[1].line, 3);
  EXPECT_EQ(compute(obs[1]), 6 * 3e8 * 4e10);  // no C column: 6ND
}

TEST(Csv, ComputeColumnReplacesTokensAsCOver6N) {
  const auto obs = parse("N,C,loss\n1e8,6e18,3.0\n");
  EXPECT_DOUBLE_EQ(obs[0].D, 1e10);
  EXPECT_EQ(compute(obs[0]), 6e18);
}

TEST(Csv, SkipsBlankLinesAndTrimsFields) {
  const auto obs = parse("\n N , D , loss \r\n\n 1e7 , 2e9 , 3.5 \r\n\n");
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_EQ(obs[0].D, 2e9);
  EXPECT_EQ(obs[0].line, 4);
}

TEST(Csv, NonPositiveValueNamesRowLineAndField) {
  EXPECT_EQ(error_of([] { parse("N,D,loss\n1e7,2e9,3\n\n1e8,-5,3\n"); }),
            "runs.csv row 2 (line 4): D = -5 must be positive");
  EXPECT_EQ(error_of([] { parse("N,D,loss\n0,2e9,3\n"); }),
            "runs.csv row 1 (line 2): N = 0 must be positive");
}

TEST(Csv, NonFiniteValueNamesRow) {
  EXPECT_EQ(error_of([] { parse("N,D,loss\n1e7,2e9,nan\n"); }),
            "runs.csv row 1 (line 2): loss = nan is not finite");
  EXPECT_EQ(error_of([] { parse("N,D,loss\n1e7,inf,3\n"); }),
            "runs.csv row 1 (line 2): D = inf is not finite");
}

TEST(Csv, TextOrEmptyFieldIsNotANumber) {
  EXPECT_EQ(error_of([] { parse("N,D,loss\n1e7,2e9x,3\n"); }),
            "runs.csv row 1 (line 2): D = '2e9x' is not a number");
  EXPECT_EQ(error_of([] { parse("N,D,loss\n1e7,,3\n"); }),
            "runs.csv row 1 (line 2): D = '' is not a number");
}

TEST(Csv, WrongFieldCountNamesRow) {
  EXPECT_EQ(error_of([] { parse("N,D,loss\n1e7,2e9\n"); }),
            "runs.csv row 1 (line 2): 2 fields, the header has 3");
}

TEST(Csv, MissingColumnsAreNamed) {
  EXPECT_EQ(error_of([] { parse("N,D\n1,2\n"); }), "runs.csv: header has no column 'loss'");
  EXPECT_EQ(error_of([] { parse("N,loss\n1,2\n"); }),
            "runs.csv: header has no column 'D' (or 'C' to derive it)");
  EXPECT_EQ(error_of([] { parse("N,D,loss,P\n1,2,3,0.5\n", {.P = true, .R = true}); }),
            "runs.csv: header has no column 'R'");
}

TEST(Csv, DlcmColumnsAreReadOnlyWhenNeededAndPMustBeAShare) {
  // Unneeded P and R are not even parsed.
  EXPECT_EQ(parse("N,D,loss,P,R\n1e8,1e10,3,x,y\n").size(), 1u);
  const auto obs = parse("N,D,loss,P,R\n1e8,1e10,3,0.6,4\n", {.P = true, .R = true});
  EXPECT_EQ(obs[0].P, 0.6);
  EXPECT_EQ(obs[0].R, 4);
  EXPECT_EQ(error_of([] { parse("N,D,loss,P,R\n1e8,1e10,3,1,4\n", {.P = true, .R = true}); }),
            "runs.csv row 1 (line 2): P = 1 must be below 1 (it is the backbone's share of N)");
  EXPECT_EQ(error_of([] { parse("N,D,loss,P,R\n1e8,1e10,3,0.5,0\n", {.P = true, .R = true}); }),
            "runs.csv row 1 (line 2): R = 0 must be positive");
  // P = 0 is a baseline where the reader is told the law takes baselines (dlcm), else an error.
  EXPECT_EQ(parse("N,D,loss,P,R\n1e8,1e10,3,0.0,1\n", {.P = true, .R = true, .baselines = true})[0].P, 0.0);
  EXPECT_EQ(error_of([] { parse("N,D,loss,P,R\n1e8,1e10,3,0,1\n", {.P = true, .R = true}); }),
            "runs.csv row 1 (line 2): P = 0 must be positive");
  EXPECT_EQ(error_of([] { parse("N,D,loss,P,R\n1e8,1e10,3,-0.1,1\n", {.P = true, .R = true, .baselines = true}); }),
            "runs.csv row 1 (line 2): P = -0.1 must be non-negative");
}

TEST(Csv, EmptyInputsAreErrors) {
  EXPECT_EQ(error_of([] { parse(""); }), "runs.csv: empty, expected a header row");
  EXPECT_EQ(error_of([] { parse("N,D,loss\n\n"); }), "runs.csv: no data rows");
  EXPECT_EQ(error_of([] { read_observations_csv("/nonexistent/runs.csv"); }),
            "cannot open /nonexistent/runs.csv");
}

}  // namespace
}  // namespace dlcm::fitting
