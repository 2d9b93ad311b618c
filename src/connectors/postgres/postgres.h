#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "pipeline/spec.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
typedef struct pg_cancel PGcancel;

namespace sluice {
class CancelToken;
}

namespace sluice::connectors::postgres {

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "5432";
  std::string database;
  std::string user;
  std::string password;  // resolved secret; never printed
  std::string sslmode = "prefer";
  std::string sslrootcert;
  int connect_timeout_seconds = 10;
  // A server that stops answering for this long is given up on (TCP keepalives); 0 = the
  // system's default.
  int read_timeout_seconds = 0;
  std::string name;  // the connection's name in the pipeline, for messages
};

// Reads a connection: block of type postgres, resolving ${env:}/${file:} secrets. Throws
// Error(kInvalidInput) naming the connection and the key on a missing or bad option.
Options OptionsFromConnection(const pipeline::ConnectionSpec& spec, const std::string& base_dir);

using Row = std::vector<std::optional<std::string>>;

// Collects rows for binary COPY ... FROM STDIN and sends them in large chunks.
class CopyWriter {
 public:
  void BeginRow(int16_t fields);
  void Null();
  void Field(const void* data, uint32_t n);
  void Int16(int16_t v);
  void Int32(int32_t v);
  void Int64(int64_t v);
  // Flushes when enough bytes are buffered.
  std::string& buffer() { return buf_; }

 private:
  std::string buf_;
};

// One libpq connection. Not thread-safe, except Cancel. Every call throws sluice::Error:
// kConnection (retryable) when the server cannot be reached or went away, kInvalidInput for
// SQL and data the server rejects (with its message, detail and the row for COPY), kCancelled
// after Cancel or the token, kIo otherwise.
//
// Every wait on the server has an end, whatever the server does (a SIGSTOPped server or a host
// that vanished included): the socket is non-blocking and every wait polls in short slices.
// A cancelled statement gets the server's cancel request and kCancelGraceSeconds to end; after
// that the connection is closed (its open transaction is rolled back by the server) and the
// call throws kCancelled. read_timeout (if set) bounds how long the server may stay silent.
class Connection {
 public:
  static constexpr int kCancelGraceSeconds = 2;
  // Connects within options.connect_timeout_seconds. With a token, the connection is cancelled
  // when the token fires (during the connect too), and every statement after that throws
  // kCancelled at once; the token must outlive the connection.
  static std::unique_ptr<Connection> Open(const Options& options, CancelToken* cancel = nullptr);
  ~Connection();

  void Exec(const std::string& sql);
  std::vector<Row> Query(const std::string& sql, const std::vector<std::string>& params = {});
  // Binary COPY ... FROM STDIN in three steps: BeginCopy sends the statement and the format
  // header into writer; SendCopy ships what the writer holds (call it whenever it is large);
  // EndCopy sends the trailer and returns the rows the server took. AbortCopy makes the server
  // roll the COPY back (use it when the data source fails midway).
  void BeginCopy(const std::string& copy_sql, CopyWriter& writer);
  void SendCopy(CopyWriter& writer);
  uint64_t EndCopy(CopyWriter& writer);
  void AbortCopy(const std::string& why) noexcept;
  // COPY ... TO STDOUT in two steps: BeginCopyOut sends the statement; NextCopyOut sets *data
  // to the next CopyData message (in binary format one row, the first one prefixed by the
  // header), valid until the next call on this connection, and returns false once the server
  // has sent everything and reported success. AbortCopyOut stops a COPY that is still sending
  // (cancels it and discards the rest) and never throws: for readers that give up midway.
  void BeginCopyOut(const std::string& copy_sql);
  bool NextCopyOut(std::string_view* data);
  void AbortCopyOut() noexcept;

  // A column of a query's result: its name, type OID and type modifier (-1 when none).
  struct ResultColumn {
    std::string name;
    uint32_t type_oid = 0;
    int type_mod = -1;
  };
  // Runs sql and returns its result's columns; the rows are discarded (use LIMIT 0).
  std::vector<ResultColumn> DescribeResult(const std::string& sql);
  // Asks for the statement running on this connection (or the next one) to stop: it then
  // throws Error(kCancelled), whatever the server answers. Never blocks. Thread-safe: for
  // Ctrl-C and timeouts.
  void Cancel();
  // "user@host:port/database", for messages.
  std::string Describe() const;
  // Server version, e.g. 150004.
  int ServerVersion() const;

  // The fields of the last error the server reported (empty when none).
  struct ServerError {
    std::string sqlstate;
    std::string column;
    std::string constraint;
    std::string detail;
  };
  const ServerError& last_error() const { return last_error_; }

 private:
  Connection(PGconn* conn, Options options);
  [[noreturn]] void Fail(const std::string& what, PGresult* result);
  uint64_t FinishCopy();
  void BeginStatement();
  void FreeCopyOutBuffer();
  bool CancelRequested() const;
  void StartServerCancel();
  void Abandon();
  // Waits until the socket is ready for events; returns the ready events. Throws on cancel
  // (after the grace period), read_timeout or a poll error.
  short Wait(short events);
  // during prefixes a failure's message ("COPY: " names what the connection was doing).
  void Flush(const std::string& during = "");
  PGresult* NextResult(const std::string& during = "");
  void Send(int sent, const std::string& what);
  // Reads every result of the statement; returns the last one (or the COPY one), throws for
  // the first error.
  PGresult* Finish(const std::string& what, bool want_tuples);

  PGconn* conn_;
  // Made up front and shared with the threads that send it: PQcancel on it is thread-safe.
  std::shared_ptr<PGcancel> server_cancel_;
  Options options_;
  ServerError last_error_;
  char* copy_out_buffer_ = nullptr;  // the last NextCopyOut message, owned by libpq's allocator
  // Set by Cancel (any thread), cleared when a statement starts: a failure while it is set is
  // reported as kCancelled. Shared with the token's callback, which may outlive us.
  std::shared_ptr<std::atomic<bool>> cancelled_;
  CancelToken* token_ = nullptr;
  int token_id_ = -1;
  double cancel_sent_at_ = -1;  // when the server's cancel request went out for this statement
  bool broken_ = false;         // the socket was shut down: every call fails
};

// The PostgreSQL type a lake column becomes (docs/load.md has the table). Throws
// Error(kInvalidInput) naming the column for a type with no lossless mapping.
std::string PgType(const engine::Column& column);

// Appends one typed value in PostgreSQL's binary COPY format for the type PgType gives.
void EncodeValue(const engine::ColumnData& column, const std::string& declared_type, size_t row,
                 CopyWriter& out);

// Quotes a name for PostgreSQL: "my ""name""".
std::string Ident(const std::string& name);

}  // namespace sluice::connectors::postgres
