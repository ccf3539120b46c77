#include "storage/sqlite.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <random>
#include <stdexcept>
#include <thread>

namespace dlcm::storage {

namespace {
[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", what, db ? sqlite3_errmsg(db) : "out of memory"));
}
// Runs a statement that takes the write lock, retrying while another process holds it. The busy
// timeout covers most waits; SQLite returns SQLITE_BUSY without waiting in some WAL cases (a
// reader upgrading, WAL recovery), so many concurrent writers need this loop too.
void exec_retrying_busy(Database& db, const char* sql) {
  using namespace std::chrono;
  const auto deadline = steady_clock::now() + minutes(10);
  std::minstd_rand jitter(static_cast<unsigned>(reinterpret_cast<uintptr_t>(&db) ^ getpid()));
  for (int attempt = 0;; ++attempt) {
    const int rc = sqlite3_exec(db.handle(), sql, nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return;
    const int primary = rc & 0xff;
    if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) || steady_clock::now() > deadline)
      throw std::runtime_error(fmt::format("{}: {}: {}", db.path(), sql, sqlite3_errmsg(db.handle())));
    const int cap = 1 << std::min(attempt, 7);  // 1 .. 128 ms, jittered so writers do not collide again
    std::this_thread::sleep_for(milliseconds(1 + jitter() % cap));
  }
}
}  // namespace

Statement::Statement(sqlite3* db, const std::string& sql) : db_(db) {
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
    fail(db, fmt::format("{}: SQL prepare failed", sqlite3_db_filename(db, "main")));
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int i, const Value& v) {
  int rc = SQLITE_OK;
  if (std::holds_alternative<std::nullptr_t>(v)) rc = sqlite3_bind_null(stmt_, i);
  else if (auto* n = std::get_if<int64_t>(&v)) rc = sqlite3_bind_int64(stmt_, i, *n);
  else if (auto* d = std::get_if<double>(&v)) rc = sqlite3_bind_double(stmt_, i, *d);
  else {
    const auto& s = std::get<std::string>(v);
    rc = sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  if (rc != SQLITE_OK) fail(db_, "SQL bind failed");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, fmt::format("{}: SQL step failed", sqlite3_db_filename(db_, "main")));
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
double Statement::column_double(int i) const { return sqlite3_column_double(stmt_, i); }
bool Statement::column_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
std::string Statement::column_text(int i) const {
  auto* p = sqlite3_column_text(stmt_, i);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, i)) : std::string();
}

Database::Database(const std::string& path, bool create, bool read_only) : path_(path) {
  // Read-only is PRAGMA query_only on a read-write handle: a SQLITE_OPEN_READONLY handle on a WAL
  // database leaves -wal and -shm files behind, as it may not remove them on close.
  const int flags = SQLITE_OPEN_READWRITE | (create && !read_only ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(fmt::format("{}: cannot open database: {}", path, msg));
  }
  sqlite3_busy_timeout(db_, 30000);
  try {
    // Reading the schema rejects a file that is not a database, before anything is written.
    user_version();
    exec(read_only ? "PRAGMA query_only=ON;" : "PRAGMA foreign_keys=ON;");
  } catch (const std::exception&) {
    const std::string why = sqlite3_errmsg(db_);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(fmt::format("{}: not a usable SQLite database ({})", path, why));
  }
}

Database::~Database() { sqlite3_close(db_); }

void Database::enable_wal() {
  exec_retrying_busy(*this, "PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
}

void Database::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error(fmt::format("{}: {}", path_, msg));
  }
}

void Database::exec_rows(const std::string& sql, const std::vector<std::vector<Value>>& rows) {
  WriteTransaction tx(*this);
  Statement st(db_, sql);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) st.bind(static_cast<int>(i + 1), row[i]);
    st.step();
    st.reset();
  }
  tx.commit();
}

int Database::user_version() {
  Statement st(db_, "PRAGMA user_version");
  st.step();
  return static_cast<int>(st.column_int(0));
}

void Database::set_user_version(int v) { exec(fmt::format("PRAGMA user_version = {}", v)); }


WriteTransaction::WriteTransaction(Database& db) : db_(db) { exec_retrying_busy(db_, "BEGIN IMMEDIATE"); }

WriteTransaction::~WriteTransaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void WriteTransaction::commit() {
  exec_retrying_busy(db_, "COMMIT");
  done_ = true;
}

}  // namespace dlcm::storage
