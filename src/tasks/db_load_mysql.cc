// db_load into MySQL/MariaDB.
//
// MySQL commits implicitly around every DDL statement, so a load is built where nobody looks
// and published in one atomic step:
//
//  - replace: each dataset is streamed straight into a new table `_sluice_new_<name>` (the
//    dataset's schema, PRIMARY KEY from key:); one RENAME TABLE swaps every target of the task
//    at once (target TO _sluice_old_<name>, new TO target), then the old tables are dropped.
//  - append | truncate into an InnoDB table, and merge into a table the load creates: a missing
//    target is created and new columns are added first (DDL that changes no row, undone when
//    the load fails); then one transaction empties the target (truncate: DELETE), streams each
//    dataset straight into it, writes the ledger rows and commits, as PostgreSQL loads do.
//    When the server refuses or skips a row without saying which, that dataset's rows are
//    rolled back (a savepoint) and it takes the staged path below, which finds the row.
//  - merge into an existing InnoDB table where REPLACE ends as the upsert would (ReplaceDiffers:
//    the key is the only unique index, every column is loaded, no trigger, no foreign key points
//    at the table, numeric or date keys that the dataset does not repeat): the same, by
//    LOAD DATA LOCAL ... REPLACE straight into the target.
//  - any other merge into an existing table, and append | truncate into a table without
//    transactions:
//    each dataset is first streamed into a TEMPORARY staging table of this connection, typed
//    like its target columns, so a value the target could not hold fails there with its row.
//    After the same DDL, one transaction empties the target (truncate), inserts or upserts
//    (INSERT ... ON DUPLICATE KEY UPDATE) from the stages in dataset order, writes the ledger
//    rows and commits. A merge refuses a dataset that repeats a key (ON DUPLICATE KEY UPDATE
//    would let the last row win silently).
//
// Rows travel by LOAD DATA LOCAL INFILE fed from the engine's batches through the client
// library's infile callbacks (no file is written). When the server refuses LOCAL INFILE
// (local_infile=0: MariaDB error 1148/4166, MySQL 3948) sluice says so in the task log and
// sends multi-row INSERT statements instead (about 4 MB each), which is slower but equal in
// result. LOCAL makes the server turn refusals into warnings, so any warning fails the load; a
// warning or error that names its row ("at row N") is reported as that dataset row, and a
// refusal without a row (a duplicate key, NOT NULL, CHECK, foreign key) is traced to its row by
// re-applying the staged rows in halves.
//
// A failure at any point leaves every target as it was. A kill between the DDL and the commit
// can leave an empty new table or new all-NULL columns, which the next run uses; a kill after
// a replace's RENAME and before its ledger row leaves the new table in place (a repeated
// replace gives the same table); helper tables a kill leaves are dropped by the next load into
// the same target. The ledger _sluice_loads in the connection's database makes a repeated
// append of the same partition (same checksum) a no-op, as for PostgreSQL. Loads into the same
// table take turns (GET_LOCK).
#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "connectors/mysql/mysql.h"
#include "tasks/db_load.h"

namespace sluice::tasks {
namespace {

namespace my = connectors::mysql;

constexpr const char* kRowColumn = "_sluice_row";
constexpr const char* kLedger = "_sluice_loads";
// InnoDB's limit for the bytes of one index (DYNAMIC rows): the text parts of a created primary
// key share it.
constexpr int kMaxKeyBytes = 3072;

struct TargetColumn {
  std::string name;
  std::string type;  // COLUMN_TYPE with CHARACTER SET/COLLATE for text, for staging
  bool generated = false;
};

// One dataset of the task and what its load does to its target.
struct Plan {
  const LoadSource* source = nullptr;
  std::string db, name;  // the target's database and table
  std::string target;    // `db`.`name`
  bool skip = false;     // already appended (ledger)
  bool exists = false;   // the target exists now
  bool create = false;   // append | truncate | merge into a missing target: CREATE TABLE
  bool transactional = true;
  bool direct = false;   // streamed straight into the target, not staged (see the top)
  bool replace = false;  // a merge streamed straight in by LOAD DATA ... REPLACE (see the top)
  bool key_is_only_unique = false;      // merge: the key is the primary key, the only unique index
  std::vector<std::string> unloaded;    // columns of an existing target the load does not set
  std::vector<engine::Column> columns;  // the dataset's
  std::vector<engine::Column> load;     // the dataset's columns that are loaded
  std::vector<std::string> target_names;  // the target's spelling of each load column
  std::vector<std::string> stage_types;   // MySQL type of each load column
  std::vector<std::string> add;           // ADD COLUMN clauses for new columns
  std::vector<std::string> added;         // their names, to drop them again on failure
  bool altered = false;                   // the ADD COLUMNs ran (undo them on failure)
  std::string table_ddl;                  // column definitions for CREATE TABLE (new tables)
  std::string stage;                      // temporary table name
  std::string shadow, old;                // replace: `db`.`_sluice_new_..`, `_sluice_old_..`
  uint64_t sent = 0, staged = 0;
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ToLower(a) == ToLower(b);
}

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string Hex(uint64_t v, int digits) {
  static const char kHex[] = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; i--, v >>= 4) s[static_cast<size_t>(i)] = kHex[v & 0xF];
  return s;
}

// A helper table's name for a target: fixed, so that a later run finds what a killed one left,
// and within MySQL's 64 characters.
std::string HelperName(const std::string& prefix, const std::string& name) {
  std::string full = prefix + name;
  if (full.size() <= 64) return full;
  return prefix + name.substr(0, 40) + "_" + Hex(Fnv1a(name), 8);
}

// "... at row 17" at the end of a server message: 17 and the message without it.
std::optional<uint64_t> TakeRow(std::string* msg) {
  auto pos = msg->rfind(" at row ");
  if (pos == std::string::npos) return std::nullopt;
  std::string digits = msg->substr(pos + 8);
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  msg->erase(pos);
  return std::stoull(digits);
}

bool IsTextual(const engine::Column& c) {
  std::string t = my::MySqlType(c);
  return t == "LONGTEXT" || t == "JSON" || t == "LONGBLOB";
}

// Bytes a non-text key column takes in an InnoDB index.
int KeyBytes(const engine::Column& c) {
  std::string t = my::MySqlType(c);
  if (StartsWith(t, "TINYINT")) return 1;
  if (StartsWith(t, "SMALLINT")) return 2;
  if (StartsWith(t, "INT") || t == "FLOAT") return 4;
  if (t == "DATE") return 3;
  if (t == "TIME(6)") return 6;
  if (StartsWith(t, "DECIMAL")) return 20;
  if (t == "CHAR(36)") return 144;
  if (StartsWith(t, "VARCHAR(")) return 4 * std::stoi(t.substr(8)) + 2;
  return 8;  // BIGINT, DOUBLE, DATETIME(6)
}

// One db_load task into one MySQL connection. Not thread-safe; lives for the attempt.
class MySqlLoader {
 public:
  MySqlLoader(TaskContext& ctx, const my::Options& options, my::Connection& conn,
              engine::Session& session)
      : ctx_(ctx), l_(ctx.task->load), options_(options), conn_(conn), session_(session) {}

