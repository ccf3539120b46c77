// Corpus preparation from Debian's packages and token-file validation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "data/corpus.hpp"
#include "test_util.hpp"

using namespace dlcm;
using namespace dlcm::data;
namespace fs = std::filesystem;

namespace {
using dlcm::test::error_of;
using dlcm::test::temp_dir;
}  // namespace

TEST(Corpus, HasEveryDomainSplitByDocumentAndIsReproducible) {
  auto dir = temp_dir("corpus");
  PrepareOptions opt;
  opt.out_dir = (dir / "a").string();
  opt.max_bytes_per_domain = 100000;
  const auto summary = prepare_corpus(opt);
  ASSERT_EQ(summary.size(), 5u);
  for (const auto& s : summary) {
    EXPECT_GT(s.train_docs, 0) << s.domain;
    EXPECT_GT(s.val_docs, 0) << s.domain;
    EXPECT_GE(s.train_bytes + s.val_bytes, 100000 * 0.9) << s.domain;
  }
  DataConfig dc;
  dc.dir = opt.out_dir;
  const auto c = load_corpus(dc, 256);
  EXPECT_TRUE(c.byte_level);
  ASSERT_EQ(c.val_domains.size(), 5u);
  EXPECT_EQ(c.val_domains.back().end, static_cast<int64_t>(c.val.size()));
  // Chinese domains really hold multi-byte UTF-8; English ones hardly any.
  auto high_share = [&](const DomainSpan& s) {
    double high = 0;
    for (int64_t i = s.begin; i < s.end; ++i) high += c.val[i] >= 0x80;
    return high / static_cast<double>(s.end - s.begin);
  };
  EXPECT_EQ(c.val_domains[1].domain, "tech-zh");
  EXPECT_GT(high_share(c.val_domains[1]), 0.1);
  EXPECT_GT(high_share(c.val_domains[3]), 0.5);  // casual-zh: poems and proverbs
  EXPECT_LT(high_share(c.val_domains[0]), 0.05);
  // Same inputs, same bytes.
  opt.out_dir = (dir / "b").string();
  prepare_corpus(opt);
  dc.dir = opt.out_dir;
  const auto c2 = load_corpus(dc, 256);
  EXPECT_EQ(c.train, c2.train);
  EXPECT_EQ(c.val, c2.val);
}

TEST(TokenFile, BadFilesGiveOneLineErrorsNamingTheFile) {
  auto dir = temp_dir("tokens");
  const auto odd = (dir / "odd.bin").string(), empty = (dir / "empty.bin").string(),
             oov = (dir / "oov.bin").string(), good = (dir / "good.bin").string();
  std::ofstream(odd, std::ios::binary) << "abc";
  std::ofstream(empty, std::ios::binary).flush();
  write_token_file(oov, {1, 2, 300, 4});
  write_token_file(good, {1, 2, 3, 4});
  EXPECT_NE(error_of([&] { load_token_file(odd, 256); }).find("odd.bin: odd file size 3 bytes"), std::string::npos);
  EXPECT_NE(error_of([&] { load_token_file(empty, 256); }).find("empty.bin: token file is empty"), std::string::npos);
  EXPECT_NE(error_of([&] { load_token_file(oov, 256); }).find("oov.bin: token 300 at index 2 is out of range"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_token_file((dir / "nope.bin").string(), 256); }).find("nope.bin: token file not found"),
            std::string::npos);
  EXPECT_EQ(load_token_file(good, 256), (std::vector<uint16_t>{1, 2, 3, 4}));
  EXPECT_EQ(load_token_file(oov, 301).size(), 4u);  // in range for a larger vocabulary
}
