#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/time.h"
#include "engine/engine.h"
#include "pipeline/task_kind.h"

namespace sluice::pipeline {

// A position in the pipeline file, 1-based; line 0 means unknown.
struct Mark {
  int line = 0;
  int column = 0;
};

// One problem found in a pipeline file.
struct Diagnostic {
  std::string file;
  Mark mark;
  std::string message;  // what is wrong and what to write instead
};

std::string FormatDiagnostic(const Diagnostic& d);

using NamedTypes = std::vector<std::pair<std::string, std::string>>;  // ordered name -> type

struct ConnectionSpec {
  std::string name;
  std::string type;                            // postgres | mysql | duckdb | sftp
  std::map<std::string, std::string> options;  // raw values; secrets stay ${env:..}/${file:..}
  Mark mark;
};

// A sensor: wait for an input file to appear and be complete before reading it.
struct WaitSpec {
  std::chrono::milliseconds timeout{0};  // 0 = the task's timeout
  std::chrono::milliseconds poll{30000};
  // Complete when its size and time stay the same this long (without marker:)...
  std::chrono::milliseconds stable_for{30000};
  std::string marker;  // ...or when this file exists (template; relative to the input's folder)
};

struct CsvImportSpec {
  std::string path;    // template, relative to the pipeline file's folder: exactly one file
  std::string glob;    // or a pattern (template): every matching file, in name order
  NamedTypes columns;  // every column in file order; empty = infer
  NamedTypes types;    // type overrides while inferring
  bool header = true;
  std::string delimiter = ",";
  std::string quote = "\"";
  std::string escape = "\"";
  std::string null_string;  // the text that means NULL; "" by default
  std::string date_format;
  std::string timestamp_format;
  std::string encoding = "utf-8";    // utf-8 | latin-1 | utf-16
  int64_t rejects_max = 0;           // rejected rows allowed before the task fails
  double rejects_max_fraction = -1;  // or a fraction of rows read, when given as "N%"
  std::string rejects_into;          // dataset for rejected rows; default rejects.<zone>_<name>
  bool allow_empty = false;
  int64_t max_line_size = 0;  // 0 = engine default (2 MB)
  std::string connection;     // an sftp connection, for an sftp:// path
  std::optional<WaitSpec> wait;
};

// engine: type: spark (docs/spark.md): the Spark Connect server sql and check tasks run on.
struct SparkSpec {
  std::string remote;     // sc://host:port; "" = no Spark
  std::string token;      // raw: ${env:..} or ${file:..}, resolved when connecting
  std::string lake_path;  // the lake's folder as Spark names it; "" = the lake's own path
  Mark mark;
};

struct SqlSpec {
  std::string text;  // the model's SQL (read from the file when `sql` names a .sql file)
  std::string file;  // the file it came from, or "" when inline
  Mark mark;         // where the SQL starts (the file's line 1, or the inline scalar)
  // The files it publishes: "parquet", or "orc" (written on Spark only; only Spark reads it).
  std::string format = "parquet";
};

struct CheckExpectation {
  std::string kind;  // unique | not_null | accepted_values | row_count | relationships | sql
  std::vector<std::string> columns;
  std::vector<std::string> values;
  std::optional<int64_t> min, max;
  std::string to_dataset, to_column;
  std::string sql;
  std::string name;
  Mark mark;
};

struct CheckSpec {
  std::vector<CheckExpectation> expect;
};

struct DbLoadSpec {
  std::string connection;        // "" = the pipeline's embedded warehouse
  NamedTypes datasets;           // dataset -> target table
  std::string mode = "replace";  // replace | append | merge
  std::vector<std::string> key;
  std::string partitions = "current";  // current | all
  std::string new_columns = "add";     // a dataset column the target lacks: add | fail | ignore
};

// One table (or query) of a db_import task.
struct ImportTableSpec {
  std::string table;  // as written: name or schema.name; "" for a query
  std::string query;  // a SELECT, with $CONDITIONS where split ranges go (optional)
  std::string into;   // the dataset; default <zone>.<table name in lowercase>
  std::string split_by;
  std::string boundary_query;  // returns the min and max of split_by
  std::string where;           // a condition in the source's SQL
  std::vector<std::string> columns;
  std::string incremental;  // "" (whole table) | append | lastmodified
  std::string check_column;
  std::vector<std::string> key;  // lastmodified merge key / lookback dedupe key; default: PK
  std::string last_value;        // the starting point when no earlier partition has one
  std::string lookback;          // re-read window: a number (numeric columns) or a duration
  Mark mark;
};

struct DbImportSpec {
  std::string connection;
  bool all_tables = false;           // tables: all
  std::vector<std::string> exclude;  // with tables: all
  std::string zone = "raw";          // datasets <zone>.<table>
  std::vector<ImportTableSpec> tables;
  int parallel = 1;               // connections reading each table at once (Sqoop's -m)
  std::string snapshot = "auto";  // auto | true | false (docs/import.md)
  bool zero_dates_null = false;   // MySQL '0000-00-00': NULL, or fail the task
};

// A hook of the pipeline file: a command and/or a webhook (runner/hooks.h runs them).
struct HookSpec {
  std::string command;
  std::string webhook;
  std::chrono::milliseconds timeout{30000};
  Mark mark;
  bool empty() const { return command.empty() && webhook.empty(); }
};

struct TaskSpec {
  std::string id;
  std::string pool;  // a pool of the pipeline file (pools:), or ""
  std::string kind;  // csv_import | sql | check | db_load | db_import | a registered kind
  Mark mark;
  std::vector<std::string> after;     // as written
  std::vector<std::string> upstream;  // after plus the producers of every dataset read
  int retries = 0;
  std::chrono::milliseconds retry_delay{30000};
  std::chrono::milliseconds max_retry_delay{600000};
  std::chrono::milliseconds timeout{3600000};
  std::string into;                // dataset written (csv_import, sql)
  std::vector<std::string> reads;  // datasets read
  // Where each after: entry ("after:<id>") and dataset read ("read:<zone.name>") is written:
  // file ("" = the pipeline file) and position, for validation messages.
  std::map<std::string, std::pair<std::string, Mark>> where;
  std::string dataset;  // dataset checked (check)
  std::string engine;   // sql, check: "duckdb" or "spark"; "" = the pipeline's engine
  CsvImportSpec csv;
  SqlSpec sql;
  CheckSpec check;
  DbLoadSpec load;
  DbImportSpec import;
  // The datasets this task writes besides `into` (db_import of named tables).
  std::vector<std::string> produces;
  // True when the task writes every dataset of a zone it finds at run time (db_import with
  // tables: all): import.zone, except import.exclude.
  bool produces_zone = false;
  // The settings of a kind registered through pipeline/task_kind.h (tasks/<kind>.cc).
  std::shared_ptr<const TaskOptions> options;
  template <typename T>
  const T& Options() const {
    return static_cast<const T&>(*options);
  }
};

struct PipelineSpec {
  std::string file;  // absolute path of the pipeline file
  std::string dir;   // its folder; relative paths resolve against it
  std::string name;
  std::string schedule;  // scheduler/schedule.h; "" = runs only when asked
  std::string timezone = "UTC";
  std::optional<Date> start_date;
  std::optional<Date> end_date;  // the last logical date the scheduler runs
  bool catchup = false;
  int max_active_runs = 1;           // runs of this pipeline at once (scheduler, backfill)
  std::map<std::string, int> pools;  // pool -> slots, shared across pipelines
  HookSpec on_failure, on_success, on_late;
  // A run not finished this long after its interval ended is late (on_late fires).
  std::optional<std::chrono::milliseconds> deadline;
  std::string lake = "./lake";
  std::string warehouse = "./warehouse.duckdb";
  std::string state_dir = "./.sluice";
  std::string engine = "duckdb";
  engine::EngineOptions engine_options;
  SparkSpec spark;
  // The engine a task runs on: its own engine:, else the pipeline's (duckdb for imports and
  // loads, which always run on the embedded engine).
  std::string EngineOf(const TaskSpec& task) const;
  int max_parallel = 4;
  std::map<std::string, std::string> vars;
  std::map<std::string, ConnectionSpec> connections;
  // The hdfs: section (docs/hdfs.md): how to reach a webhdfs:// lake or path. Its options are
  // raw like a connection's (name "hdfs", type "hdfs"); secrets resolve when used.
  ConnectionSpec hdfs;
  std::vector<TaskSpec> tasks;  // in file order