  state::TaskCounts Run(const std::vector<LoadSource>& sources);
  // Undoes the DDL of a failed append | truncate | merge (created tables, added columns), on
  // this connection or, when it is gone, a new one. Never throws.
  void UndoSchemaChanges();
  // Drops the new tables of a failed replace. Never throws.
  void DropShadows();

 private:
  // Runs fn on this connection or, when it is gone, on a new one; logs instead of throwing.
  void Cleanup(const std::string& what, const std::function<void(my::Connection&)>& fn);
  // A new connection with short timeouts, for asking the server what a lost commit did.
  std::unique_ptr<my::Connection> QuickConnection();
  void Prepare(const std::vector<LoadSource>& sources);
  void LockTargets();
  void PlanColumns(Plan& p, int index);
  // Streams the dataset into a new temporary table `p.stage`, numbering the rows.
  void Stage(Plan& p);
  // Streams the dataset straight into the target inside the load's transaction; when the
  // server refuses a row without naming it, undoes that and applies the rows through a stage,
  // which names it.
  void LoadDirectly(Plan& p);
  // Streams the dataset's load columns into `table` (after a _sluice_row number when
  // `numbered`), by LOAD DATA LOCAL INFILE or, where the server refuses it, by INSERT. Throws
  // InvalidInput naming the row when the server refuses a value and says where; returns false
  // when it refused or skipped a row without saying which (a duplicate key of the table), with
  // its words in refusal_.
  bool Fill(Plan& p, const std::string& table, bool numbered);
  bool FillByLoadData(Plan& p, const std::string& table, const std::string& cols, bool numbered,
                      const std::string& select);
  bool FillByInsert(Plan& p, const std::string& table, const std::string& cols, bool numbered,
                    const std::string& select);
  // Runs the LOAD DATA LOCAL statement `load`, fed with the rows of `select`; returns the
  // affected rows.
  uint64_t LoadLocalRows(Plan& p, const std::string& load, bool numbered,
                         const std::string& select);
  // Reads the warnings of a statement whose first row is the dataset's first_row: throws for
  // one that names its row, returns false otherwise.
  bool CheckWarnings(Plan& p, uint64_t first_row);
  // Appends row r of b, each value preceded by a separator except the first unless `lead`.
  void AppendRow(Plan& p, const engine::TypedBatch& b, size_t r, my::ValueFormat f, bool lead,
                 std::string& out);
  void ApplyRows(Plan& p, const std::string& into, bool upsert);
  // Moves p's staged rows into its target: a merge refuses repeated keys, then upserts.
  void ApplyStaged(Plan& p);
  // "" when LOAD DATA ... REPLACE into p's existing target ends where the staged upsert would;
  // otherwise why it might not, for the task log.
  std::string ReplaceDiffers(const Plan& p);
  // Throws naming the first row whose key repeats an earlier row of the dataset.
  void RefuseRepeatedKeys(const Plan& p);
  void InsertLedgerRow(const Plan& p);
  state::TaskCounts PublishReplace();
  state::TaskCounts PublishInPlace();
  std::string RowMessage(const Plan& p, uint64_t row, std::string msg) const;

  TaskContext& ctx_;
  const pipeline::DbLoadSpec& l_;
  const my::Options& options_;
  my::Connection& conn_;
  engine::Session& session_;
  std::vector<Plan> plans_;
  std::string bin_collation_ = "utf8mb4_bin";
  std::string ledger_;
  bool local_infile_ = true;          // false once the server refused LOAD DATA LOCAL
  std::string refusal_;               // the server's words when Fill returned false
  std::vector<std::string> created_;  // tables this load created (append | truncate | merge)
  std::vector<std::string> shadows_;  // replace: new tables not yet swapped in
};

state::TaskCounts MySqlLoader::Run(const std::vector<LoadSource>& sources) {
  Prepare(sources);
  if (l_.mode == "replace") return PublishReplace();
  for (auto& p : plans_) {
    ctx_.cancel->ThrowIfCancelled();
    // A merge into an existing table stages the rows (ON DUPLICATE KEY UPDATE from a table; a
    // key the dataset repeats is found there) unless REPLACE ends the same; into a table this
    // load creates, it inserts every row. A target without transactions could keep half a load.
    if (!p.skip && l_.mode == "merge" && !p.create && p.transactional) {
      std::string why = ReplaceDiffers(p);
      p.replace = why.empty();
      ctx_.log->Info(p.replace ? "merging " + p.source->dataset + " into " + p.source->table +
                                     " straight by LOAD DATA ... REPLACE: the key is its only "
                                     "unique index and the load sets every column"
                               : "merging " + p.source->dataset + " into " + p.source->table +
                                     " through a staging table: " + why);
    }
    p.direct = !p.skip && (l_.mode != "merge" || p.create || p.replace) && p.transactional;
    if (!p.skip && !p.direct) Stage(p);
  }
  return PublishInPlace();
}

void MySqlLoader::Prepare(const std::vector<LoadSource>& sources) {
  ledger_ = my::Ident(options_.database) + "." + my::Ident(kLedger);
  conn_.Exec("CREATE TABLE IF NOT EXISTS " + ledger_ +
             " (dataset VARCHAR(255) NOT NULL, `partition` VARCHAR(255) NOT NULL, target "
             "VARCHAR(255) NOT NULL, mode VARCHAR(16) NOT NULL, run_id BIGINT, attempt_id BIGINT, "
             "`rows` BIGINT UNSIGNED, checksum LONGTEXT, loaded_at DATETIME(6) NOT NULL DEFAULT "
             "CURRENT_TIMESTAMP(6), KEY (dataset, `partition`)) ENGINE=InnoDB DEFAULT "
             "CHARSET=utf8mb4");
  // Text keys compare byte for byte and keep trailing spaces where the server can.
  for (const char* c : {"utf8mb4_0900_bin", "utf8mb4_nopad_bin"}) {
    if (!conn_
             .Query("SELECT 1 FROM information_schema.COLLATIONS WHERE COLLATION_NAME = " +
                    my::Literal(c))
             .empty()) {
      bin_collation_ = c;
    }
  }

  std::set<std::string> databases;
  for (const auto& s : sources) {
    Plan p;
    p.source = &s;
    p.db = SchemaOf(s.table, options_.database);
    p.name = NameOf(s.table);
    p.target = my::Ident(p.db) + "." + my::Ident(p.name);
    for (const auto& other : plans_) {
      if (other.target == p.target) {
        throw InvalidInput(other.source->dataset + " and " + s.dataset + " both load into " + p.db +
                           "." + p.name + "; give each dataset its own table");
      }
    }
    plans_.push_back(std::move(p));
    databases.insert(plans_.back().db);
  }
  for (const auto& db : databases) {
    if (!conn_
             .Query("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " +
                    my::Literal(db))
             .empty()) {
      continue;
    }
    try {
      conn_.Exec("CREATE DATABASE IF NOT EXISTS " + my::Ident(db) + " CHARACTER SET utf8mb4");
      ctx_.log->Info("created database " + db);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kConnection || e.kind() == ErrorKind::kCancelled) throw;
      throw InvalidInput("database '" + db + "' does not exist and cannot be created (" +
                         conn_.last_error().message + "); create it, or map the dataset to a " +
                         "table of database '" + options_.database +
                         "' (datasets: {zone.name: table})");
    }
  }
  LockTargets();

