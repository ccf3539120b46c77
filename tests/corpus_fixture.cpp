#include "corpus_fixture.hpp"

#include <unistd.h>

#include "data/corpus.hpp"

namespace dlcm::test {

std::filesystem::path root_with_corpus(const std::string& name, int64_t bytes_per_domain) {
  const auto root = std::filesystem::temp_directory_path() / ("dlcm-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  data::PrepareOptions opt;
  opt.out_dir = (root / "corpus").string();
  opt.max_bytes_per_domain = bytes_per_domain;
  data::prepare_corpus(opt);
  return root;
}

}  // namespace dlcm::test
