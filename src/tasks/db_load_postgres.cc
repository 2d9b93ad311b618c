// db_load into PostgreSQL. Every dataset is streamed by binary COPY into a temporary staging
// table, and the change to the target (create, add columns, truncate, insert, upsert) and the
// ledger row happen in the one transaction that also holds the COPY: a failure at any point,
// the server going away included, leaves every target table exactly as it was.
#include <algorithm>
#include <set>

#include "common/error.h"
#include "common/strings.h"
#include "connectors/postgres/postgres.h"
#include "tasks/db_load.h"

namespace sluice::tasks {

namespace pg = connectors::postgres;

state::TaskCounts RunPostgresLoad(TaskContext& ctx, const std::vector<LoadSource>& sources) {
  const auto& l = ctx.task->load;
  const auto& spec = ctx.spec->connections.at(l.connection);
  pg::Options options = pg::OptionsFromConnection(spec, ctx.spec->dir);
  auto conn = pg::Connection::Open(options);
  std::string where = "postgres " + conn->Describe();
  ctx.log->Info("connected to " + where);
  auto session = ctx.Connect("loading into " + where);

  // The ledger and the target schemas are created first, one loader at a time: concurrent
  // CREATE ... IF NOT EXISTS race in PostgreSQL (a unique violation on the catalog).
  conn->Exec("SET client_min_messages = warning");
  conn->Exec("SELECT pg_advisory_lock(7335001)");
  try {
    conn->Exec(
        "CREATE TABLE IF NOT EXISTS public._sluice_loads (dataset text NOT NULL, partition text "
        "NOT NULL, target text NOT NULL, mode text NOT NULL, run_id bigint, attempt_id bigint, "
        "rows bigint, checksum text, loaded_at timestamptz NOT NULL DEFAULT now())");
    for (const auto& s : sources) {
      conn->Exec("CREATE SCHEMA IF NOT EXISTS " + pg::Ident(SchemaOf(s.table, "public")));
    }
  } catch (...) {
    conn->Exec("SELECT pg_advisory_unlock(7335001)");
    throw;
  }
  conn->Exec("SELECT pg_advisory_unlock(7335001)");

  state::TaskCounts counts;
  std::vector<std::string> done;
  conn->Exec("BEGIN");
  try {
    int index = 0;
    for (const auto& s : sources) {
      ctx.cancel->ThrowIfCancelled();
      if (l.mode == "append") {
        // A repeated append of the same data (a retry after a lost commit acknowledgement, a
        // re-run) is a no-op; the other modes give the same table when repeated.
        auto seen = conn->Query(
            "SELECT count(*) FROM public._sluice_loads WHERE dataset = $1 AND partition = $2 "
            "AND target = $3 AND checksum = $4 AND mode = 'append'",
            {s.dataset, s.partition, s.table, s.checksum});
        if (seen[0][0].value_or("0") != "0") {
          ctx.log->Info(s.dataset + " " + s.partition + " was already appended to " + s.table +
                        " with the same checksum; skipped");
          continue;
        }
      }
      std::string schema = SchemaOf(s.table, "public");
      std::string name = NameOf(s.table);
      std::string target = pg::Ident(schema) + "." + pg::Ident(name);
      auto columns = session->Describe("SELECT * FROM " + s.sql);
      for (const auto& k : l.key) {
        if (std::none_of(columns.begin(), columns.end(),
                         [&](const engine::Column& c) { return c.name == k; })) {
          throw InvalidInput(ctx.Name() + ": key column '" + k + "' is not a column of " +
                             s.dataset);
        }
      }
      std::set<std::string> existing;
      for (const auto& r : conn->Query(
               "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND "
               "table_name = $2",
               {schema, name})) {
        existing.insert(r[0].value_or(""));
      }
      if (l.mode == "replace" && !existing.empty()) {
        // replace: the table takes the dataset's schema; truncate keeps the table as it is.
        conn->Exec("DROP TABLE " + target);
        existing.clear();
      }
      std::vector<engine::Column> load_columns;
      if (existing.empty()) {
        std::vector<std::string> defs;
        for (const auto& c : columns) defs.push_back(pg::Ident(c.name) + " " + pg::PgType(c));
        if (!l.key.empty()) {
          std::vector<std::string> keys;
          for (const auto& k : l.key) keys.push_back(pg::Ident(k));
          defs.push_back("PRIMARY KEY (" + Join(keys, ", ") + ")");
        }
        conn->Exec("CREATE TABLE " + target + " (" + Join(defs, ", ") + ")");
        ctx.log->Info("created " + s.table + " from the schema of " + s.dataset);
        load_columns = columns;
      } else {
        std::vector<std::string> added;
        for (const auto& c : columns) {
          if (existing.count(c.name)) {
            load_columns.push_back(c);
            continue;
          }
          if (l.new_columns == "fail") {
            throw InvalidInput(ctx.Name() + ": " + s.dataset + " has column '" + c.name +
                               "' that " + s.table +
                               " lacks (new_columns: fail); add it to the "
                               "table, or set new_columns: add or ignore");
          }
          if (l.new_columns == "add") {
            conn->Exec("ALTER TABLE " + target + " ADD COLUMN " + pg::Ident(c.name) + " " +
                       pg::PgType(c));
            added.push_back(c.name);
            load_columns.push_back(c);
          }
        }
        if (!added.empty()) ctx.log->Info("added columns to " + s.table + ": " + Join(added, ", "));
        if (l.mode == "truncate") conn->Exec("TRUNCATE " + target);
      }

      // Stage: a temporary table in this transaction, typed like the dataset so that binary
      // COPY needs no conversion; the server casts on the way into the target.
      std::string stage = pg::Ident("_sluice_stage_" + std::to_string(index++));
      std::vector<std::string> defs, names, select;
      for (const auto& c : load_columns) {
        defs.push_back(pg::Ident(c.name) + " " + pg::PgType(c));
        names.push_back(pg::Ident(c.name));
        select.push_back(SqlIdentifier(c.name));
      }
      conn->Exec("CREATE TEMP TABLE " + stage + " (" + Join(defs, ", ") + ") ON COMMIT DROP");
      pg::CopyWriter writer;
      conn->BeginCopy("COPY " + stage + " (" + Join(names, ", ") + ") FROM STDIN (FORMAT binary)",
                      writer);
      uint64_t sent = 0;
      try {
        session->StreamTyped(
            "SELECT " + Join(select, ", ") + " FROM " + s.sql, [&](const engine::TypedBatch& b) {
              for (size_t r = 0; r < b.num_rows; r++) {
                writer.BeginRow(static_cast<int16_t>(b.data.size()));
                for (size_t c = 0; c < b.data.size(); c++) {
                  try {
                    pg::EncodeValue(b.data[c], b.columns[c].type, r, writer);
                  } catch (const Error& e) {
                    throw InvalidInput(s.dataset + " row " + std::to_string(sent + r + 1) +
                                       ", column '" + b.columns[c].name + "': " + e.what());
                  }
                }
              }
              sent += b.num_rows;
              if (writer.buffer().size() >= (1u << 20)) conn->SendCopy(writer);
              ctx.cancel->ThrowIfCancelled();
            });
      } catch (...) {
        conn->AbortCopy("sluice: reading " + s.dataset + " failed");
        throw;
      }
      uint64_t copied = conn->EndCopy(writer);
      std::string cols = Join(names, ", ");
      if (l.mode == "merge") {
        std::vector<std::string> keys, updates;
        for (const auto& k : l.key) keys.push_back(pg::Ident(k));
        for (const auto& c : load_columns) {
          if (std::find(l.key.begin(), l.key.end(), c.name) == l.key.end()) {
            updates.push_back(pg::Ident(c.name) + " = EXCLUDED." + pg::Ident(c.name));
          }
        }
        conn->Exec("INSERT INTO " + target + " (" + cols + ") SELECT " + cols + " FROM " + stage +
                   " ON CONFLICT (" + Join(keys, ", ") + ") DO " +
                   (updates.empty() ? "NOTHING" : "UPDATE SET " + Join(updates, ", ")));
      } else {
        conn->Exec("INSERT INTO " + target + " (" + cols + ") SELECT " + cols + " FROM " + stage);
      }
      conn->Exec("DROP TABLE " + stage);
      conn->Query(
          "INSERT INTO public._sluice_loads (dataset, partition, target, mode, run_id, "
          "attempt_id, rows, checksum) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING 1",
          {s.dataset, s.partition, s.table, l.mode, std::to_string(ctx.run_id),
           std::to_string(ctx.attempt_id), std::to_string(copied), s.checksum});
      done.push_back(s.dataset + " " + s.partition + " -> " + s.table + " (" + l.mode + ", " +
                     std::to_string(copied) + " rows)");
      counts.rows_read += static_cast<int64_t>(sent);
      counts.rows_written += static_cast<int64_t>(copied);
    }
    FaultPoint("load.before_commit");
    ctx.cancel->ThrowIfCancelled();
    conn->Exec("COMMIT");
    FaultPoint("load.after_commit");
  } catch (const Error& e) {
    try {
      conn->Exec("ROLLBACK");
    } catch (const Error&) {
    }
    if (e.kind() == ErrorKind::kCancelled) throw;
    std::string hint;
    if (std::string(e.what()).find("no unique or exclusion constraint") != std::string::npos) {
      hint = " (merge needs a primary key or unique index on the key columns of the target)";
    }
    throw Error(e.kind(),
                ctx.Name() + ": loading into " + where + ": " + e.what() + hint +
                    " (nothing was changed: every table of this task is as it was)",
                e.retryable());
  }
  for (const auto& d : done) ctx.log->Info("loaded " + d);
  return counts;
}

}  // namespace sluice::tasks