  int index = 0;
  for (auto& p : plans_) {
    const LoadSource& s = *p.source;
    if (l_.mode == "append") {
      // A repeated append of the same data (a retry after a lost commit acknowledgement, a
      // re-run) is a no-op; the other modes give the same table when repeated.
      auto seen =
          conn_.Query("SELECT count(*) FROM " + ledger_ + " WHERE " +
                      AppendedBefore(
                          s, [](const std::string& v) { return my::Literal(v); }, "`partition`"));
      if (seen[0][0].value_or("0") != "0") {
        LogAppendSkipped(ctx_, s);
        p.skip = true;
        continue;
      }
    }
    PlanColumns(p, index++);
  }
}

void MySqlLoader::LockTargets() {
  // Loads into the same table take turns (the helper tables have fixed names, and the ledger
  // check must see the previous append). Named locks belong to the connection and survive
  // the implicit commits of DDL; they are taken in one order, so two tasks cannot deadlock.
  std::set<std::string> names;
  for (const auto& p : plans_) names.insert(p.db + "." + p.name);
  for (const auto& n : names) {
    std::string lock = "sluice.load." + n;
    if (lock.size() > 64) lock = "sluice.load." + Hex(Fnv1a(n), 16);
    bool told = false;
    for (;;) {
      auto r = conn_.Query("SELECT GET_LOCK(" + my::Literal(lock) + ", 5)");
      if (r[0][0].value_or("") == "1") break;
      if (!told) {
        ctx_.log->Info("waiting for another load into " + n + " to finish");
        told = true;
      }
      ctx_.cancel->ThrowIfCancelled();
    }
  }
}

