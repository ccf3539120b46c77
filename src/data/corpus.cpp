#include "data/corpus.hpp"

#include "core/files.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace dlcm::data {

const char* const kDomains[5] = {"tech-en", "tech-zh", "casual-en", "casual-zh", "code"};

namespace {

std::string read_gzip(const fs::path& p) {
  gzFile f = gzopen(p.c_str(), "rb");
  if (!f) throw std::runtime_error(fmt::format("{}: cannot open", p.string()));
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, n);
  gzclose(f);
  if (n < 0) throw std::runtime_error(fmt::format("{}: corrupt gzip stream", p.string()));
  return out;
}

// Paragraph groups of about `target` bytes: the reference manuals have no per-section files.
std::vector<std::string> chunk_paragraphs(const std::string& text, size_t target) {
  std::vector<std::string> docs;
  std::string cur;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find("\n\n", pos);
    end = end == std::string::npos ? text.size() : end + 2;
    cur.append(text, pos, end - pos);
    pos = end;
    if (cur.size() >= target) {
      docs.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) docs.push_back(std::move(cur));
  return docs;
}

// fortune(6) files: entries separated by lines holding a single '%'. Some carry ANSI colours.
std::vector<std::string> split_fortunes(const std::string& text) {
  static const std::regex ansi("\x1b\\[[0-9;]*[A-Za-z]");
  std::vector<std::string> docs;
  std::istringstream in(std::regex_replace(text, ansi, ""));
  std::string line, cur;
  while (std::getline(in, line)) {
    if (line == "%") {
      if (!cur.empty()) docs.push_back(cur);
      cur.clear();
    } else {
      cur += line + "\n";
    }
  }
  if (!cur.empty()) docs.push_back(cur);
  return docs;
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ext) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Documents of one domain, in a fixed order, from the packages DESIGN §7 names.
std::vector<std::string> domain_documents(const std::string& domain, const fs::path& root) {
  std::vector<std::string> docs;
  auto append = [&](std::vector<std::string> more) {
    for (auto& d : more) docs.push_back(std::move(d));
  };
  const fs::path ref = root / "usr/share/debian-reference";
  const fs::path fortunes = root / "usr/share/games/fortunes";
  const std::vector<std::string> zh_fortunes = {"chinese", "tang300", "song100"};
  if (domain == "tech-en") {
    append(chunk_paragraphs(read_gzip(ref / "debian-reference.en.txt.gz"), 4096));
  } else if (domain == "tech-zh") {
    append(chunk_paragraphs(read_gzip(ref / "debian-reference.zh-cn.txt.gz"), 4096));
  } else if (domain == "casual-en" || domain == "casual-zh") {
    const bool zh = domain == "casual-zh";
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(fortunes, ec)) {
      const auto stem = e.path().filename().string();
      if (!e.is_regular_file() || e.path().has_extension()) continue;
      bool is_zh = std::find(zh_fortunes.begin(), zh_fortunes.end(), stem) != zh_fortunes.end();
      if (is_zh == zh) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) append(split_fortunes(read_file(f.string())));
  } else if (domain == "code") {
    // Python's standard library and C headers: present wherever the set-up script has run.
    std::vector<fs::path> files;
    for (auto& dir : {root / "usr/lib/python3.11", root / "usr/include"})
      for (auto& f : sorted_files(dir, dir.filename() == "include" ? ".h" : ".py")) files.push_back(f);
    // Whole files are the documents; very large ones would crowd out the rest under the cap.
    for (auto& f : files)
      if (fs::file_size(f) <= 24 * 1024) docs.push_back(read_file(f.string()));
  }
  return docs;
}

// A stable hash (FNV-1a): the split must not change between machines or library versions.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

void append_doc(std::vector<uint16_t>& out, const std::string& doc) {
  out.push_back(kDocSeparator);
  for (unsigned char c : doc)
    if (c != 0) out.push_back(c);
}

}  // namespace

void write_token_file(const std::string& path, const std::vector<uint16_t>& tokens) {
  write_file_atomic(path, std::string(reinterpret_cast<const char*>(tokens.data()), tokens.size() * sizeof(uint16_t)));
}

