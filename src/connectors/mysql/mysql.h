#pragma once

// The MySQL/MariaDB connector (MariaDB Connector/C). Only this folder includes its headers.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "pipeline/spec.h"

typedef struct st_mysql MYSQL;

namespace sluice {
class CancelToken;
}

namespace sluice::connectors::mysql {

struct Options {
  std::string host = "127.0.0.1";
  unsigned port = 3306;
  std::string database;
  std::string user;
  std::string password;  // resolved secret; never printed
  std::string ssl_mode =
      "PREFERRED";     // DISABLED | PREFERRED | REQUIRED | VERIFY_CA | VERIFY_IDENTITY
  std::string ssl_ca;  // CA file for VERIFY_CA / VERIFY_IDENTITY
  int connect_timeout_seconds = 10;
  int read_timeout_seconds = 0;  // a read waiting longer for the server fails; 0 = no limit
  std::string name;              // the connection's name in the pipeline, for messages
};

// Reads a connection: block of type mysql, resolving ${env:}/${file:} secrets. Throws
// Error(kInvalidInput) naming the connection and the key on a missing or bad option.
Options OptionsFromConnection(const pipeline::ConnectionSpec& spec, const std::string& base_dir);

using Row = std::vector<std::optional<std::string>>;

// What the server said about the last failed statement, for callers that reword it.
struct ServerError {
  unsigned code = 0;     // e.g. 1062; 2000..2999 are client-side errors
  std::string sqlstate;  // e.g. "23000"
  std::string message;   // the server's text, without sluice's prefix
};

// Collects the bytes of a LOAD DATA LOCAL INFILE stream on the producer thread and hands them
// to the client library in chunks of about 1 MB. Flush() blocks while the library is behind.
class InfileWriter {
 public:
  // Made by Connection::LoadLocal; `stream` is its internal queue.
  explicit InfileWriter(void* stream) : stream_(stream) {}
  std::string& buffer() { return buf_; }
  // Hands the buffer over when it holds at least `min_bytes`. Throws when the load was
  // abandoned (the server refused or dropped the statement).
  void Flush(size_t min_bytes = 1u << 20);

