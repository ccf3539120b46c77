#include "core/inspection.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace dlcm {

nlohmann::json to_json(const Inspection& r) {
  return {{"tokens", r.tokens},
          {"boundaries", r.boundaries},
          {"boundary_prob", r.boundary_prob},
          {"next_token_logprob", r.next_token_logprob}};
}

Inspection inspection_from_json(const nlohmann::json& j) {
  Inspection r;
  const auto read = [&](const char* key, auto& into) {
    try {
      j.at(key).get_to(into);
    } catch (const nlohmann::json::exception&) {
      throw std::runtime_error(fmt::format("inspection: {} is missing or not a list of numbers", key));
    }
  };
  read("tokens", r.tokens);
  read("boundaries", r.boundaries);
  read("boundary_prob", r.boundary_prob);
  read("next_token_logprob", r.next_token_logprob);
  return r;
}

}  // namespace dlcm
