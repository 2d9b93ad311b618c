#pragma once

#include <functional>
#include <optional>
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

// "schema" and "table" of "schema.table" (schema defaults to `default_schema`); a part in
// double quotes may hold a dot: public."a.b" is table a.b of schema public.
std::string SchemaOf(const std::string& table, const std::string& default_schema);
std::string NameOf(const std::string& table);

// What every loader shares (the load protocol of docs/load.md):

// The ledger condition (a SQL boolean) that finds an earlier append of the same partition with
// the same data into the same target: a repeated append is skipped. literal quotes a string
// for the target's SQL, partition_column names the ledger's partition column there. With
// case_insensitive_names the target's name matches in any case (DuckDB, whose `public.Nums`
// and `public.nums` are one table).
std::string AppendedBefore(const LoadSource& s,
                           const std::function<std::string(const std::string&)>& literal,
                           const std::string& partition_column,
                           bool case_insensitive_names = false);
// Logs that an append was skipped because the ledger has it.
void LogAppendSkipped(TaskContext& ctx, const LoadSource& s);

// Commits a load (the step that makes its changes visible) under the attempt's lease:
// refused with kCancelled (nothing changed) when the attempt has lost its lease, and from then
// on a timeout stops the attempt but records what the commit did (docs/decisions.md, 6). When
// commit() fails with an unknown outcome (kConnection or kCancelled: the connection was lost
// or closed during it), committed() is asked (on a new connection, the ledger row of this
// attempt): true means the commit went through and CommitLoad returns normally, false that it
// did not and the error is rethrown, nullopt that nobody can tell now (kConnection, retryable).
void CommitLoad(TaskContext& ctx, const std::string& target, const std::function<void()>& commit,
                const std::function<std::optional<bool>()>& committed);

// Runs a loader: an error is reported as the task's, naming where and saying that every
// table is as it was (undo() runs first, for what the target keeps despite a rollback).
state::TaskCounts GuardLoad(TaskContext& ctx, const std::string& where,
                            const std::function<state::TaskCounts()>& load,
                            const std::function<void()>& undo);

state::TaskCounts RunDuckDbLoad(TaskContext& ctx, const std::vector<LoadSource>& sources);
state::TaskCounts RunPostgresLoad(TaskContext& ctx, const std::vector<LoadSource>& sources);
state::TaskCounts RunMySqlLoad(TaskContext& ctx, const std::vector<LoadSource>& sources);

}  // namespace sluice::tasks
