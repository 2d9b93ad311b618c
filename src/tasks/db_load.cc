// db_load into an embedded DuckDB warehouse file. All datasets of the task change their target
// tables in one transaction, and a ledger table makes a repeated append of the same partition a
// no-op.
#include "tasks/db_load.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"

namespace sluice::tasks {
namespace {

// A warehouse file attached to the database instance the sessions of a run share. Loads into
// different tables of it run at the same time (DuckDB appends and deletes in different tables
// do not conflict); loads into the same table take turns, so that the second sees the first's
// rows and ledger entry. ATTACH, the ledger table and new schemas are set up by one load at a
// time, each in its own statement, outside the loads' transactions. A load that still
// conflicts with another (DuckDB says so at COMMIT) is done again alone.
struct Warehouse {
  std::mutex setup_mu;
  std::string alias;          // Guarded by setup_mu; "" until attached
  std::shared_mutex catalog;  // shared: a load; exclusive: a load again after a conflict
  std::mutex tables_mu;
  std::map<std::string, std::unique_ptr<std::mutex>> tables;  // Guarded by tables_mu

  std::mutex& Table(const std::string& name) {
    std::lock_guard<std::mutex> lock(tables_mu);
    auto& m = tables[name];
    if (!m) m = std::make_unique<std::mutex>();
    return *m;
  }
};

std::mutex warehouses_mu;
std::map<std::string, std::unique_ptr<Warehouse>> warehouses;  // Guarded by warehouses_mu
int attached_count = 0;                                        // Guarded by warehouses_mu

Warehouse& WarehouseAt(const std::string& path) {
  std::lock_guard<std::mutex> lock(warehouses_mu);
  auto& w = warehouses[path];
  if (!w) w = std::make_unique<Warehouse>();
  return *w;
}

std::string NextAlias() {
  std::lock_guard<std::mutex> lock(warehouses_mu);
  return "wh" + std::to_string(++attached_count);
}

// True for DuckDB's answer to two transactions changing the same catalog entry or rows
// ("TransactionContext Error: Catalog write-write conflict on create with ...", "Conflict on
// tuple deletion").
bool IsConflict(const Error& e) {
  std::string m = e.what();
  return m.find("TransactionContext Error") != std::string::npos &&
         m.find("onflict") != std::string::npos;
}

// Takes lock (a unique_lock or shared_lock made with std::defer_lock) while watching the
// task's cancel token: a load waiting for another load's table ends by Ctrl-C or its timeout.
template <typename Lock>
void LockOrCancel(Lock& lock, TaskContext& ctx) {
  while (!lock.try_lock()) {
    ctx.cancel->ThrowIfCancelled();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

namespace {

// schema.table, where either part may be in double quotes ("a.b" is one name with a dot in it,
// "" inside quotes is one "). Returns the parts unquoted.
std::vector<std::string> NameParts(const std::string& table) {
  std::vector<std::string> parts(1);
  bool quoted = false;
  for (size_t i = 0; i < table.size(); i++) {
    char c = table[i];
    if (c == '"') {
      if (quoted && i + 1 < table.size() && table[i + 1] == '"') {
        parts.back().push_back('"');
        i++;
      } else {
        quoted = !quoted;
      }
    } else if (c == '.' && !quoted) {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  return parts;
}

}  // namespace

std::string SchemaOf(const std::string& table, const std::string& default_schema) {
  auto parts = NameParts(table);
  return parts.size() == 2 ? parts[0] : default_schema;
}

std::string NameOf(const std::string& table) { return NameParts(table).back(); }

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

std::string AppendedBefore(const LoadSource& s,
                           const std::function<std::string(const std::string&)>& literal,
                           const std::string& partition_column, bool case_insensitive_names) {
  std::string target = case_insensitive_names ? "lower(target) = lower(" + literal(s.table) + ")"
                                              : "target = " + literal(s.table);
  return "dataset = " + literal(s.dataset) + " AND " + partition_column + " = " +
         literal(s.partition) + " AND " + target + " AND checksum = " + literal(s.checksum) +
         " AND mode = 'append'";
}

void LogAppendSkipped(TaskContext& ctx, const LoadSource& s) {
  ctx.log->Info(s.dataset + " " + s.partition + " was already appended to " + s.table +
                " with the same checksum; skipped");
}

void CommitLoad(TaskContext& ctx, const std::string& target, const std::function<void()>& commit,
                const std::function<std::optional<bool>()>& committed) {
  FaultPoint("load.before_commit");
  ctx.cancel->ThrowIfCancelled();
  if (!ctx.state->BeginCommit(ctx.attempt_id, target)) {
    throw Cancelled(ctx.Name() + ": the attempt lost its lease (it timed out) before its commit");
  }
  try {
    commit();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kConnection && e.kind() != ErrorKind::kCancelled) throw;
    // The commit was sent, but its answer is lost: the target knows what happened.
    std::optional<bool> done;
    std::string why;
    try {
      done = committed();
    } catch (const Error& check) {
      why = check.what();
    }
    if (done && *done) {
      ctx.log->Info("the commit into " + target + " went through, though its answer was lost (" +
                    e.what() + ")");
      FaultPoint("load.after_commit");
      return;
    }
    if (done) throw;
    throw Error(ErrorKind::kConnection,
                ctx.Name() + ": the commit into " + target +
                    " was sent but its outcome is unknown (" + e.what() +
                    (why.empty() ? "" : "; asking the target failed: " + why) +
                    "); the ledger _sluice_loads has a row with attempt_id " +
                    std::to_string(ctx.attempt_id) +
                    " if it went through; another attempt is safe (a repeated append is skipped "
                    "by the ledger, the other modes give the same tables)",
                true);
  }
  FaultPoint("load.after_commit");
}

state::TaskCounts GuardLoad(TaskContext& ctx, const std::string& where,
                            const std::function<state::TaskCounts()>& load,
                            const std::function<void()>& undo) {
  try {
    return load();
  } catch (const Error& e) {
    undo();
    if (e.kind() == ErrorKind::kCancelled) throw;
    std::string hint;
    if (std::string(e.what()).find("no unique or exclusion constraint") != std::string::npos) {
      hint = " (merge needs a primary key or unique index on the key columns of the target)";
    }
    if (StartsWith(e.what(), ctx.Name())) throw;  // already the task's own message
    throw Error(e.kind(),
                ctx.Name() + ": loading into " + where + ": " + e.what() + hint +
                    " (nothing was changed: every table of this task is as it was)",
                e.retryable());
  }
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

// DuckDB keeps a committed load in the warehouse's write-ahead log until a checkpoint, which
// otherwise runs when the process closes the warehouse: seconds after the last task ended (5 s
// for 6M rows), counted in no task's time. The load checkpoints here instead when no other load
// of this process is running; DuckDB refuses a checkpoint while any transaction is open, and
// then it is left for later (the data is safe in the log either way).
void Checkpoint(TaskContext& ctx, Warehouse& wh, engine::Session& session, const std::string& alias,
                const std::string& warehouse) {
  std::unique_lock<std::shared_mutex> quiet(wh.catalog, std::try_to_lock);
  if (!quiet.owns_lock()) return;
  double start = SteadySeconds();
  try {
    session.Execute("CHECKPOINT " + alias);
    ctx.log->Info("checkpointed " + warehouse + " in " + HumanSeconds(SteadySeconds() - start));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCancelled) throw;
    ctx.log->Info("left the checkpoint of " + warehouse + " for later: " + e.what());
  }
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
  Warehouse& wh = WarehouseAt(warehouse);
  std::string alias;
  {
    // Not while a load runs alone after a conflict (it must really be alone).
    std::unique_lock<std::mutex> setup(wh.setup_mu, std::defer_lock);
    LockOrCancel(setup, ctx);
    std::shared_lock<std::shared_mutex> catalog(wh.catalog, std::defer_lock);
    LockOrCancel(catalog, ctx);
    if (wh.alias.empty()) {
      // Remembered only once ATTACH worked: a failed ATTACH (a locked file) is retried.
      std::string a = NextAlias();
      session->Execute("ATTACH IF NOT EXISTS " + SqlLiteral(warehouse) + " AS " + a);
      wh.alias = a;
    }
    alias = wh.alias;
    session->Execute("CREATE TABLE IF NOT EXISTS " + alias +
                     ".main._sluice_loads (dataset VARCHAR, partition VARCHAR, target VARCHAR, "
                     "mode VARCHAR, run_id BIGINT, attempt_id BIGINT, rows BIGINT, checksum "
                     "VARCHAR, loaded_at TIMESTAMP)");
    for (const auto& s : sources) {
      session->Execute("CREATE SCHEMA IF NOT EXISTS " + alias + "." +
                       SqlIdentifier(SchemaOf(s.table, "main")));
    }
  }
  auto target = [&](const std::string& table) {
    return alias + "." + SqlIdentifier(SchemaOf(table, "main")) + "." +
           SqlIdentifier(NameOf(table));
  };
  std::string ledger = alias + ".main._sluice_loads";
  // This task's tables, locked in name order (two tasks never wait for each other in a cycle),
  // by lowercase name: DuckDB's names are case-insensitive, quoted or not.
  std::vector<std::string> tables;
  for (const auto& s : sources) tables.push_back(ToLower(target(s.table)));
  std::sort(tables.begin(), tables.end());
  tables.erase(std::unique(tables.begin(), tables.end()), tables.end());
  std::vector<std::unique_lock<std::mutex>> table_locks;
  for (const auto& t : tables) {
    table_locks.emplace_back(wh.Table(t), std::defer_lock);
    LockOrCancel(table_locks.back(), ctx);
  }

  state::TaskCounts counts;
  std::vector<std::string> done;
  auto load = [&]() -> state::TaskCounts {
    counts = state::TaskCounts{};
    done.clear();
    session->Execute("BEGIN TRANSACTION");
    for (const auto& s : sources) {
      ctx.cancel->ThrowIfCancelled();
      // Replace, truncate and merge give the same table when repeated; an append does not, so a
      // repeated append of the same data (a retry after a lost acknowledgement, a re-run) is
      // skipped.
      if (l.mode == "append") {
        auto seen = session->Query(
            "SELECT count(*) FROM " + ledger + " WHERE " +
            AppendedBefore(
                s, [](const std::string& v) { return SqlLiteral(v); }, "partition", true));
        if (seen.rows[0][0].value_or("0") != "0") {
          LogAppendSkipped(ctx, s);
          continue;
        }
      }
      std::string into = target(s.table);
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
    // A local file: the commit either happens or throws.
    CommitLoad(
        ctx, warehouse, [&] { session->Execute("COMMIT"); }, [] { return false; });
    return counts;
  };
  auto rollback = [&] {
    try {
      session->Execute("ROLLBACK");
    } catch (const Error&) {
    }
  };
  counts = GuardLoad(
      ctx, warehouse,
      [&]() -> state::TaskCounts {
        std::string conflict;
        {
          std::shared_lock<std::shared_mutex> loading(wh.catalog, std::defer_lock);
          LockOrCancel(loading, ctx);
          try {
            return load();
          } catch (const Error& e) {
            if (e.kind() == ErrorKind::kCancelled || !IsConflict(e)) throw;
            rollback();  // before another load may run alone
            conflict = e.what();
          }
        }
        // Another load changed the catalog at the same time (two new tables, say): once more,
        // alone. Should that conflict too, the task's retries take over.
        ctx.log->Info("loading into " + warehouse + " conflicted with another load (" + conflict +
                      "); loading again alone");
        std::unique_lock<std::shared_mutex> alone(wh.catalog, std::defer_lock);
        LockOrCancel(alone, ctx);
        try {
          return load();
        } catch (const Error& e) {
          if (e.kind() == ErrorKind::kCancelled || !IsConflict(e)) throw;
          throw Error(e.kind(), e.what(), true);
        }
      },
      rollback);
  for (const auto& d : done) ctx.log->Info("loaded " + d);
  Checkpoint(ctx, wh, *session, alias, warehouse);
  return counts;
}

}  // namespace sluice::tasks
