#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "engine/exact_parse.h"
#include "schema/column.h"

namespace sluice::engine {

// A result's column: the lake's type (schema/column.h), named in the engine's SQL.
using Column = schema::Column;

// A batch of result rows with every value rendered as text (nullopt is SQL NULL).
// Column-major: cells[c][r].
struct Batch {
  std::vector<Column> columns;
  size_t num_rows = 0;
  std::vector<std::vector<std::optional<std::string>>> cells;
};

// A whole (small) query result.
struct Table {
  std::vector<Column> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // row-major
};

// The kinds of values a typed batch carries; everything else arrives as kOther (text).
enum class TypeId : uint8_t {
  kBoolean,
  kTinyint,
  kSmallint,
  kInteger,
  kBigint,
  kUTinyint,
  kUSmallint,
  kUInteger,
  kUBigint,
  kHugeint,
  kFloat,
  kDouble,
  kDecimal,
  kDate,
  kTime,
  kTimestamp,
  kTimestampTz,
  kInterval,
  kVarchar,
  kBlob,
  kUuid,
  kOther,
};

struct Interval {
  int32_t months = 0;
  int32_t days = 0;
  int64_t micros = 0;
};

// One column of a TypedBatch. Values live in the engine's memory and are valid only during the
// callback that receives the batch.
struct ColumnData {
  TypeId id = TypeId::kOther;
  uint8_t width = 0;           // DECIMAL precision
  uint8_t scale = 0;           // DECIMAL scale
  uint8_t physical_bytes = 0;  // bytes per value in data (DECIMAL: 2, 4, 8 or 16)
  const void* data = nullptr;
  const uint64_t* validity = nullptr;  // null = no NULLs
  std::vector<std::string_view> text;  // kVarchar, kBlob, kOther: one view per row

  bool IsNull(size_t row) const {
    return validity != nullptr && !(validity[row / 64] & (uint64_t{1} << (row % 64)));
  }
  // Signed integers, DATE (days since 1970-01-01), TIME (micros since midnight), TIMESTAMP and
  // TIMESTAMP WITH TIME ZONE (micros since 1970-01-01 UTC), and DECIMAL up to 18 digits
  // (unscaled).
  int64_t GetInt(size_t row) const;
  uint64_t GetUInt(size_t row) const;
  // HUGEINT, DECIMAL of any width (unscaled), UUID (as 128 bits, most significant first).
  __int128 GetInt128(size_t row) const;
  double GetDouble(size_t row) const;
  bool GetBool(size_t row) const { return static_cast<const uint8_t*>(data)[row] != 0; }
  Interval GetInterval(size_t row) const { return static_cast<const Interval*>(data)[row]; }
};

struct TypedBatch {
  std::vector<Column> columns;  // names and SQL types
  std::vector<ColumnData> data;
  size_t num_rows = 0;
};

// A column a RowSource produces, in one of the lake's types (never kOther).
struct SourceColumn {
  std::string name;
  TypeId id = TypeId::kVarchar;
  uint8_t width = 0;  // DECIMAL precision, 1..38
  uint8_t scale = 0;  // DECIMAL scale
};

// The engine's SQL name of a source column's type, e.g. "DECIMAL(12,2)" or "UBIGINT".
std::string SqlTypeName(const SourceColumn& column);

// Where a RowSource writes rows: the engine's vectors for one chunk of rows. Fixed-width values
// go straight into Data(column), an array of capacity() values in the type's physical form:
//   BOOLEAN uint8_t 0/1; TINYINT..BIGINT int8_t..int64_t; UTINYINT..UBIGINT uint8_t..uint64_t;
//   HUGEINT __int128; FLOAT float; DOUBLE double;
//   DECIMAL the unscaled value as int16_t (width <= 4), int32_t (<= 9), int64_t (<= 18) or
//   __int128 (<= 38); DATE int32_t days since 1970-01-01; TIME int64_t microseconds since
//   midnight; TIMESTAMP and TIMESTAMP WITH TIME ZONE int64_t microseconds since 1970-01-01 (UTC
//   for the latter); INTERVAL engine::Interval; UUID __int128 holding the 16 bytes read
//   big-endian (the engine converts it to its own form).
// Every row starts valid; SetNull marks one NULL. VARCHAR and BLOB values go through
// SetString, which copies the bytes.
class OutputChunk {
 public:
  virtual ~OutputChunk() = default;
  virtual size_t capacity() const = 0;
  virtual void* Data(size_t column) = 0;
  virtual void SetNull(size_t column, size_t row) = 0;
  virtual void SetString(size_t column, size_t row, const char* data, size_t size) = 0;
};

// Rows that the engine pulls while it writes them (Session::CopySourceToParquet). Fill runs on
// one engine thread at a time.
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual const std::vector<SourceColumn>& columns() const = 0;
  // Writes up to out.capacity() rows, from row 0; returns how many. 0 means the source is done.
  // Throws sluice::Error, which CopySourceToParquet rethrows unchanged.
  virtual size_t Fill(OutputChunk& out) = 0;
};

