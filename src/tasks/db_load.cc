// db_load into the embedded DuckDB warehouse file. Every mode changes the target in one
// transaction, and a ledger table makes a repeated load of the same partition a no-op.
#include <mutex>

#include "common/error.h"
#include "common/strings.h"
#include "tasks/task.h"

namespace sluice::tasks {
namespace {

// ATTACH is per database instance, shared by the sessions of a run.
std::mutex attach_mu;
// A DuckDB file has one writer; two loads committing at once conflict on its catalog
// ("write-write conflict"), so loads into the embedded warehouse take turns.
std::mutex warehouse_write_mu;

std::string Target(const std::string& table) {
  auto parts = Split(table, '.');
  std::string schema = parts.size() == 2 ? parts[0] : "main";
  std::string name = parts.size() == 2 ? parts[1] : parts[0];
  return "wh." + SqlIdentifier(schema) + "." + SqlIdentifier(name);
}

}  // namespace

state::TaskCounts RunDbLoad(TaskContext& ctx) {
  const auto& t = *ctx.task;
  const auto& l = t.load;
  std::string warehouse = ctx.spec->ResolvePath(ctx.spec->warehouse);
  if (!l.connection.empty()) {
    auto c = ctx.spec->connections.at(l.connection);
    if (c.options.count("path")) warehouse = ctx.spec->ResolvePath(c.options.at("path"));
  }
  auto session = ctx.Connect("loading " + warehouse);
  {
    std::lock_guard<std::mutex> lock(attach_mu);
    session->Execute("ATTACH IF NOT EXISTS " + SqlLiteral(warehouse) + " AS wh");
  }
  state::TaskCounts counts;
  for (const auto& [dataset, table] : l.datasets) {
    ctx.cancel->ThrowIfCancelled();
    std::vector<std::string> files;
    std::string checksum;
    uint64_t rows = 0;
    std::string partition;
    if (l.partitions == "all") {
      partition = "all";
      for (const auto& d : ctx.lake->ListPartitions(dataset)) {
        auto m = ctx.lake->ReadManifest(dataset, d);
        for (const auto& f : ctx.lake->FilePaths(*m)) files.push_back(f);
        checksum += m->checksum;
        rows += m->rows;
      }
      if (files.empty())
        throw NotFound(ctx.Name() + ": " + dataset + " has no published partition");
    } else {
      auto m = ctx.lake->ReadManifest(dataset, ctx.ds);
      if (!m) {
        throw NotFound(ctx.Name() + ": " + dataset + " has no published partition ds=" + ctx.ds +
                       " (task '" + ctx.spec->ProducerOf(dataset) + "' produces it)");
      }
      files = ctx.lake->FilePaths(*m);
      checksum = m->checksum;
      rows = m->rows;
      partition = m->partition;
    }
    std::string src = lake::ReadParquetSql(files, l.partitions == "all");
    std::string target = Target(table);
    std::string schema = Split(table, '.').size() == 2 ? Split(table, '.')[0] : "main";
    std::lock_guard<std::mutex> write_lock(warehouse_write_mu);
    try {
      session->Execute("BEGIN TRANSACTION");
      session->Execute("CREATE SCHEMA IF NOT EXISTS wh." + SqlIdentifier(schema));
      session->Execute(
          "CREATE TABLE IF NOT EXISTS wh.main._sluice_loads (dataset VARCHAR, partition VARCHAR, "
          "target VARCHAR, mode VARCHAR, run_id BIGINT, attempt_id BIGINT, rows BIGINT, "
          "checksum VARCHAR, loaded_at TIMESTAMP)");
      // A repeated append or merge of the same data (a retry after a lost acknowledgement,
      // a re-run) must not load twice.
      auto seen = session->Query(
          "SELECT count(*) FROM wh.main._sluice_loads WHERE dataset = " + SqlLiteral(dataset) +
          " AND partition = " + SqlLiteral(partition) + " AND target = " + SqlLiteral(table) +
          " AND checksum = " + SqlLiteral(checksum) + " AND mode IN ('append')");
      if (seen.rows[0][0].value_or("0") != "0") {
        session->Execute("ROLLBACK");
        ctx.log->Info(dataset + " " + partition + " was already appended to " + table +
                      " with the same checksum; skipped");
        continue;
      }
      if (l.mode == "replace") {
        session->Execute("CREATE OR REPLACE TABLE " + target + " AS SELECT * FROM " + src);
      } else {
        session->Execute("CREATE TABLE IF NOT EXISTS " + target + " AS SELECT * FROM " + src +
                         " LIMIT 0");
        if (l.mode == "truncate") session->Execute("DELETE FROM " + target);
        if (l.mode == "merge") {
          std::vector<std::string> keys;
          for (const auto& k : l.key) keys.push_back(SqlIdentifier(k));
          std::string key_list = Join(keys, ", ");
          session->Execute("DELETE FROM " + target + " WHERE (" + key_list + ") IN (SELECT (" +
                           key_list + ") FROM " + src + ")");
        }
        session->Execute("INSERT INTO " + target + " BY NAME SELECT * FROM " + src);
      }
      session->Execute("INSERT INTO wh.main._sluice_loads VALUES (" + SqlLiteral(dataset) + ", " +
                       SqlLiteral(partition) + ", " + SqlLiteral(table) + ", " +
                       SqlLiteral(l.mode) + ", " + std::to_string(ctx.run_id) + ", " +
                       std::to_string(ctx.attempt_id) + ", " + std::to_string(rows) + ", " +
                       SqlLiteral(checksum) + ", now()::TIMESTAMP)");
      FaultPoint("load.before_commit");
      session->Execute("COMMIT");
    } catch (const Error& e) {
      try {
        session->Execute("ROLLBACK");
      } catch (const Error&) {
      }
      if (e.kind() == ErrorKind::kCancelled) throw;
      throw Error(e.kind(),
                  ctx.Name() + ": loading " + dataset + " into " + table + " (" + warehouse +
                      "): " + e.what() + " (the table is unchanged)",
                  e.retryable());
    }
    ctx.log->Info("loaded " + dataset + " " + partition + " into " + table + " (" + l.mode +
                  "): " + std::to_string(rows) + " rows");
    counts.rows_read += static_cast<int64_t>(rows);
    counts.rows_written += static_cast<int64_t>(rows);
  }
  return counts;
}

}  // namespace sluice::tasks
