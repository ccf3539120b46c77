#pragma once
// The words a run's state is stored in, and dlcm train's exit codes: one list, so the trainer, the
// launchers, the database and the readers agree. The strings are those of existing databases and
// run directories: never rename one.
#include <optional>
#include <string_view>

namespace dlcm::storage {

// runs.status: where a run stands. queued and running are also Slurm's word for a submitted run,
// which `sweep status` shows and nothing stores.
enum class RunStatus { pending, submitted, queued, running, completed, diverged, failed };

// result.json's "status": the trainer's own word on how its session ended.
enum class ResultStatus { completed, diverged, interrupted };

// attempts.reason: how one try of a run ended.
enum class AttemptEnd { completed, diverged, interrupted, failed, hung, orphaned, busy };

const char* to_string(RunStatus s);
const char* to_string(ResultStatus s);
const char* to_string(AttemptEnd e);
// nullopt for a word that is not one of E's.
template <class E>
std::optional<E> from_string(std::string_view word);
template <>
std::optional<RunStatus> from_string(std::string_view word);
template <>
std::optional<ResultStatus> from_string(std::string_view word);
template <>
std::optional<AttemptEnd> from_string(std::string_view word);

// Whether a stored word is this one: is(row.status, RunStatus::failed).
template <class E>
bool is(std::string_view word, E e) {
  return word == to_string(e);
}

// completed or diverged: the run directory's last word, which nothing overwrites. Takes any of the
// words above ("" too), as stored.
bool is_final(std::string_view status);

// What `dlcm train` exits with (besides 0, completed, and 1, an error), as its launchers read it.
enum class TrainExit : int {
  diverged = 3,
  interrupted = 4,  // checkpointed and stopped (signal, --stop-at-step): the same command resumes it
  busy = 5,         // another trainer holds the run directory: nothing was tried
};
constexpr int code(TrainExit e) { return static_cast<int>(e); }

}  // namespace dlcm::storage
