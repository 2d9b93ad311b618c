#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice::engine {

struct Column {
  std::string name;
  std::string type;  // the engine's SQL type name, e.g. BIGINT, DECIMAL(12,2), VARCHAR
};

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

struct Progress {
  double fraction = -1;  // 0..1, or -1 when the engine cannot tell
  uint64_t rows_processed = 0;
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
  // Writes the result of a SELECT into one Parquet file; returns the number of rows written.
  virtual uint64_t CopyToParquet(const std::string& select_sql, const std::string& path) = 0;
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
};

// The embedded DuckDB engine, in memory. Throws Error(kInvalidInput) for bad options.
std::unique_ptr<Engine> MakeDuckDbEngine(const EngineOptions& options);

}  // namespace sluice::engine
