// dlcm data prepare: build the multi-domain byte-level corpus from Debian's text packages.
#include <fmt/format.h>

#include "commands.hpp"
#include "data/corpus.hpp"

namespace dlcm::cli {

void add_data_command(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Corpus preparation");
  data->require_subcommand(1);
  auto* prep = data->add_subcommand("prepare", "Build the multi-domain corpus (train/val split by document)");
  auto opt = std::make_shared<data::PrepareOptions>();
  prep->add_option("--out", opt->out_dir, "Output directory")->required();
  prep->add_option("--max-bytes-per-domain", opt->max_bytes_per_domain, "Cap on each domain's text")
      ->capture_default_str();
  prep->add_option("--val-fraction", opt->val_fraction, "Share of documents held out")->capture_default_str();
  prep->add_option("--root", opt->root, "Filesystem root holding the Debian packages")->capture_default_str();
  prep->callback([opt] {
    const auto summary = data::prepare_corpus(*opt);
    fmt::print("{:<10} {:>10} {:>12} {:>8} {:>10}\n", "domain", "train docs", "train bytes", "val docs", "val bytes");
    for (const auto& s : summary)
      fmt::print("{:<10} {:>10} {:>12} {:>8} {:>10}\n", s.domain, s.train_docs, s.train_bytes, s.val_docs, s.val_bytes);
    fmt::print("corpus written to {}\n", opt->out_dir);
  });
}

}  // namespace dlcm::cli