  const TaskSpec* FindTask(const std::string& id) const;
  // The id of the task that writes dataset, or "".
  std::string ProducerOf(const std::string& dataset) const;
  // path if absolute, else relative to the pipeline file's folder.
  std::string ResolvePath(const std::string& path) const;
  // The lake location as a URI for fs::MakeFileSystem: a relative path or file:// URI resolved
  // against the pipeline file's folder; other schemes as written.
  std::string LakeUri() const;
  // Task ids in an order where every task follows its upstream tasks.
  std::vector<std::string> TopologicalOrder() const;
};

// Reads and validates a pipeline file. Every problem is appended to diagnostics (never just
// the first); the returned spec is complete only when none were added. extra_vars (--var)
// override vars: from the file. With content, the YAML is read from it instead of the file (a
// copy of the file taken earlier); paths still resolve against the file's folder.
PipelineSpec LoadPipeline(const std::string& path,
                          const std::map<std::string, std::string>& extra_vars,
                          std::vector<Diagnostic>* diagnostics,
                          const std::string* content = nullptr);

// LoadPipeline for commands that need a valid file: throws Error(kInvalidInput) listing every
// diagnostic.
PipelineSpec LoadPipelineOrThrow(const std::string& path,
                                 const std::map<std::string, std::string>& extra_vars = {},
                                 const std::string* content = nullptr);

// True for "zone.name" with both parts lowercase identifiers.
bool IsDatasetName(const std::string& name);

// The dataset a db_import writes for a table: <zone>.<the table's name, lowercase, other
// characters as _>; a schema prefix is dropped.
std::string ImportDatasetName(const std::string& zone, const std::string& table);

// True when t imports tables: all into dataset's zone and does not exclude it.
bool ZoneProduces(const TaskSpec& t, const std::string& dataset);

// The default rejects dataset for a csv_import into `into`: rejects.<zone>_<name>.
std::string DefaultRejectsDataset(const std::string& into);

// Resolves "${env:NAME}" and "${file:PATH}" in a connection option; other text is returned
// as is. Throws Error(kInvalidInput) when the variable is unset, the file is missing, or the
// file is readable by group or others (with the chmod that fixes it). Never includes the
// secret's value in a message.
std::string ResolveSecret(const std::string& value, const std::string& base_dir,
                          const std::string& what);

// One option of a connection, with secrets resolved (ResolveSecret), or nullopt when unset.
std::optional<std::string> ConnectionOption(const ConnectionSpec& spec, const std::string& key,
                                            const std::string& base_dir);

// A duration option of a connection in whole seconds (at least 1), or `fallback` when unset.
// Throws Error(kInvalidInput) naming the connection and key for text that is not a duration.
int ConnectionSeconds(const ConnectionSpec& spec, const std::string& key,
                      const std::string& base_dir, int fallback);

}  // namespace sluice::pipeline
