// The stored words of run statuses and attempt ends, and dlcm train's exit codes: existing
// databases, run directories and Slurm scripts hold exactly these, so none may change.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/status.hpp"

namespace dlcm::storage {
namespace {

// Every value of E in declaration order, its word, and the word read back.
template <class E>
std::vector<std::string> round_trip(int n) {
  std::vector<std::string> words;
  for (int i = 0; i < n; ++i) {
    const auto e = static_cast<E>(i);
    words.push_back(to_string(e));
    EXPECT_EQ(from_string<E>(words.back()), e) << words.back();
  }
  return words;
}

TEST(Status, EachWordIsTheStoredOneAndReadsBack) {
  EXPECT_EQ(round_trip<RunStatus>(7), (std::vector<std::string>{"pending", "submitted", "queued", "running",
                                                                  "completed", "diverged", "failed"}));
  EXPECT_EQ(round_trip<ResultStatus>(3), (std::vector<std::string>{"completed", "diverged", "interrupted"}));
  EXPECT_EQ(round_trip<AttemptEnd>(7), (std::vector<std::string>{"completed", "diverged", "interrupted", "failed",
                                                                   "hung", "orphaned", "busy"}));
  EXPECT_FALSE(from_string<RunStatus>("interrupted"));  // a trainer's word, never a run's status
  EXPECT_FALSE(from_string<ResultStatus>("Completed"));
  EXPECT_FALSE(from_string<AttemptEnd>(""));
}

TEST(Status, OnlyCompletedAndDivergedAreFinal) {
  for (const char* w : {"completed", "diverged"}) EXPECT_TRUE(is_final(w)) << w;
  for (const char* w : {"", "pending", "submitted", "queued", "running", "failed", "interrupted", "missing"})
    EXPECT_FALSE(is_final(w)) << w;
}

TEST(Status, TrainExitCodesAreTheDocumentedOnes) {
  EXPECT_EQ(code(TrainExit::diverged), 3);
  EXPECT_EQ(code(TrainExit::interrupted), 4);
  EXPECT_EQ(code(TrainExit::busy), 5);
}

}  // namespace
}  // namespace dlcm::storage