void MySqlLoader::PlanColumns(Plan& p, int index) {
  const LoadSource& s = *p.source;
  p.columns = session_.Describe("SELECT * FROM " + s.sql);
  for (const auto& c : p.columns) {
    if (EqualsIgnoreCase(c.name, kRowColumn)) {
      throw InvalidInput(s.dataset + " has a column named " + kRowColumn +
                         ", which sluice uses while loading; rename it in a model");
    }
  }
  for (const auto& k : l_.key) {
    if (std::none_of(p.columns.begin(), p.columns.end(),
                     [&](const engine::Column& c) { return c.name == k; })) {
      throw InvalidInput("key column '" + k + "' is not a column of " + s.dataset);
    }
  }
  p.stage = "_sluice_stage_" + std::to_string(index);

  auto tables =
      conn_.Query("SELECT TABLE_TYPE, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
                  my::Literal(p.db) + " AND TABLE_NAME = " + my::Literal(p.name));
  p.exists = !tables.empty();
  std::string kind = tables.empty() ? "" : tables[0][0].value_or("");
  if (p.exists && kind != "BASE TABLE" && kind != "SYSTEM VERSIONED") {
    throw InvalidInput(s.table + " is a " + ToLower(tables[0][0].value_or("view")) +
                       ", not a table; load into a table");
  }
  if (p.exists && l_.mode != "replace" && !EqualsIgnoreCase(tables[0][1].value_or(""), "InnoDB")) {
    p.transactional = false;
    ctx_.log->Info("warning: " + s.table + " uses the " + tables[0][1].value_or("?") +
                   " engine, which has no transactions: a failure midway can leave it partly "
                   "loaded (ALTER TABLE ... ENGINE=InnoDB makes loads atomic)");
  }

  if (l_.mode == "replace" || !p.exists) {
    // A new table with the dataset's schema.
    p.create = !p.exists || l_.mode == "replace";
    int fixed = 0, textual = 0;
    for (const auto& k : l_.key) {
      for (const auto& c : p.columns) {
        if (c.name != k) continue;
        if (IsTextual(c)) {
          textual++;
        } else {
          fixed += KeyBytes(c);
        }
      }
    }
    int key_chars = textual == 0 ? 768 : std::clamp((kMaxKeyBytes - fixed) / (4 * textual), 1, 768);
    std::vector<std::string> defs;
    for (const auto& c : p.columns) {
      bool key = std::find(l_.key.begin(), l_.key.end(), c.name) != l_.key.end();
      std::string type = my::MySqlType(c, key, key_chars, bin_collation_);
      p.load.push_back(c);
      p.target_names.push_back(c.name);
      p.stage_types.push_back(type);
      defs.push_back(my::Ident(c.name) + " " + type + (key ? " NOT NULL" : ""));
    }
    if (!l_.key.empty()) {
      std::vector<std::string> keys;
      for (const auto& k : l_.key) keys.push_back(my::Ident(k));
      defs.push_back("PRIMARY KEY (" + Join(keys, ", ") + ")");
    }
    p.table_ddl = "(" + Join(defs, ", ") + ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
    if (l_.mode == "replace") {
      p.shadow = my::Ident(p.db) + "." + my::Ident(HelperName("_sluice_new_", p.name));
      p.old = my::Ident(p.db) + "." + my::Ident(HelperName("_sluice_old_", p.name));
    }
    return;
  }

  // An existing target: stage each column in the target's own type, so that a value the target
  // cannot hold fails while staging, with its row.
  std::vector<TargetColumn> existing;
  for (const auto& r : conn_.Query(
           "SELECT COLUMN_NAME, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, EXTRA FROM "
           "information_schema.COLUMNS WHERE TABLE_SCHEMA = " +
           my::Literal(p.db) + " AND TABLE_NAME = " + my::Literal(p.name) +
           " ORDER BY ORDINAL_POSITION")) {
    TargetColumn t;
    t.name = r[0].value_or("");
    t.type = r[1].value_or("");
    if (r[2]) t.type += " CHARACTER SET " + *r[2] + " COLLATE " + r[3].value_or(*r[2] + "_bin");
    std::string extra = ToLower(r[4].value_or(""));
    t.generated = extra.find("generated") != std::string::npos ||
                  extra.find("virtual") != std::string::npos ||
                  extra.find("persistent") != std::string::npos ||
                  extra.find("stored") != std::string::npos;
    existing.push_back(std::move(t));
  }
  for (const auto& c : p.columns) {
    auto it = std::find_if(existing.begin(), existing.end(),
                           [&](const TargetColumn& t) { return EqualsIgnoreCase(t.name, c.name); });
    if (it != existing.end()) {
      if (it->generated) {
        throw InvalidInput(s.table + " column '" + it->name +
                           "' is generated and cannot be loaded; leave it out of " + s.dataset);
      }
      p.load.push_back(c);
      p.target_names.push_back(it->name);
      p.stage_types.push_back(it->type);
      continue;
    }
    if (l_.new_columns == "fail") {
      throw InvalidInput(s.dataset + " has column '" + c.name + "' that " + s.table +
                         " lacks (new_columns: fail); add it to the table, or set new_columns: "
                         "add or ignore");
    }
    if (l_.new_columns == "ignore") continue;
    std::string type = my::MySqlType(c, false, 768, bin_collation_);
    p.load.push_back(c);
    p.target_names.push_back(c.name);
    p.stage_types.push_back(type);
    p.add.push_back("ADD COLUMN " + my::Ident(c.name) + " " + type);
    p.added.push_back(c.name);
  }
  for (const auto& t : existing) {
    if (!t.generated && std::none_of(p.target_names.begin(), p.target_names.end(),
                                     [&](const std::string& n) { return n == t.name; })) {
      p.unloaded.push_back(t.name);
    }
  }
  if (p.load.empty()) {
    throw InvalidInput(s.dataset + " has no column that " + s.table +
                       " has (new_columns: ignore); nothing would be loaded");
  }

  if (l_.mode == "merge") {
    // ON DUPLICATE KEY UPDATE matches on unique indexes: one must cover exactly the key.
    std::map<std::string, std::set<std::string>> unique;
    for (const auto& r :
         conn_.Query("SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE "
                     "TABLE_SCHEMA = " +
                     my::Literal(p.db) + " AND TABLE_NAME = " + my::Literal(p.name) +
                     " AND NON_UNIQUE = 0")) {
      unique[r[0].value_or("")].insert(ToLower(r[1].value_or("")));
    }
    std::set<std::string> key;
    for (const auto& k : l_.key) key.insert(ToLower(k));
    p.key_is_only_unique =
        unique.size() == 1 && unique.begin()->first == "PRIMARY" && unique.begin()->second == key;
    if (std::none_of(unique.begin(), unique.end(),
                     [&](const auto& u) { return u.second == key; })) {
      throw InvalidInput("merge needs a primary key or unique index on (" + Join(l_.key, ", ") +
                         ") in " + s.table + "; add one (ALTER TABLE " + p.target +
                         " ADD UNIQUE (...)), or use mode: append or replace");
    }
  }
}

std::string MySqlLoader::RowMessage(const Plan& p, uint64_t row, std::string msg) const {
  // The server names the staging or new table; the user knows the target.
  msg = ReplaceAll(msg, my::Ident(options_.database) + "." + my::Ident(p.stage) + ".", "");
  if (!p.shadow.empty()) msg = ReplaceAll(msg, p.shadow + ".", "");
  msg = ReplaceAll(msg, my::Ident(p.stage), my::Ident(p.name));
  return p.source->dataset + " row " + std::to_string(row) + ": " + msg;
}

void MySqlLoader::AppendRow(Plan& p, const engine::TypedBatch& b, size_t r, my::ValueFormat f,
                            bool lead, std::string& out) {
  size_t c = 0;
  try {
    for (; c < b.data.size(); c++) {
      if (c > 0 || lead) out.push_back(f == my::ValueFormat::kLoadData ? '\t' : ',');
      my::AppendValue(b.data[c], r, f, out);
    }
  } catch (const Error& e) {
    throw InvalidInput(p.source->dataset + " row " + std::to_string(p.sent + r + 1) + ", column '" +
                       b.columns[c].name + "': " + e.what());
  }
}

