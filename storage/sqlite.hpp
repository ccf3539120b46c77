#pragma once
// A thin RAII layer over SQLite: one connection, prepared statements with bound parameters only.
// Every database dlcm writes goes through here (WAL, busy timeout, BEGIN IMMEDIATE for writes).
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace dlcm::storage {

using Value = std::variant<std::nullptr_t, int64_t, double, std::string>;

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& bind(int index, const Value& v);  // 1-based, as in SQLite
  bool step();                                 // true while a row is available
  void reset();
  int64_t column_int(int i) const;
  double column_double(int i) const;
  std::string column_text(int i) const;
  bool column_null(int i) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  // Opens (creating if asked) with a busy timeout. Throws naming the file. A read-only connection
  // never writes the file (commands that only look: status, export).
  explicit Database(const std::string& path, bool create = true, bool read_only = false);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  Database(Database&& o) noexcept : db_(o.db_), path_(std::move(o.path_)) { o.db_ = nullptr; }

  // WAL with synchronous=NORMAL: called once the file is known to be ours (it rewrites the header).
  void enable_wal();
  void exec(const std::string& sql);
  // Runs `sql` once per row of bound values, in one transaction.
  void exec_rows(const std::string& sql, const std::vector<std::vector<Value>>& rows);
  int user_version();
  void set_user_version(int v);
  sqlite3* handle() { return db_; }
  const std::string& path() const { return path_; }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back if the scope is left by an exception.
class WriteTransaction {
 public:
  explicit WriteTransaction(Database& db);
  ~WriteTransaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace dlcm::storage
