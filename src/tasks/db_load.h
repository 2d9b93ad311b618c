#pragma once

#include <string>
#include <vector>

#include "tasks/task.h"

namespace sluice::tasks {

// One dataset of a db_load task, resolved to its files before anything changes.
struct LoadSource {
  std::string dataset;
  std::string table;      // schema.table in the target
  std::string sql;        // read_parquet(...) of the partition(s)
  std::string partition;  // ds=YYYY-MM-DD or "all"
  std::string checksum;   // of the manifest(s), for the ledger
  uint64_t rows = 0;
};

// Resolves every dataset of ctx's db_load task; throws NotFound for a missing partition.
std::vector<LoadSource> ResolveLoadSources(TaskContext& ctx);

// "schema" and "table" of "schema.table" (schema defaults to `default_schema`).
std::string SchemaOf(const std::string& table, const std::string& default_schema);
std::string NameOf(const std::string& table);

state::TaskCounts RunDuckDbLoad(TaskContext& ctx, const std::vector<LoadSource>& sources);
state::TaskCounts RunPostgresLoad(TaskContext& ctx, const std::vector<LoadSource>& sources);
state::TaskCounts RunMySqlLoad(TaskContext& ctx, const std::vector<LoadSource>& sources);

}  // namespace sluice::tasks
