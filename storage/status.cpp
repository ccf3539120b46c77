#include "storage/status.hpp"

#include <array>

namespace dlcm::storage {
namespace {

// Each enum's words, in declaration order.
constexpr std::array kRunStatus{"pending", "submitted", "queued", "running", "completed", "diverged", "failed"};
constexpr std::array kResultStatus{"completed", "diverged", "interrupted"};
constexpr std::array kAttemptEnd{"completed", "diverged", "interrupted", "failed", "hung", "orphaned", "busy"};

template <class E, std::size_t N>
std::optional<E> find(const std::array<const char*, N>& words, std::string_view word) {
  for (std::size_t i = 0; i < N; ++i)
    if (word == words[i]) return static_cast<E>(i);
  return std::nullopt;
}

}  // namespace

const char* to_string(RunStatus s) { return kRunStatus.at(static_cast<std::size_t>(s)); }
const char* to_string(ResultStatus s) { return kResultStatus.at(static_cast<std::size_t>(s)); }
const char* to_string(AttemptEnd e) { return kAttemptEnd.at(static_cast<std::size_t>(e)); }

template <>
std::optional<RunStatus> from_string(std::string_view word) {
  return find<RunStatus>(kRunStatus, word);
}
template <>
std::optional<ResultStatus> from_string(std::string_view word) {
  return find<ResultStatus>(kResultStatus, word);
}
template <>
std::optional<AttemptEnd> from_string(std::string_view word) {
  return find<AttemptEnd>(kAttemptEnd, word);
}

bool is_final(std::string_view status) {
  return status == to_string(RunStatus::completed) || status == to_string(RunStatus::diverged);
}

}  // namespace dlcm::storage
