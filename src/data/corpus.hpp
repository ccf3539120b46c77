#pragma once
// The multi-domain corpus (DESIGN §7): built from Debian's text packages, byte-level tokens,
// documents split train/validation, each tagged with its domain. No LibTorch here.
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace dlcm::data {

// A contiguous run of one domain's documents inside a split's token stream.
struct DomainSpan {
  std::string domain;
  int64_t begin = 0;
  int64_t end = 0;
};

struct Corpus {
  std::vector<uint16_t> train;
  std::vector<uint16_t> val;
  int vocab_size = 0;
  bool byte_level = false;                // tokens are UTF-8 bytes: bits per byte = nats / ln 2
  std::vector<DomainSpan> val_domains;    // empty for a plain token file
};

struct PrepareOptions {
  std::string out_dir;
  int64_t max_bytes_per_domain = 4 << 20;  // ~7.4M training tokens: the demo keeps every run under 4 epochs
  double val_fraction = 0.1;
  std::string root = "/";  // where Debian's packages are installed (tests point it elsewhere)
};

struct DomainSummary {
  std::string domain;
  int64_t train_docs = 0, val_docs = 0, train_bytes = 0, val_bytes = 0;
};

// Document separator: byte 0 never occurs in the text sources.
constexpr uint16_t kDocSeparator = 0;
extern const char* const kDomains[5];

std::vector<DomainSummary> prepare_corpus(const PrepareOptions& opt);

// Loads what the data config points at: a prepared corpus directory or a pair of uint16 token
// files. Throws with the file and the problem (missing, odd size, empty, token out of range).
Corpus load_corpus(const DataConfig& cfg, int model_vocab_size);
// Throws when data.dir names a directory with no prepared corpus, saying what to run (`dlcm data
// prepare --out DIR`): a fresh checkout has none, and nothing is downloaded. Cheap, so launchers
// check before starting any run instead of failing every run.
void require_corpus(const DataConfig& cfg);
std::vector<uint16_t> load_token_file(const std::string& path, int vocab_size);
void write_token_file(const std::string& path, const std::vector<uint16_t>& tokens);

}  // namespace dlcm::data