void MySqlLoader::Stage(Plan& p) {
  std::vector<std::string> defs = {my::Ident(kRowColumn) + " BIGINT UNSIGNED NOT NULL"};
  for (size_t i = 0; i < p.load.size(); i++) {
    defs.push_back(my::Ident(p.load[i].name) + " " + p.stage_types[i]);
  }
  defs.push_back("PRIMARY KEY (" + my::Ident(kRowColumn) + ")");
  conn_.Exec("DROP TEMPORARY TABLE IF EXISTS " + my::Ident(p.stage));
  conn_.Exec("CREATE TEMPORARY TABLE " + my::Ident(p.stage) + " (" + Join(defs, ", ") +
             ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
  if (!Fill(p, my::Ident(p.stage), true)) {
    throw InvalidInput(p.source->dataset + ": the server refused a row while staging: " + refusal_);
  }
}

void MySqlLoader::LoadDirectly(Plan& p) {
  conn_.Exec("SAVEPOINT sluice_direct");
  try {
    if (Fill(p, p.target, false)) return;
    ctx_.log->Info("the server refused a row of " + p.source->dataset + " (" + refusal_ +
                   "); loading it again through a staging table to find which");
  } catch (const Error& e) {
    // REPLACE needs the DELETE privilege, which an upsert does not.
    if (!p.replace || e.kind() == ErrorKind::kCancelled ||
        conn_.last_error().code != my::kTableAccessDenied) {
      throw;
    }
    ctx_.log->Info("the server refused LOAD DATA ... REPLACE into " + p.source->table + " (" +
                   conn_.last_error().message + "); loading it again through a staging table");
  }
  conn_.Exec("ROLLBACK TO SAVEPOINT sluice_direct");
  p.replace = false;
  Stage(p);
  ApplyStaged(p);
}

std::string MySqlLoader::ReplaceDiffers(const Plan& p) {
  // REPLACE deletes the row that has the key and inserts the new one. That ends where
  // INSERT ... ON DUPLICATE KEY UPDATE ends only when no other unique index can match (REPLACE
  // would delete every row it matches), the new row sets every column (REPLACE resets the
  // others to their defaults), no trigger sees a DELETE and INSERT instead of an UPDATE, no
  // foreign key points at the rows deleted (they would cascade or fail), and the dataset takes
  // each key once (REPLACE lets the last row win; a merge refuses the dataset). Keys must be
  // equal in the table exactly when they are equal in the dataset: integers into an integer
  // column, dates into a DATE column (a YEAR, FLOAT or DATETIME key column would make two keys
  // one). Anything this cannot see counts as there.
  if (conn_.ServerVersion().find("MariaDB") == std::string::npos) {
    return "MySQL's information_schema lists only the triggers this user may change";
  }
  if (!p.key_is_only_unique) return "the key is not its primary key and only unique index";
  if (!p.unloaded.empty()) return "the load does not set column " + Join(p.unloaded, ", ");
  static const std::set<std::string> kIntegers = {"TINYINT",  "SMALLINT",  "INTEGER",  "BIGINT",
                                                  "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"};
  std::vector<std::string> keys;
  for (size_t i = 0; i < p.load.size(); i++) {
    const auto& c = p.load[i];
    if (std::find(l_.key.begin(), l_.key.end(), c.name) == l_.key.end()) continue;
    std::string column = ToLower(p.stage_types[i]);
    bool integer_column = false;
    for (const char* t : {"tinyint", "smallint", "mediumint", "int", "bigint"}) {
      integer_column = integer_column || StartsWith(column, t);
    }
    bool alike = kIntegers.count(c.type) ? integer_column
                                         : c.type == "DATE" && StartsWith(column, "date") &&
                                               !StartsWith(column, "datetime");
    if (!alike) {
      return "key column " + c.name + " is " + c.type + " in the dataset and " + p.stage_types[i] +
             " in the table";
    }
    keys.push_back(SqlIdentifier(c.name));
  }
  auto plain = [](const std::string& n) {
    return !n.empty() && std::all_of(n.begin(), n.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    });
  };
  if (!plain(p.db) || !plain(p.name)) {
    return "its name is spelled differently in InnoDB's list of foreign keys";
  }
  auto any = [&](const std::string& sql) { return !conn_.Query(sql + " LIMIT 1").empty(); };
  if (any("SELECT 1 FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = " +
          my::Literal(p.db) + " AND EVENT_OBJECT_TABLE = " + my::Literal(p.name))) {
    return "it has triggers";
  }
  // information_schema.KEY_COLUMN_USAGE shows only the tables this user may read; InnoDB's own
  // list shows every foreign key, to a user with the PROCESS privilege.
  try {
    if (any("SELECT 1 FROM information_schema.INNODB_SYS_FOREIGN WHERE LOWER(REF_NAME) = "
            "LOWER(" +
            my::Literal(p.db + "/" + p.name) + ")")) {
      return "a foreign key refers to it";
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCancelled) throw;
    return "cannot tell which foreign keys refer to it (information_schema.INNODB_SYS_FOREIGN "
           "needs the PROCESS privilege)";
  }
  bool repeats = false;
  session_.Stream("SELECT 1 FROM " + p.source->sql + " GROUP BY " + Join(keys, ", ") +
                      " HAVING count(*) > 1 LIMIT 1",
                  [&](const engine::Batch& b) { repeats = repeats || b.num_rows > 0; });
  if (repeats) return "the dataset repeats a key";
  return "";
}

void MySqlLoader::ApplyStaged(Plan& p) {
  if (l_.mode == "merge") RefuseRepeatedKeys(p);
  ApplyRows(p, p.target, l_.mode == "merge");
}

bool MySqlLoader::Fill(Plan& p, const std::string& table, bool numbered) {
  std::vector<std::string> cols, select;
  if (numbered) cols.push_back(my::Ident(kRowColumn));
  for (const auto& c : p.load) {
    cols.push_back(my::Ident(c.name));
    select.push_back(my::SelectExpression(c));
  }
  std::string sql = "SELECT " + Join(select, ", ") + " FROM " + p.source->sql;
  p.sent = p.staged = 0;
  refusal_.clear();
  double start = SteadySeconds();
  bool ok = true;
  if (local_infile_) {
    try {
      ok = FillByLoadData(p, table, Join(cols, ", "), numbered, sql);
    } catch (const Error&) {
      if (!my::LocalInfileRefused(conn_.last_error().code) || p.sent > 0) throw;
      local_infile_ = false;
      ctx_.log->Info("the server refuses LOAD DATA LOCAL INFILE (" + conn_.last_error().message +
                     "); loading with multi-row INSERT statements instead, which is slower "
                     "(SET GLOBAL local_infile = 1 on the server enables the fast path)");
    }
  }
  if (!local_infile_) ok = FillByInsert(p, table, Join(cols, ", "), numbered, sql);
  if (ok && p.staged != p.sent) {
    refusal_ = "it took " + std::to_string(p.staged) + " of " + std::to_string(p.sent) + " rows";
    ok = false;
  }
  if (ok) {
    double secs = std::max(SteadySeconds() - start, 1e-6);
    ctx_.log->Info("sent " + HumanCount(p.staged) + " rows of " + p.source->dataset + " into " +
                   table + " by " + (local_infile_ ? "LOAD DATA LOCAL INFILE" : "INSERT") + " in " +
                   HumanSeconds(secs) + " (" +
                   HumanCount(static_cast<uint64_t>(static_cast<double>(p.staged) / secs)) +
                   " rows/s)");
  }
  return ok;
}

