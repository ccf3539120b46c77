#include "storage/run_metrics.hpp"

#include <filesystem>

namespace dlcm::storage {

Database open_run_metrics(const std::string& path) {
  Database db(path);
  db.enable_wal();
  if (db.user_version() == 0) {
    db.exec(R"(CREATE TABLE IF NOT EXISTS metrics(
                 step INTEGER NOT NULL, split TEXT NOT NULL, domain TEXT NOT NULL,
                 name TEXT NOT NULL, value REAL,
                 PRIMARY KEY(step, split, domain, name)) WITHOUT ROWID;)");
    db.set_user_version(1);
  }
  return db;
}

void write_metrics(Database& db, const std::vector<MetricRow>& rows) {
  std::vector<std::vector<Value>> values;
  values.reserve(rows.size());
  for (const auto& r : rows) values.push_back({r.step, r.split, r.domain, r.name, r.value});
  db.exec_rows("INSERT OR REPLACE INTO metrics(step, split, domain, name, value) VALUES(?, ?, ?, ?, ?)", values);
}

void drop_metrics_after(Database& db, int64_t step) {
  db.exec_rows("DELETE FROM metrics WHERE step > ?", {{step}});
}

std::vector<MetricRow> read_metrics(Database& db) {
  std::vector<MetricRow> out;
  Statement st(db.handle(), "SELECT step, split, domain, name, value FROM metrics ORDER BY step, split, domain, name");
  while (st.step())
    out.push_back({st.column_int(0), st.column_text(1), st.column_text(2), st.column_text(3), st.column_double(4)});
  return out;
}

std::optional<StepValue> latest_train_loss(const std::string& path) {
  try {
    if (!std::filesystem::exists(path)) return std::nullopt;
    Database m(path, /*create=*/false, /*read_only=*/true);
    Statement st(m.handle(),
                 "SELECT step, value FROM metrics WHERE split = 'train' AND domain = 'all' AND name = 'loss' "
                 "ORDER BY step DESC LIMIT 1");
    if (st.step()) return StepValue{st.column_int(0), st.column_double(1)};
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace dlcm::storage