std::vector<DomainSummary> prepare_corpus(const PrepareOptions& opt) {
  if (opt.out_dir.empty()) throw std::runtime_error("data prepare: --out is required");
  if (!(opt.val_fraction > 0 && opt.val_fraction < 1))
    throw std::runtime_error("data prepare: --val-fraction must be in (0, 1)");
  std::vector<uint16_t> train, val;
  std::vector<DomainSummary> summary;
  nlohmann::json spans = nlohmann::json::array();
  for (const char* domain : kDomains) {
    auto docs = domain_documents(domain, opt.root);
    if (docs.empty())
      throw std::runtime_error(fmt::format(
          "data prepare: no documents for domain {} under {} (run scripts/setup.sh)", domain, opt.root));
    DomainSummary s{domain};
    const int64_t val_begin = static_cast<int64_t>(val.size());
    // Documents in a fixed shuffled order (stable hash), then every (1/val_fraction)-th one held
    // out: exactly that share of each domain's documents, spread over the whole domain.
    std::stable_sort(docs.begin(), docs.end(),
                     [](const std::string& a, const std::string& b) { return fnv1a(a) < fnv1a(b); });
    int64_t taken = 0, i = 0;
    for (auto& doc : docs) {
      if (taken >= opt.max_bytes_per_domain) break;
      taken += static_cast<int64_t>(doc.size());
      const bool is_val = std::floor((i + 1) * opt.val_fraction) > std::floor(i * opt.val_fraction);
      ++i;
      append_doc(is_val ? val : train, doc);
      (is_val ? s.val_docs : s.train_docs) += 1;
      (is_val ? s.val_bytes : s.train_bytes) += static_cast<int64_t>(doc.size());
    }
    spans.push_back({{"domain", domain}, {"begin", val_begin}, {"end", static_cast<int64_t>(val.size())}});
    summary.push_back(s);
  }
  fs::create_directories(opt.out_dir);
  const fs::path out(opt.out_dir);
  write_token_file((out / "train.bin").string(), train);
  write_token_file((out / "val.bin").string(), val);
  nlohmann::json meta = {{"tokenizer", "bytes"},
                         {"vocab_size", 256},
                         {"doc_separator", kDocSeparator},
                         {"train_tokens", train.size()},
                         {"val_tokens", val.size()},
                         {"val_domains", spans}};
  write_file_atomic((out / "meta.json").string(), meta.dump(2) + "\n");
  return summary;
}

std::vector<uint16_t> load_token_file(const std::string& path, int vocab_size) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw std::runtime_error(fmt::format("{}: token file not found", path));
  const auto bytes = fs::file_size(path, ec);
  if (ec) throw std::runtime_error(fmt::format("{}: cannot read size: {}", path, ec.message()));
  if (bytes == 0) throw std::runtime_error(fmt::format("{}: token file is empty", path));
  if (bytes % 2 != 0)
    throw std::runtime_error(fmt::format(
        "{}: odd file size {} bytes: not a uint16 token file (nanoGPT .bin layout)", path, bytes));
  std::vector<uint16_t> tokens(bytes / 2);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(bytes));
  if (!in) throw std::runtime_error(fmt::format("{}: short read", path));
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] >= vocab_size)
      throw std::runtime_error(fmt::format("{}: token {} at index {} is out of range for vocab_size {}",
                                           path, tokens[i], i, vocab_size));
  return tokens;
}

void require_corpus(const DataConfig& cfg) {
  if (cfg.dir.empty()) return;
  const auto meta = fs::path(cfg.dir) / "meta.json";
  if (fs::exists(meta)) return;
  // The directory as a shell word, so the command can be pasted as it is.
  std::string dir = cfg.dir;
  if (dir.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./+-") != std::string::npos) {
    dir = "'";
    for (char c : cfg.dir) dir += c == '\'' ? std::string("'\\''") : std::string(1, c);
    dir += "'";
  }
  throw std::runtime_error(fmt::format("{}: cannot open corpus description: no corpus prepared in {} (data.dir); "
                                       "run `dlcm data prepare --out {}` to build it",
                                       meta.string(), cfg.dir, dir));
}

Corpus load_corpus(const DataConfig& cfg, int model_vocab_size) {
  Corpus c;
  if (!cfg.dir.empty()) {
    require_corpus(cfg);
    const fs::path dir(cfg.dir);
    const auto meta_path = (dir / "meta.json").string();
    nlohmann::json meta;
    try {
      meta = nlohmann::json::parse(read_file(meta_path, "corpus description"));
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(fmt::format("{}: not a corpus description: {}", meta_path, e.what()));
    }
    c.vocab_size = meta.value("vocab_size", 0);
    c.byte_level = meta.value("tokenizer", "") == "bytes";
    if (c.vocab_size <= 0) throw std::runtime_error(fmt::format("{}: vocab_size missing", meta_path));
    for (auto& s : meta.value("val_domains", nlohmann::json::array()))
      c.val_domains.push_back({s.at("domain"), s.at("begin"), s.at("end")});
    c.train = load_token_file((dir / "train.bin").string(), c.vocab_size);
    c.val = load_token_file((dir / "val.bin").string(), c.vocab_size);
  } else {
    c.vocab_size = cfg.vocab_size;
    // Name the config field too: the file alone does not say which split it was meant to be.
    auto load = [&](const std::string& path, const char* field) {
      try {
        return load_token_file(path, c.vocab_size);
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("{} (data.{})", e.what(), field));
      }
    };
    c.train = load(cfg.train_bin, "train_bin");
    c.val = load(cfg.val_bin, "val_bin");
  }
  if (c.vocab_size > model_vocab_size)
    throw std::runtime_error(fmt::format("data vocab_size {} exceeds model.vocab_size {}", c.vocab_size,
                                         model_vocab_size));
  for (auto& s : c.val_domains)
    if (s.begin < 0 || s.end < s.begin || s.end > static_cast<int64_t>(c.val.size()))
      throw std::runtime_error(fmt::format("{}: val_domains span of {} is out of range", cfg.dir, s.domain));
  return c;
}

}  // namespace dlcm::data