bool MySqlLoader::FillByLoadData(Plan& p, const std::string& table, const std::string& cols,
                                 bool numbered, const std::string& select) {
  bool replace = p.replace && table == p.target;
  // Must start with "LOAD": the client library accepts a file request only after such a query.
  std::string load = "LOAD DATA LOCAL INFILE 'sluice-stream' " +
                     std::string(replace ? "REPLACE " : "") + "INTO TABLE " + table +
                     " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
                     "LINES TERMINATED BY '\\n' (" +
                     cols + ")";
  uint64_t affected = 0;
  try {
    affected = LoadLocalRows(p, load, numbered, select);
  } catch (const Error&) {
    // With REPLACE, LOCAL does not turn the server's refusals into warnings: the statement fails.
    const auto& err = conn_.last_error();
    if (!replace || !my::IsRowError(err.code)) throw;
    std::string msg = err.message;
    if (auto row = TakeRow(&msg)) throw InvalidInput(RowMessage(p, *row, msg));
    refusal_ = msg;
    return false;
  }
  // A replaced row counts twice in the affected rows (deleted, inserted).
  p.staged = replace ? conn_.records_taken().value_or(affected) : affected;
  // LOCAL turns the server's refusals into warnings (it cannot stop the stream midway), and
  // skips a row with a duplicate key: any warning is a value not stored as it was sent.
  return conn_.warning_count() == 0 || CheckWarnings(p, 1);
}

uint64_t MySqlLoader::LoadLocalRows(Plan& p, const std::string& load, bool numbered,
                                    const std::string& select) {
  const auto format = my::ValueFormat::kLoadData;
  return conn_.LoadLocal(load, [&](my::InfileWriter& w) {
    session_.StreamTyped(select, [&](const engine::TypedBatch& b) {
      std::string& out = w.buffer();
      char num[24];
      for (size_t r = 0; r < b.num_rows; r++) {
        if (numbered) {
          out.append(num, std::to_chars(num, num + sizeof num, p.sent + r + 1).ptr);
        }
        AppendRow(p, b, r, format, numbered, out);
        out.push_back('\n');
      }
      p.sent += b.num_rows;
      w.Flush();
      ctx_.cancel->ThrowIfCancelled();
    });
  });
}

bool MySqlLoader::FillByInsert(Plan& p, const std::string& table, const std::string& cols,
                               bool numbered, const std::string& select) {
  bool replace = p.replace && table == p.target;
  const std::string head =
      (replace ? "REPLACE INTO " : "INSERT INTO ") + table + " (" + cols + ") VALUES ";
  const size_t limit = std::clamp<size_t>(conn_.max_allowed_packet() / 2, 64u << 10, 4u << 20);
  const auto format = my::ValueFormat::kSqlLiteral;
  std::string stmt = head;
  uint64_t first = 1;  // the dataset row of the statement's first row
  bool ok = true;
  auto send = [&](uint64_t next_first) {
    if (stmt.size() == head.size() || !ok) return;
    try {
      uint64_t affected = conn_.Exec(stmt);
      // A replaced row counts twice in the affected rows; REPLACE takes every row or fails.
      p.staged += replace ? (next_first != 0 ? next_first : p.sent + 1) - first : affected;
    } catch (const Error&) {
      const auto& err = conn_.last_error();
      if (!my::IsRowError(err.code)) throw;
      std::string msg = err.message;
      auto row = TakeRow(&msg);  // the row within the statement
      if (!row) {
        refusal_ = msg;
        ok = false;
        return;
      }
      throw InvalidInput(RowMessage(p, first + *row - 1, msg));
    }
    // Strict mode makes most refusals errors, but a rounded DECIMAL is only a note.
    if (conn_.warning_count() > 0 && !CheckWarnings(p, first)) ok = false;
    stmt.resize(head.size());
    first = next_first;
  };
  session_.StreamTyped(select, [&](const engine::TypedBatch& b) {
    char num[24];
    for (size_t r = 0; r < b.num_rows && ok; r++) {
      uint64_t row = p.sent + r + 1;
      if (stmt.size() > head.size()) stmt.push_back(',');
      stmt.push_back('(');
      if (numbered) stmt.append(num, std::to_chars(num, num + sizeof num, row).ptr);
      AppendRow(p, b, r, format, numbered, stmt);
      stmt.push_back(')');
      if (stmt.size() >= limit) send(row + 1);
    }
    p.sent += b.num_rows;
    ctx_.cancel->ThrowIfCancelled();
  });
  send(0);
  return ok;
}

bool MySqlLoader::CheckWarnings(Plan& p, uint64_t first_row) {
  auto warnings = conn_.Warnings(3);
  if (warnings.empty()) {
    refusal_ = "the server reported warnings";
    return false;
  }
  std::string msg = warnings[0].message;
  auto row = TakeRow(&msg);
  if (!row) {
    refusal_ = msg;
    return false;
  }
  throw InvalidInput(RowMessage(p, first_row + *row - 1, msg) +
                     " (the server would not store the value as it is)");
}

