#pragma once
// A fresh scratch folder holding a small real corpus (ROOT/corpus), for suites that train.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "data/corpus.hpp"

namespace dlcm::test {

std::filesystem::path root_with_corpus(const std::string& name, int64_t bytes_per_domain = 50000);

}  // namespace dlcm::test
