// db_load into an embedded DuckDB warehouse file. All datasets of the task change their target
// tables in one transaction, and a ledger table makes a repeated append of the same partition a
// no-op.
#include "tasks/db_load.h"

#include <map>
#include <mutex>

#include "common/error.h"
#include "common/strings.h"

namespace sluice::tasks {
namespace {

// ATTACH is per database instance, shared by the sessions of a run; each warehouse file gets
// its own alias. A DuckDB file has one writer, and two loads committing at once conflict on
// its catalog ("write-write conflict"), so loads into the same process take turns.
std::mutex warehouse_mu;
std::map<std::string, std::string> attached;  // Guarded by warehouse_mu: path -> alias

}  // namespace

std::string SchemaOf(const std::string& table, const std::string& default_schema) {
  auto parts = Split(table, '.');
  return parts.size() == 2 ? parts[0] : default_schema;
}

std::string NameOf(const std::string& table) { return Split(table, '.').back(); }

std::vector<LoadSource> ResolveLoadSources(TaskContext& ctx) {
  const auto& l = ctx.task->load;
  // Resolve every source first: a missing partition fails before anything changes.
  std::vector<LoadSource> sources;
  for (const auto& [dataset, table] : l.datasets) {
    LoadSource s;
    s.dataset = dataset;
    s.table = table;
    auto selection = ctx.lake->Select(dataset, l.partitions == "all" ? "" : ctx.ds);
    if (!selection) {
      throw NotFound(ctx.Name() + ": " + dataset + " has no published partition" +
                     (l.partitions == "all" ? "" : " ds=" + ctx.ds) + " (task '" +
                     ctx.spec->ProducerOf(dataset) + "' produces it)");
    }
    s.partition = selection->partition;
    s.checksum = selection->checksum;
    s.rows = selection->rows;
    s.sql = selection->Sql();
    sources.push_back(s);
  }

  return sources;
}

state::TaskCounts RunDbLoad(TaskContext& ctx) {
  const auto& l = ctx.task->load;
  auto sources = ResolveLoadSources(ctx);
  if (!l.connection.empty()) {
    const std::string& type = ctx.spec->connections.at(l.connection).type;
    if (type == "postgres") return RunPostgresLoad(ctx, sources);
    if (type == "mysql") return RunMySqlLoad(ctx, sources);
  }
  return RunDuckDbLoad(ctx, sources);
}

state::TaskCounts RunDuckDbLoad(TaskContext& ctx, const std::vector<LoadSource>& sources) {
  const auto& t = *ctx.task;
  const auto& l = t.load;
  std::string warehouse = ctx.spec->ResolvePath(ctx.spec->warehouse);
  if (!l.connection.empty()) {
    const auto& c = ctx.spec->connections.at(l.connection);
    auto path = c.options.find("path");
    if (path == c.options.end()) {
      throw InvalidInput(ctx.Name() + ": connection '" + l.connection +
                         "' of type duckdb needs path: (the warehouse file)");
    }
    warehouse = ctx.spec->ResolvePath(path->second);
  }

  auto session = ctx.Connect("loading " + warehouse);
  std::lock_guard<std::mutex> lock(warehouse_mu);
  std::string alias;
  auto known = attached.find(warehouse);
  if (known != attached.end()) {
    alias = known->second;
  } else {
    // Remembered only once ATTACH worked: a failed ATTACH (a locked file) is retried.
    alias = "wh" + std::to_string(attached.size() + 1);
    session->Execute("ATTACH IF NOT EXISTS " + SqlLiteral(warehouse) + " AS " + alias);
    attached[warehouse] = alias;
  }
  auto target = [&](const std::string& table) {
    return alias + "." + SqlIdentifier(SchemaOf(table, "main")) + "." +
           SqlIdentifier(NameOf(table));
  };
  std::string ledger = alias + ".main._sluice_loads";

  state::TaskCounts counts;
  std::vector<std::string> done;
  try {
    session->Execute("BEGIN TRANSACTION");
    session->Execute("CREATE TABLE IF NOT EXISTS " + ledger +
                     " (dataset VARCHAR, partition VARCHAR, target VARCHAR, mode VARCHAR, "
                     "run_id BIGINT, attempt_id BIGINT, rows BIGINT, checksum VARCHAR, "
                     "loaded_at TIMESTAMP)");
    for (const auto& s : sources) {
      ctx.cancel->ThrowIfCancelled();
      // Replace, truncate and merge give the same table when repeated; an append does not, so a
      // repeated append of the same data (a retry after a lost acknowledgement, a re-run) is
      // skipped.
      if (l.mode == "append") {
        auto seen = session->Query(
            "SELECT count(*) FROM " + ledger + " WHERE dataset = " + SqlLiteral(s.dataset) +
            " AND partition = " + SqlLiteral(s.partition) + " AND target = " + SqlLiteral(s.table) +
            " AND checksum = " + SqlLiteral(s.checksum) + " AND mode = 'append'");
        if (seen.rows[0][0].value_or("0") != "0") {
          ctx.log->Info(s.dataset + " " + s.partition + " was already appended to " + s.table +
                        " with the same checksum; skipped");
          continue;
        }
      }
      std::string into = target(s.table);
      session->Execute("CREATE SCHEMA IF NOT EXISTS " + alias + "." +
                       SqlIdentifier(SchemaOf(s.table, "main")));
      if (l.mode == "replace") {
        session->Execute("CREATE OR REPLACE TABLE " + into + " AS SELECT * FROM " + s.sql);
      } else {
        session->Execute("CREATE TABLE IF NOT EXISTS " + into + " AS SELECT * FROM " + s.sql +
                         " LIMIT 0");
        if (l.mode == "truncate") session->Execute("DELETE FROM " + into);
        if (l.mode == "merge") {
          std::vector<std::string> keys;
          for (const auto& k : l.key) keys.push_back(SqlIdentifier(k));
          std::string key_list = Join(keys, ", ");
          session->Execute("DELETE FROM " + into + " WHERE (" + key_list + ") IN (SELECT (" +
                           key_list + ") FROM " + s.sql + ")");
        }
        session->Execute("INSERT INTO " + into + " BY NAME SELECT * FROM " + s.sql);
      }
      session->Execute("INSERT INTO " + ledger + " VALUES (" + SqlLiteral(s.dataset) + ", " +
                       SqlLiteral(s.partition) + ", " + SqlLiteral(s.table) + ", " +
                       SqlLiteral(l.mode) + ", " + std::to_string(ctx.run_id) + ", " +
                       std::to_string(ctx.attempt_id) + ", " + std::to_string(s.rows) + ", " +
                       SqlLiteral(s.checksum) + ", now()::TIMESTAMP)");
      done.push_back(s.dataset + " " + s.partition + " -> " + s.table + " (" + l.mode + ", " +
                     std::to_string(s.rows) + " rows)");
      counts.rows_read += static_cast<int64_t>(s.rows);
      counts.rows_written += static_cast<int64_t>(s.rows);
    }
    FaultPoint("load.before_commit");
    ctx.cancel->ThrowIfCancelled();
    session->Execute("COMMIT");
  } catch (const Error& e) {
    try {
      session->Execute("ROLLBACK");
    } catch (const Error&) {
    }
    if (e.kind() == ErrorKind::kCancelled) throw;
    throw Error(e.kind(),
                ctx.Name() + ": loading into " + warehouse + ": " + e.what() +
                    " (nothing was changed: every table of this task is as it was)",
                e.retryable());
  }
  for (const auto& d : done) ctx.log->Info("loaded " + d);
  return counts;
}

}  // namespace sluice::tasks
