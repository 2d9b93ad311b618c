#pragma once

// Reading MySQL/MariaDB tables and queries into the lake's types, for db_import. The mapping
// of every server type is in docs/import.md; keep the two in step.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "connectors/mysql/mysql.h"
#include "engine/engine.h"

namespace sluice::connectors::mysql {

struct ImportOptions {
  std::string object;            // what is read, for messages: "table `shop`.`orders`"
  bool zero_dates_null = false;  // '0000-00-00' and other zero dates: NULL, or fail (default)
  // Read every query in the text protocol (by default a query whose columns are all plain
  // numbers, dates, times and text is a prepared statement, read in the binary protocol).
  bool text_protocol = false;
};

// How to read the columns of one table or query.
struct ImportPlan {
  std::vector<engine::SourceColumn> columns;  // the lake columns, in order
  std::vector<std::string> server_types;      // the server's type of each, e.g. "decimal(12,2)"
  std::string select_list;  // expressions that read them: SELECT <select_list> FROM ...
};

// Works out the lake column of every column of `SELECT * FROM <from_sql>` (from_sql is a quoted
// table name or a parenthesized query with an alias), from the result's metadata, without
// reading rows. `columns`, when not empty, picks and orders the columns by name (as a user
// wrote them); a name that does not exist throws Error(kNotFound) listing the names that do.
// A column whose type has no lossless lake type throws Error(kInvalidInput) naming the object,
// the column and its type, and saying how to read it instead (a query with a CAST).
ImportPlan PlanImport(Connection& conn, const std::string& from_sql,
                      const std::vector<std::string>& columns, const ImportOptions& options);

// Streams the rows of queries whose results have a plan's columns into engine chunks, typed,
// one row at a time off the wire (mysql_use_result): memory does not grow with the result.
// Cancelling the connection's CancelToken aborts a read in progress (Error(kCancelled)).
// The connection must outlive the reader and is busy while a result is open. A reader destroyed
// before its result ended (after an error) shuts the connection's socket down rather than
// reading the rest; the connection then fails every call with Error(kConnection).
class RowReader {
 public:
  RowReader(Connection& conn, ImportPlan plan, ImportOptions options);
  ~RowReader();
  RowReader(const RowReader&) = delete;
  RowReader& operator=(const RowReader&) = delete;

  const ImportPlan& plan() const { return plan_; }
  // Sends `sql`, a SELECT of plan().select_list, and starts streaming its result. Any
  // previous result must have been read to its end.
  void Start(const std::string& sql);
  // Writes the next rows of the result into out from row `offset` on, up to out.capacity();
  // returns the number written, 0 when the result is done. Throws Error(kInvalidInput) for a
  // value the lake type cannot hold (naming object, column and value), Error(kConnection)
  // when the connection is lost.
  size_t Fill(engine::OutputChunk& out, size_t offset);
  uint64_t rows() const { return rows_; }
  // Bytes of values received: their text in the text protocol; in the binary protocol numbers
  // count their binary size, and dates and times their text.
  uint64_t bytes() const { return bytes_; }

 private:
  struct State;
  // Starts sql as a prepared statement, whose result comes in the binary protocol (the server
  // does not turn numbers and dates into text); false when a column's type is not one it reads
  // that way, and the text protocol reads the query instead.
  bool StartBinary(const std::string& sql);
  Connection& conn_;
  ImportPlan plan_;
  ImportOptions options_;
  std::unique_ptr<State> state_;
  uint64_t rows_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace sluice::connectors::mysql