 private:
  std::string buf_;
  void* stream_;
};

struct ImportAccess;

// One MariaDB/MySQL connection in utf8mb4, UTC, strict SQL mode. Not thread-safe, except that
// a CancelToken passed to Open may abort a running statement from another thread. Every call
// throws sluice::Error: kConnection (retryable) when the server cannot be reached or the
// connection was lost, and for deadlocks and lock wait timeouts; kInvalidInput for SQL and
// data the server rejects (with its message); kNotFound for a missing database or table;
// kCancelled after the token fired; kIo otherwise. last_error() has the server's own words.
class Connection {
 public:
  // Connects; the password goes to the client library only, never into a message.
  static std::unique_ptr<Connection> Open(const Options& options, CancelToken* cancel = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a statement without a result; returns the affected rows.
  uint64_t Exec(const std::string& sql);
  // Runs a query and returns every row (text, nullopt for NULL).
  std::vector<Row> Query(const std::string& sql);
  // Runs `load_sql` (a LOAD DATA LOCAL INFILE statement) and streams the bytes that `produce`
  // writes, on a thread of its own, started only when the server asks for the data; no file is
  // involved. An exception from produce fails the statement and is rethrown here. Returns the
  // rows the server took. Throws Error whose last_error().code is LocalInfileRefused() when the
  // server does not allow LOAD DATA LOCAL (before produce runs).
  uint64_t LoadLocal(const std::string& load_sql,
                     const std::function<void(InfileWriter&)>& produce);
  // Warnings of the last statement ("Level Code Message"), at most `max`.
  std::vector<ServerError> Warnings(size_t max = 5);
  unsigned warning_count() const;
  // The rows the last INSERT ... VALUES, REPLACE or LOAD DATA statement read, less those it
  // skipped, from the server's info line ("Records: 3  Deleted: 1  Skipped: 0  Warnings: 0"):
  // unlike the affected rows, a row that replaced another counts once. nullopt without a line.
  std::optional<uint64_t> records_taken() const;
  const ServerError& last_error() const { return last_error_; }
  // "user@host:port/database", for messages.
  std::string Describe() const;
  // e.g. "10.11.6-MariaDB"
  std::string ServerVersion() const;
  uint64_t max_allowed_packet() const { return max_allowed_packet_; }

 private:
  // The import reader (mysql_import.cc) streams results off the client handle itself, row by
  // row, and reports failures through Fail.
  friend struct ImportAccess;
  struct CancelState;
  Connection(MYSQL* conn, Options options);
  [[noreturn]] void Fail(const std::string& what);
  // Fail for the error already in last_error_ (a prepared statement's, say).
  [[noreturn]] void Raise(const std::string& what);

  MYSQL* conn_;
  Options options_;
  std::shared_ptr<CancelState> cancel_state_;
  CancelToken* cancel_ = nullptr;
  int cancel_id_ = -1;
  ServerError last_error_;
  uint64_t max_allowed_packet_ = 16u << 20;
};

// True for the error codes a server or client uses to refuse LOAD DATA LOCAL INFILE
// (MariaDB 1148/4166, MySQL 3948, client 2068).
bool LocalInfileRefused(unsigned code);

// True for errors caused by the data of one row (a value out of range or too long, NULL in a
// NOT NULL column, a duplicate key, a foreign key or CHECK constraint): retrying the same rows
// fails again at the same row.
bool IsRowError(unsigned code);
// ER_TABLEACCESS_DENIED_ERROR: "DELETE command denied to user ... for table ...".
constexpr unsigned kTableAccessDenied = 1142;

// The MySQL column type a lake column becomes, without loss:
//
//   BOOLEAN -> TINYINT(1)            TINYINT/SMALLINT/INTEGER/BIGINT -> the same
//   UTINYINT..UBIGINT -> TINYINT..BIGINT UNSIGNED
//   HUGEINT, UHUGEINT -> DECIMAL(39,0) (the lake stores HUGEINT as DECIMAL(38,0))
//   FLOAT -> FLOAT, DOUBLE -> DOUBLE (NaN and infinity fail: MySQL cannot store them)
//   DECIMAL(p,s) -> DECIMAL(p,s)     DATE -> DATE (years 0001..9999; others fail)
//   TIME -> TIME(6)                  TIMESTAMP, TIMESTAMP_S/_MS -> DATETIME(6)
//   TIMESTAMP WITH TIME ZONE -> DATETIME(6) holding the UTC time
//   VARCHAR -> LONGTEXT (utf8mb4)    BLOB -> LONGBLOB      UUID -> CHAR(36)
//   JSON -> JSON (LONGTEXT with a JSON_VALID check in MariaDB)
//   INTERVAL -> VARCHAR(100) in DuckDB's text form; TIMESTAMP_NS -> VARCHAR(64) (DATETIME has
//   microseconds); LIST, STRUCT, MAP, ENUM and others -> LONGTEXT in DuckDB's text form.
//
// Key columns get indexable types: text VARCHAR(key_chars) CHARACTER SET utf8mb4 in the binary
// collation `bin_collation` (so 'a', 'A' and 'a ' are three keys, as in the lake), BLOB
// VARBINARY(4 * key_chars).
std::string MySqlType(const engine::Column& column, bool key = false, int key_chars = 768,
                      const std::string& bin_collation = "utf8mb4_bin");

// The engine SQL that reads a column for AppendValue: INTERVAL (and other types MySQL has no
// lossless counterpart for) as text, everything else as it is.
std::string SelectExpression(const engine::Column& column);

enum class ValueFormat {
  kLoadData,    // a field of LOAD DATA ... FIELDS TERMINATED BY '\t' ESCAPED BY '\\'
  kSqlLiteral,  // a literal in an INSERT statement (without NO_BACKSLASH_ESCAPES)
};

// Appends one typed value in `format`, exactly: NULL as \N or NULL, DATE/TIME/DATETIME(6) text,
// TIMESTAMP WITH TIME ZONE in UTC, DECIMAL and HUGEINT digits, floats in their shortest exact
// form, UUID as 36 characters, BLOB bytes as they are (or X'..'). Throws
// Error(kInvalidInput) for a value MySQL cannot store (NaN, infinity, a year outside 1..9999).
void AppendValue(const engine::ColumnData& column, size_t row, ValueFormat format,
                 std::string& out);

// Quotes a name for MySQL: `my``name`.
std::string Ident(std::string_view name);
// A string literal for MySQL with the default sql_mode: 'it\'s'.
std::string Literal(std::string_view s);

}  // namespace sluice::connectors::mysql