// Inserts (or upserts) the staged rows into `into` in dataset order. When the server refuses
// a row (a duplicate key, NULL in a NOT NULL column, a foreign key or CHECK constraint), the
// statement is rolled back by the server and the first refused row is found by bisection: rows
// before it are applied range by range (a failed range is rolled back on its own), so the work
// stays about twice the rows. The caller rolls back the whole transaction afterwards.
void MySqlLoader::ApplyRows(Plan& p, const std::string& into, bool upsert) {
  if (p.staged == 0) return;
  std::vector<std::string> target_cols, stage_cols, updates;
  for (size_t i = 0; i < p.load.size(); i++) {
    target_cols.push_back(my::Ident(p.target_names[i]));
    stage_cols.push_back(my::Ident(p.load[i].name));
    bool key = std::find(l_.key.begin(), l_.key.end(), p.load[i].name) != l_.key.end();
    if (!key) updates.push_back(target_cols.back() + " = VALUES(" + target_cols.back() + ")");
  }
  if (upsert && updates.empty()) {
    updates.push_back(target_cols[0] + " = " + target_cols[0]);  // every column is the key
  }
  std::string head = "INSERT INTO " + into + " (" + Join(target_cols, ", ") + ") SELECT " +
                     Join(stage_cols, ", ") + " FROM " + my::Ident(p.stage) + " WHERE " +
                     my::Ident(kRowColumn) + " BETWEEN ";
  std::string tail = " ORDER BY " + my::Ident(kRowColumn);
  if (upsert) tail += " ON DUPLICATE KEY UPDATE " + Join(updates, ", ");
  auto sql = [&](uint64_t a, uint64_t b) {
    return head + std::to_string(a) + " AND " + std::to_string(b) + tail;
  };
  auto row_error = [&] { return my::IsRowError(conn_.last_error().code); };
  try {
    conn_.Exec(sql(1, p.staged));
    return;
  } catch (const Error&) {
    if (!row_error() || !p.transactional) throw;
  }
  my::ServerError first = conn_.last_error();
  uint64_t done = 0, bad = p.staged;  // rows 1..done are applied; a refused row is <= bad
  while (bad - done > 1) {
    ctx_.cancel->ThrowIfCancelled();
    uint64_t mid = done + (bad - done) / 2;
    try {
      conn_.Exec(sql(done + 1, mid));
      done = mid;
    } catch (const Error&) {
      if (!row_error()) throw;
      bad = mid;
    }
  }
  try {
    conn_.Exec(sql(bad, bad));
  } catch (const Error&) {
    if (!row_error()) throw;
    std::string msg = conn_.last_error().message;
    TakeRow(&msg);
    throw InvalidInput(RowMessage(p, bad, msg));
  }
  throw InvalidInput(p.source->dataset + ": " + first.message);
}

void MySqlLoader::RefuseRepeatedKeys(const Plan& p) {
  // INSERT ... ON DUPLICATE KEY UPDATE would let the later row overwrite the earlier one; a
  // merge takes each key once (as in PostgreSQL, where ON CONFLICT refuses it). The staging
  // columns compare like the target's, so this finds what the unique index would match.
  if (p.staged < 2) return;
  std::vector<std::string> keys;
  for (const auto& k : l_.key) keys.push_back(my::Ident(k));
  std::string row = my::Ident(kRowColumn);
  auto dup =
      conn_.Query("SELECT " + row + " FROM (SELECT " + row + ", ROW_NUMBER() OVER (PARTITION BY " +
                  Join(keys, ", ") + " ORDER BY " + row + ") AS n FROM " + my::Ident(p.stage) +
                  ") t WHERE n = 2 ORDER BY " + row + " LIMIT 1");
  if (dup.empty()) return;
  throw InvalidInput(p.source->dataset + " row " + dup[0][0].value_or("?") + ": its key (" +
                     Join(l_.key, ", ") +
                     ") repeats an earlier row of the dataset; a merge takes each key once "
                     "(deduplicate in a model)");
}

void MySqlLoader::InsertLedgerRow(const Plan& p) {
  const LoadSource& s = *p.source;
  conn_.Exec("INSERT INTO " + ledger_ +
             " (dataset, `partition`, target, mode, run_id, attempt_id, `rows`, checksum) "
             "VALUES (" +
             my::Literal(s.dataset) + ", " + my::Literal(s.partition) + ", " +
             my::Literal(s.table) + ", " + my::Literal(l_.mode) + ", " +
             std::to_string(ctx_.run_id) + ", " + std::to_string(ctx_.attempt_id) + ", " +
             std::to_string(p.staged) + ", " + my::Literal(s.checksum) + ")");
}

state::TaskCounts MySqlLoader::PublishReplace() {
  state::TaskCounts counts;
  // Leftovers of a killed run (names are fixed per target, and the target is locked).
  for (auto& p : plans_) {
    conn_.Exec("DROP TABLE IF EXISTS " + p.shadow + ", " + p.old);
  }
  for (auto& p : plans_) {
    ctx_.cancel->ThrowIfCancelled();
    conn_.Exec("CREATE TABLE " + p.shadow + " " + p.table_ddl);
    shadows_.push_back(p.shadow);
    // The new table is nobody's yet: the rows go straight in. When the server skipped a row
    // without saying which (a duplicate key), the load is repeated through a staging table,
    // which finds the row.
    if (!Fill(p, p.shadow, false)) {
      ctx_.log->Info("the server refused a row of " + p.source->dataset + " (" + refusal_ +
                     "); finding which");
      conn_.Exec("DROP TABLE " + p.shadow);
      conn_.Exec("CREATE TABLE " + p.shadow + " " + p.table_ddl);
      Stage(p);
      ApplyRows(p, p.shadow, false);
    }
  }
  // One RENAME swaps every target of the task: readers see all old or all new tables. It is
  // the commit of a replace (MySQL's DDL commits on its own).
  std::vector<std::string> swap, undo;
  for (const auto& p : plans_) {
    if (p.exists) swap.push_back(p.target + " TO " + p.old);
    swap.push_back(p.shadow + " TO " + p.target);
    // A new target is moved aside too, so that a failure leaves no table behind.
    undo.push_back(p.target + " TO " + p.shadow);
    if (p.exists) undo.push_back(p.old + " TO " + p.target);
  }
  CommitLoad(
      ctx_, "mysql " + conn_.Describe(), [&] { conn_.Exec("RENAME TABLE " + Join(swap, ", ")); },
      [&]() -> std::optional<bool> {
        // The RENAME happened when the new tables are gone from their helper names.
        auto check = QuickConnection();
        for (const auto& p : plans_) {
          if (!check
                   ->Query("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
                           my::Literal(p.db) +
                           " AND TABLE_NAME = " + my::Literal(HelperName("_sluice_new_", p.name)))
                   .empty()) {
            return false;
          }
        }
        return true;
      });
  shadows_.clear();
  try {
    conn_.Exec("START TRANSACTION");
    for (const auto& p : plans_) InsertLedgerRow(p);
    conn_.Exec("COMMIT");
  } catch (const Error&) {
    // Swap back, so that a failure leaves the targets as they were.
    try {
      conn_.Exec("ROLLBACK");
      conn_.Exec("RENAME TABLE " + Join(undo, ", "));
      for (const auto& p : plans_) shadows_.push_back(p.shadow);
    } catch (const Error& e) {
      ctx_.log->Info("could not put the old tables back after a failure: " + std::string(e.what()));
    }
    throw;
  }
  FaultPoint("load.after_commit");
  for (const auto& p : plans_) {
    if (!p.exists) continue;
    try {
      conn_.Exec("DROP TABLE " + p.old);
    } catch (const Error& e) {
      // The load is done; the next load into this table drops it again.
      ctx_.log->Info("warning: could not drop the replaced table " + p.old + ": " + e.what());
    }
  }
  for (const auto& p : plans_) {
    ctx_.log->Info("loaded " + p.source->dataset + " " + p.source->partition + " -> " +
                   p.source->table + " (replace, " + std::to_string(p.staged) + " rows)");
    counts.rows_read += static_cast<int64_t>(p.sent);
    counts.rows_written += static_cast<int64_t>(p.staged);
  }
  return counts;
}

