// db_load into PostgreSQL. Every dataset is streamed by binary COPY into a temporary staging
// table, and the change to the target (create, add columns, truncate, insert, upsert) and the
// ledger row happen in the one transaction that also holds the COPY: a failure at any point,
// the server going away included, leaves every target table exactly as it was.
#include <algorithm>
#include <map>
#include <set>

#include "common/error.h"
#include "common/strings.h"
#include "connectors/postgres/postgres.h"
#include "tasks/db_load.h"

namespace sluice::tasks {

namespace pg = connectors::postgres;

namespace {

// After INSERT ... SELECT from a staging table failed (the transaction rolled back to the
// savepoint before it), finds the first staged row the target refuses, for the error message.
// Returns "" when the kind of error does not say enough to find it.
std::string FindRefusedRow(pg::Connection& conn, const std::string& target,
                           const std::string& stage, const std::vector<std::string>& key,
                           const std::string& mode) {
  pg::Connection::ServerError err = conn.last_error();
  try {
    conn.Exec("ROLLBACK TO SAVEPOINT sluice_finish");
    std::string where;
    if (err.sqlstate == "23502" && !err.column.empty()) {  // not null
      where = pg::Ident(err.column) + " IS NULL";
    } else if (err.sqlstate == "23514" && !err.constraint.empty()) {  // check
      auto def = conn.Query(
          "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1 AND "
          "conrelid = $2::regclass",
          {err.constraint, target});
      if (def.empty() || !def[0][0] || !StartsWith(*def[0][0], "CHECK ")) return "";
      // A constraint added NOT VALID has those words after its expression.
      std::string expr = def[0][0]->substr(6);
      if (EndsWith(expr, " NOT VALID")) expr.resize(expr.size() - 10);
      where = "NOT " + expr;
    } else if (err.sqlstate == "23505" && !err.constraint.empty()) {  // unique
      auto cols = conn.Query(
          "SELECT a.attname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
          "AND a.attnum = ANY (c.conkey) WHERE c.conname = $1 AND c.conrelid = $2::regclass",
          {err.constraint, target});
      std::vector<std::string> match, names;
      for (const auto& r : cols) {
        match.push_back("t." + pg::Ident(*r[0]) + " = s." + pg::Ident(*r[0]));
        names.push_back(pg::Ident(*r[0]));
      }
      if (match.empty()) return "";
      where = "EXISTS (SELECT 1 FROM " + target + " t WHERE " + Join(match, " AND ") + ") OR (" +
              Join(names, ", ") + ") IN (SELECT " + Join(names, ", ") + " FROM " + stage +
              " GROUP BY " + Join(names, ", ") + " HAVING count(*) > 1)";
    } else if (err.sqlstate == "21000" && mode == "merge") {  // the same key twice
      std::vector<std::string> names;
      for (const auto& k : key) names.push_back(pg::Ident(k));
      where = "(" + Join(names, ", ") + ") IN (SELECT " + Join(names, ", ") + " FROM " + stage +
              " GROUP BY " + Join(names, ", ") + " HAVING count(*) > 1)";
    } else {
      return "";
    }
    auto row = conn.Query("SELECT min(_sluice_row) FROM " + stage + " s WHERE " + where);
    return row.empty() || !row[0][0] ? "" : *row[0][0];
  } catch (const Error&) {
    return "";
  }
}

}  // namespace

state::TaskCounts RunPostgresLoad(TaskContext& ctx, const std::vector<LoadSource>& sources) {
  const auto& l = ctx.task->load;
  const auto& spec = ctx.spec->connections.at(l.connection);
  pg::Options options = pg::OptionsFromConnection(spec, ctx.spec->dir);
  // Ctrl-C and timeouts stop the connect and any statement the server is running (a long
  // INSERT or index build), whatever the server does.
  auto conn = pg::Connection::Open(options, ctx.cancel);
  std::string where = "postgres " + conn->Describe();  // connection 'x' (user@host:port/db)
  ctx.log->Info("connected to " + where);
  auto session = ctx.Connect("loading into " + where);

  // The ledger and the target schemas are created first, one loader at a time: concurrent
  // CREATE ... IF NOT EXISTS race in PostgreSQL (a unique violation on the catalog).
  conn->Exec("SET client_min_messages = warning");
  conn->Exec("SET standard_conforming_strings = on");  // SqlLiteral doubles quotes only
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
  auto load = [&]() -> state::TaskCounts {
    conn->Exec("BEGIN");
    int index = 0;
    for (const auto& s : sources) {
      ctx.cancel->ThrowIfCancelled();
      if (l.mode == "append") {
        // A repeated append of the same data (a retry after a lost commit acknowledgement, a
        // re-run) is a no-op; the other modes give the same table when repeated.
        auto seen =
            conn->Query("SELECT count(*) FROM public._sluice_loads WHERE " +
                        AppendedBefore(
                            s, [](const std::string& v) { return SqlLiteral(v); }, "partition"));
        if (seen[0][0].value_or("0") != "0") {
          LogAppendSkipped(ctx, s);
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
      // The target's columns and their types as PostgreSQL names them (format_type).
      std::map<std::string, std::string> existing;
      for (const auto& r : conn->Query(
               "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN "
               "pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
               "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
               {schema, name})) {
        existing[r[0].value_or("")] = r[1].value_or("");
      }

      // Where the rows go. Straight into the table when it is new in this transaction or its
      // column types are exactly the dataset's (binary COPY needs exact types); through a
      // staging table when the server must convert types or merge rows.
      std::string copy_into;                // the table COPY writes to
      std::string finish;                   // SQL that moves staged rows into the target
      std::vector<std::string> after_load;  // SQL run after the rows are in
      std::vector<engine::Column> load_columns;
      std::vector<std::string> keys;
      for (const auto& k : l.key) keys.push_back(pg::Ident(k));
      auto create = [&](const std::string& table) {
        std::vector<std::string> defs;
        for (const auto& c : columns) defs.push_back(pg::Ident(c.name) + " " + pg::PgType(c));
        conn->Exec("CREATE TABLE " + table + " (" + Join(defs, ", ") + ")");
      };
      // The primary key is built after the load: one index build is cheaper than maintaining
      // it row by row.
      std::string add_key = keys.empty() ? ""
                                         : "ALTER TABLE " + target + " ADD CONSTRAINT " +
                                               pg::Ident(name + "_pkey") + " PRIMARY KEY (" +
                                               Join(keys, ", ") + ")";
      if (existing.empty() || l.mode == "replace") {
        // A new table, or replace: the table takes the dataset's schema. replace builds the new
        // table beside the old one and swaps them at the end, so readers wait only for the swap.
        load_columns = columns;
        if (existing.empty()) {
          create(target);
          copy_into = target;
          ctx.log->Info("created " + s.table + " from the schema of " + s.dataset);
        } else {
          copy_into = pg::Ident(schema) + "." + pg::Ident(name + "__sluice_new");
          conn->Exec("DROP TABLE IF EXISTS " + copy_into);
          create(copy_into);
          after_load.push_back("DROP TABLE " + target);
          after_load.push_back("ALTER TABLE " + copy_into + " RENAME TO " + pg::Ident(name));
        }
        if (!add_key.empty()) after_load.push_back(add_key);
      } else {
        std::vector<std::string> added;
        bool types_match = true;
        for (const auto& c : columns) {
          auto it = existing.find(c.name);
          if (it != existing.end()) {
            load_columns.push_back(c);
            types_match = types_match && it->second == pg::PgType(c);
            continue;
          }
          if (l.new_columns == "fail") {
            throw InvalidInput(ctx.Name() + ": " + s.dataset + " has column '" + c.name +
                               "' that " + s.table +
                               " lacks (new_columns: fail); add it to the table, or set "
                               "new_columns: add or ignore");
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
        std::vector<std::string> names;
        for (const auto& c : load_columns) names.push_back(pg::Ident(c.name));
        std::string cols = Join(names, ", ");
        if (l.mode == "merge" || !types_match) {
          copy_into = pg::Ident("_sluice_stage_" + std::to_string(index++));
          std::vector<std::string> defs;
          for (const auto& c : load_columns) {
            defs.push_back(pg::Ident(c.name) + " " + pg::PgType(c));
          }
          // _sluice_row numbers the rows, so a row the target refuses can be named.
          defs.push_back("_sluice_row bigint");
          conn->Exec("CREATE TEMP TABLE " + copy_into + " (" + Join(defs, ", ") +
                     ") ON COMMIT DROP");
          finish = "INSERT INTO " + target + " (" + cols + ") SELECT " + cols + " FROM " +
                   copy_into + " ORDER BY _sluice_row";
          if (l.mode == "merge") {
            std::vector<std::string> updates;
            for (const auto& c : load_columns) {
              if (std::find(l.key.begin(), l.key.end(), c.name) == l.key.end()) {
                updates.push_back(pg::Ident(c.name) + " = EXCLUDED." + pg::Ident(c.name));
              }
            }
            finish += " ON CONFLICT (" + Join(keys, ", ") + ") DO " +
                      (updates.empty() ? "NOTHING" : "UPDATE SET " + Join(updates, ", "));
          }
        } else {
          copy_into = target;
        }
      }

      std::vector<std::string> names, select;
      for (const auto& c : load_columns) {
        names.push_back(pg::Ident(c.name));
        select.push_back(SqlIdentifier(c.name));
      }
      bool staged = !finish.empty();
      if (staged) names.push_back("_sluice_row");
      pg::CopyWriter writer;
      conn->BeginCopy(
          "COPY " + copy_into + " (" + Join(names, ", ") + ") FROM STDIN (FORMAT binary)", writer);
      uint64_t sent = 0;
      try {
        session->StreamTyped(
            "SELECT " + Join(select, ", ") + " FROM " + s.sql, [&](const engine::TypedBatch& b) {
              for (size_t r = 0; r < b.num_rows; r++) {
                writer.BeginRow(static_cast<int16_t>(b.data.size() + (staged ? 1 : 0)));
                for (size_t c = 0; c < b.data.size(); c++) {
                  try {
                    pg::EncodeValue(b.data[c], b.columns[c].type, r, writer);
                  } catch (const Error& e) {
                    throw InvalidInput(s.dataset + " row " + std::to_string(sent + r + 1) +
                                       ", column '" + b.columns[c].name + "': " + e.what());
                  }
                }
                if (staged) writer.Int64(static_cast<int64_t>(sent + r + 1));
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
      if (staged) {
        conn->Exec("SAVEPOINT sluice_finish");
        try {
          conn->Exec(finish);
        } catch (const Error& e) {
          if (e.kind() == ErrorKind::kConnection) throw;
          std::string row = FindRefusedRow(*conn, target, copy_into, l.key, l.mode);
          throw Error(e.kind(),
                      (row.empty() ? "" : s.dataset + " row " + row + " was refused: ") + e.what(),
                      e.retryable());
        }
        conn->Exec("DROP TABLE " + copy_into);
      }
      for (const auto& sql : after_load) conn->Exec(sql);
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
    CommitLoad(
        ctx, where, [&] { conn->Exec("COMMIT"); },
        [&]() -> std::optional<bool> {
          // A new connection (the load's was lost or closed): the ledger row of this attempt
          // was written in the committed transaction or not at all.
          pg::Options quick = options;
          quick.connect_timeout_seconds = std::min(quick.connect_timeout_seconds, 5);
          quick.read_timeout_seconds = 5;
          auto check = pg::Connection::Open(quick);
          auto rows = check->Query(
              "SELECT count(*) FROM public._sluice_loads WHERE attempt_id = $1::bigint",
              {std::to_string(ctx.attempt_id)});
          return rows[0][0].value_or("0") != "0";
        });
    return counts;
  };
  counts = GuardLoad(ctx, where, load, [&] {
    try {
      conn->Exec("ROLLBACK");
    } catch (const Error&) {
    }
  });
  for (const auto& d : done) ctx.log->Info("loaded " + d);
  return counts;
}

}  // namespace sluice::tasks
