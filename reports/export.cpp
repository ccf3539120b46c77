#include "reports/export.hpp"

#include <optional>

#include "core/config.hpp"
#include "reports/recommend.hpp"

namespace dlcm::reports {
namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

const std::vector<std::string> kExportColumns = {
    "sweep", "hash", "label", "status", "arch", "budget", "d_token", "d_concept", "n_layers", "encoder_layers",
    "concept_layers", "decoder_layers", "seed", "lr", "N", "N_total", "P", "R", "R_target", "realised_ratio",
    "train_ratio", "n_eff", "D", "C", "C_planned", "steps", "steps_done", "epochs", "final_train_loss",
    "final_val_loss", "loss", "val_bpb", "boundary_mode", "inference_flops_per_token"};

nlohmann::json export_row(const storage::RunRow& r) {
  const RunConfig c = parse_run_config(r.config, "database run " + r.hash);
  using json = nlohmann::json;  // sorted keys, as `export` has always written them
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  const bool dlcm = c.model.arch == Arch::dlcm;
  const auto a = reports::account_run(r, c);
  return {{"sweep", r.sweep},
          {"hash", r.hash},
          {"label", r.label},
          {"status", r.status},
          {"arch", name(c.model.arch)},
          {"budget", r.budget},
          {"d_token", c.model.d_token},
          {"d_concept", dlcm ? json(c.model.d_concept) : json(nullptr)},
          {"n_layers", dlcm ? json(nullptr) : json(c.model.n_layers)},
          {"encoder_layers", dlcm ? json(c.model.encoder_layers) : json(nullptr)},
          {"concept_layers", dlcm ? json(c.model.concept_layers) : json(nullptr)},
          {"decoder_layers", dlcm ? json(c.model.decoder_layers) : json(nullptr)},
          {"seed", c.train.seed},
          {"lr", c.train.lr},
          {"N", a.N},
          {"N_total", a.N_total},
          {"P", a.P},
          {"R", r.realised_ratio ? *r.realised_ratio : r.R},
          {"R_target", r.R},
          {"realised_ratio", opt(r.realised_ratio)},
          {"train_ratio", opt(r.train_ratio)},
          {"n_eff", a.n_eff},
          {"D", a.D},
          {"C", a.C},
          {"C_planned", r.C},
          {"steps", r.steps},
          {"steps_done", r.steps_done},
          {"epochs", opt(r.epochs)},
          {"final_train_loss", opt(r.final_train_loss)},
          {"final_val_loss", opt(r.final_val_loss)},
          {"loss", opt(r.final_val_loss)},
          {"val_bpb", opt(r.val_bpb)},
          {"boundary_mode", dlcm ? json(name(c.boundary.mode)) : json(nullptr)},
          {"inference_flops_per_token", inference_flops_per_token(r, c)}};
}

std::string export_runs(const std::vector<storage::RunRow>& rows, const std::string& format) {
  std::string text;
  if (format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows) out.push_back(export_row(r));
    return out.dump(2) + "\n";
  }
  for (const auto& r : rows) {
    const nlohmann::json j = export_row(r);
    if (text.empty()) {
      for (size_t i = 0; i < kExportColumns.size(); ++i) text += (i ? "," : "") + kExportColumns[i];
      text += "\n";
    }
    for (size_t i = 0; i < kExportColumns.size(); ++i) {
      const auto& v = j[kExportColumns[i]];
      const std::string cell = v.is_null() ? "" : v.is_string() ? v.get<std::string>() : v.dump();
      text += (i ? "," : "") + csv_field(cell);
    }
    text += "\n";
  }
  return text;
}

}  // namespace dlcm::reports