state::TaskCounts MySqlLoader::PublishInPlace() {
  state::TaskCounts counts;
  // Schema changes first: MySQL commits around them, but they change no row (an empty table,
  // columns that are NULL), and a failure below undoes them.
  for (auto& p : plans_) {
    if (p.skip) continue;
    if (p.create) {
      conn_.Exec("CREATE TABLE " + p.target + " " + p.table_ddl);
      created_.push_back(p.target);
      ctx_.log->Info("created " + p.source->table + " from the schema of " + p.source->dataset);
    } else if (!p.add.empty()) {
      conn_.Exec("ALTER TABLE " + p.target + " " + Join(p.add, ", "));
      p.altered = true;
      ctx_.log->Info("added columns to " + p.source->table + ": " + Join(p.added, ", "));
    }
  }
  conn_.Exec("START TRANSACTION");
  for (auto& p : plans_) {
    if (p.skip) continue;
    ctx_.cancel->ThrowIfCancelled();
    if (l_.mode == "truncate") conn_.Exec("DELETE FROM " + p.target);
    if (p.direct) {
      LoadDirectly(p);
    } else {
      ApplyStaged(p);
    }
    InsertLedgerRow(p);
  }
  CommitLoad(
      ctx_, "mysql " + conn_.Describe(), [&] { conn_.Exec("COMMIT"); },
      [&]() -> std::optional<bool> {
        // The ledger rows of this attempt were written in the committed transaction or not at
        // all (a new connection: the load's was lost or closed).
        auto check = QuickConnection();
        auto rows = check->Query("SELECT count(*) FROM " + ledger_ +
                                 " WHERE attempt_id = " + std::to_string(ctx_.attempt_id));
        return rows[0][0].value_or("0") != "0";
      });
  created_.clear();
  for (auto& p : plans_) {
    p.altered = false;
    if (p.skip) continue;
    ctx_.log->Info("loaded " + p.source->dataset + " " + p.source->partition + " -> " +
                   p.source->table + " (" + l_.mode + ", " + std::to_string(p.staged) + " rows)");
    counts.rows_read += static_cast<int64_t>(p.sent);
    counts.rows_written += static_cast<int64_t>(p.staged);
  }
  return counts;
}

std::unique_ptr<my::Connection> MySqlLoader::QuickConnection() {
  my::Options quick = options_;
  quick.connect_timeout_seconds = std::min(quick.connect_timeout_seconds, 5);
  quick.read_timeout_seconds = 5;
  return my::Connection::Open(quick);
}

void MySqlLoader::Cleanup(const std::string& what, const std::function<void(my::Connection&)>& fn) {
  try {
    try {
      fn(conn_);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kConnection && e.kind() != ErrorKind::kCancelled) throw;
      // The load's connection is gone (or was cancelled): the server has rolled back its
      // transaction, and a new connection does the rest.
      auto fresh = my::Connection::Open(options_);
      fn(*fresh);
    }
  } catch (const Error& e) {
    ctx_.log->Info("warning: could not " + what + " after the failure: " + e.what());
  }
}

void MySqlLoader::UndoSchemaChanges() {
  bool pending = !created_.empty();
  for (const auto& p : plans_) pending = pending || p.altered;
  if (!pending) return;
  Cleanup("undo the schema changes (they change no row; the next run uses them)",
          [&](my::Connection& c) {
            c.Exec("ROLLBACK");
            for (const auto& t : created_) {
              // Only while empty: the failed transaction left no row, and nobody else's go.
              if (c.Query("SELECT 1 FROM " + t + " LIMIT 1").empty()) c.Exec("DROP TABLE " + t);
            }
            for (const auto& p : plans_) {
              if (!p.altered) continue;
              std::vector<std::string> drops;
              for (const auto& a : p.added) drops.push_back("DROP COLUMN " + my::Ident(a));
              c.Exec("ALTER TABLE " + p.target + " " + Join(drops, ", "));
            }
          });
}

void MySqlLoader::DropShadows() {
  if (shadows_.empty()) return;
  Cleanup("drop the new tables (the next load into the same tables drops them)",
          [&](my::Connection& c) {
            for (const auto& t : shadows_) c.Exec("DROP TABLE IF EXISTS " + t);
          });
}

}  // namespace

state::TaskCounts RunMySqlLoad(TaskContext& ctx, const std::vector<LoadSource>& sources) {
  const auto& l = ctx.task->load;
  const auto& spec = ctx.spec->connections.at(l.connection);
  my::Options options = my::OptionsFromConnection(spec, ctx.spec->dir);
  auto conn = my::Connection::Open(options, ctx.cancel);
  std::string where = "mysql " + conn->Describe();
  ctx.log->Info("connected to " + where + " (server " + conn->ServerVersion() + ")");
  auto session = ctx.Connect("loading into " + where);
  MySqlLoader loader(ctx, options, *conn, *session);
  return GuardLoad(
      ctx, where, [&] { return loader.Run(sources); },
      [&] {
        try {
          conn->Exec("ROLLBACK");
        } catch (const Error&) {
        }
        loader.DropShadows();
        loader.UndoSchemaChanges();
      });
}

}  // namespace sluice::tasks