struct Progress {
  double fraction = -1;  // 0..1, or -1 when the engine cannot tell
  uint64_t rows_processed = 0;
  // What the engine can say besides, for the progress line (Spark: "stage 1/2, tasks 9/20").
  std::string detail;
};

// One connection to the engine. Not thread-safe, except Interrupt and GetProgress, which
// another thread may call while a statement runs. Every statement throws sluice::Error:
// kInvalidInput for SQL the engine rejects, kCancelled after Interrupt, kIo otherwise.
class Session {
 public:
  virtual ~Session() = default;
  // Runs a statement and discards any result.
  virtual void Execute(const std::string& sql) = 0;
  // Runs a query and returns its whole result; throws when it has more than max_rows rows.
  virtual Table Query(const std::string& sql, size_t max_rows = 1000000) = 0;
  // Runs a query and hands its result to on_batch in batches of about 2048 rows, without
  // holding the whole result in memory.
  virtual void Stream(const std::string& sql,
                      const std::function<void(const Batch&)>& on_batch) = 0;
  // Like Stream, with typed values in the engine's own memory: for sinks that encode values
  // (binary COPY) without going through text.
  virtual void StreamTyped(const std::string& sql,
                           const std::function<void(const TypedBatch&)>& on_batch) = 0;
  // Writes the result of a SELECT into one Parquet file; returns the number of rows written.
  virtual uint64_t CopyToParquet(const std::string& select_sql, const std::string& path) = 0;
  // Writes the result of a SELECT as ORC (part-00000.orc at path, more part files beside it
  // when the engine writes several); returns the number of rows. Only engines that write ORC
  // (Spark) implement it.
  virtual uint64_t CopyToOrc(const std::string& select_sql, const std::string& path) {
    (void)select_sql;
    (void)path;
    throw InvalidInput("this engine cannot write ORC (only spark does): write parquet");
  }
  // Writes every row of source into one Parquet file, streaming: memory stays bounded whatever
  // the number of rows. Returns the number of rows written.
  virtual uint64_t CopySourceToParquet(RowSource& source, const std::string& path) = 0;
  // Returns the columns a SELECT would produce, without running it.
  virtual std::vector<Column> Describe(const std::string& select_sql) = 0;
  // Stops the running statement, which then throws Error(kCancelled). Thread-safe.
  virtual void Interrupt() = 0;
  // Progress of the running statement. Thread-safe.
  virtual Progress GetProgress() = 0;
};

struct EngineOptions {
  std::string memory_limit;    // e.g. "8GB"; empty = engine default (80% of RAM)
  std::string temp_directory;  // spill folder; empty = engine default
  int threads = 0;             // 0 = all cores
};

// A query engine instance. Thread-safe: each thread opens its own Session.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::unique_ptr<Session> Connect() = 0;
  virtual std::string name() const = 0;
  // The engine for a task's log: its name, and where it runs when that is elsewhere.
  virtual std::string Describe() const { return name(); }
  // A folder for files the engine writes for sluice to read back (a remote engine's query
  // results), set per run. Engines that need none ignore it.
  virtual void SetScratchDir(const std::string& dir) {}
  // For CSV columns with a declared type: how to read the column's text exactly, so that a
  // value the declared type cannot hold exactly is refused instead of rounded or truncated
  // (engine/exact_parse.h has the rules). target.read_function(text) gives the value in the
  // declared type, or NULL for a value that does not fit; it is computed once per row even when
  // a filter tests its result. nullopt when the declared type's own reading is exact (VARCHAR,
  // BOOLEAN, ...) or the type is unknown.
  // Thread-safe.
  virtual std::optional<exact::Target> ExactReadType(const std::string& declared_type) {
    return std::nullopt;
  }
};

// The embedded DuckDB engine, in memory. Throws Error(kInvalidInput) for bad options.
std::unique_ptr<Engine> MakeDuckDbEngine(const EngineOptions& options);

}  // namespace sluice::engine
