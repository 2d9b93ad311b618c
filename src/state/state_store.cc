#include "state/state_store.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/time.h"

namespace sluice::state {
namespace {

// Version 1: runs, task_attempts, publish_journal, watermarks. Version 2 (the scheduler): a
// run's key and data interval, interrupted runs, paused pipelines, sent notifications. Bump and
// add a migration in Open when the schema changes; never edit a released version's statements.
constexpr int kSchemaVersion = 2;

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline TEXT NOT NULL,
  ds TEXT NOT NULL,
  status TEXT NOT NULL,
  trigger TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  pid INTEGER NOT NULL,
  error TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, ds);
CREATE TABLE IF NOT EXISTS task_attempts (
  attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL REFERENCES runs (run_id),
  pipeline TEXT NOT NULL,
  ds TEXT NOT NULL,
  task_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  status TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  rows_read INTEGER NOT NULL DEFAULT 0,
  rows_written INTEGER NOT NULL DEFAULT 0,
  rows_rejected INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  log_path TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_task ON task_attempts (pipeline, ds, task_id);
CREATE INDEX IF NOT EXISTS attempts_by_run ON task_attempts (run_id);
CREATE TABLE IF NOT EXISTS publish_journal (
  journal_id INTEGER PRIMARY KEY AUTOINCREMENT,
  attempt_id INTEGER NOT NULL,
  dataset TEXT NOT NULL,
  partition TEXT NOT NULL,
  staging_path TEXT NOT NULL,
  final_path TEXT NOT NULL,
  backup_path TEXT NOT NULL,
  step TEXT NOT NULL,
  created_at TEXT NOT NULL
);
-- A load between its commit and the end of its attempt: the runner cannot take the lease of
-- such an attempt (added after version 1; older binaries ignore it).
CREATE TABLE IF NOT EXISTS commit_leases (
  attempt_id INTEGER PRIMARY KEY,
  target TEXT NOT NULL,
  started_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS watermarks (
  pipeline TEXT NOT NULL,
  task_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (pipeline, task_id, key)
);
)sql";

// Version 1 -> 2. run_key identifies a scheduled run: ds for schedules that fire at most once a
// day, ds plus the local time for those that fire more often.
constexpr const char* kMigrateToV2 = R"sql(
ALTER TABLE runs ADD COLUMN run_key TEXT;
ALTER TABLE runs ADD COLUMN interval_start TEXT;
ALTER TABLE runs ADD COLUMN interval_end TEXT;
ALTER TABLE runs ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE task_attempts ADD COLUMN run_key TEXT;
UPDATE runs SET run_key = ds WHERE run_key IS NULL;
UPDATE task_attempts SET run_key = ds WHERE run_key IS NULL;
CREATE INDEX IF NOT EXISTS runs_by_key ON runs (pipeline, run_key);
CREATE INDEX IF NOT EXISTS attempts_by_key ON task_attempts (pipeline, run_key, task_id);
CREATE TABLE IF NOT EXISTS pipeline_state (
  pipeline TEXT PRIMARY KEY,
  paused INTEGER NOT NULL DEFAULT 0,
  first_seen TEXT,
  updated_at TEXT
);
CREATE TABLE IF NOT EXISTS notifications (
  pipeline TEXT NOT NULL,
  run_key TEXT NOT NULL,
  kind TEXT NOT NULL,
  sent_at TEXT NOT NULL,
  PRIMARY KEY (pipeline, run_key, kind)
);
CREATE TABLE IF NOT EXISTS pool_slots (
  pool TEXT NOT NULL,
  holder TEXT NOT NULL,
  pid INTEGER NOT NULL,
  taken_at TEXT NOT NULL,
  PRIMARY KEY (pool, holder)
);
)sql";

// A prepared statement bound positionally; reset and finalized by the destructor.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql, const std::string& path) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
      throw IoError("state store '" + path + "': " + sqlite3_errmsg(db));
    }
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt& Bind(const std::string& v) {
    sqlite3_bind_text(stmt_, ++idx_, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(const char* v) { return Bind(std::string(v)); }
  Stmt& Bind(int64_t v) {
    sqlite3_bind_int64(stmt_, ++idx_, v);
    return *this;
  }
  Stmt& Bind(int v) { return Bind(static_cast<int64_t>(v)); }
  // Returns true when a row is available.
  bool Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw IoError("state store '" + path_ + "': " + sqlite3_errmsg(db_));
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    auto* p = sqlite3_column_text(stmt_, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int idx_ = 0;
  std::string path_;
};

// When process pid started, in seconds since the epoch, from /proc; 0 when unknown.
double ProcessStartTime(int64_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  auto paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));
  std::string f;
  // Field 22 (starttime) is the 20th after the command name.
  for (int i = 0; i < 20 && fields >> f; i++) {
  }
  double ticks = std::atof(f.c_str());
  std::ifstream proc_stat("/proc/stat");
  std::string line;
  double boot = 0;
  while (std::getline(proc_stat, line)) {
    if (line.rfind("btime ", 0) == 0) boot = std::atof(line.c_str() + 6);
  }
  long hz = ::sysconf(_SC_CLK_TCK);
  return boot > 0 && hz > 0 ? boot + ticks / static_cast<double>(hz) : 0;
}

// True when pid has exited and waits to be reaped (state Z or X in /proc/<pid>/stat).
bool ProcessIsZombie(int64_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return false;
  char state = text[paren + 2];
  return state == 'Z' || state == 'X';
}

// Seconds since the epoch of a NowIso() timestamp; 0 when malformed.
double ParseIso(const std::string& iso) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + ms / 1000.0;
}

// True when the process that started a run at started_at still runs. A live pid that started
// after the run is another process that got the same pid (in a container every sluice is
// pid 1), so the run's process is gone.
bool ProcessAlive(int64_t pid, const std::string& started_at = "") {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  if (ProcessIsZombie(pid)) return false;  // dead, waiting for its parent to reap it
  double run_start = started_at.empty() ? 0 : ParseIso(started_at);
  double process_start = ProcessStartTime(pid);
  if (run_start > 0 && process_start > 0 && process_start > run_start + 2) return false;
  return true;
}

constexpr const char* kAttemptColumns =
    "attempt_id, run_id, task_id, attempt, status, started_at, ended_at, rows_read, "
    "rows_written, rows_rejected, bytes, error, log_path";

AttemptRecord ReadAttempt(Stmt& s) {
  AttemptRecord a;
  a.attempt_id = s.Int(0);
  a.run_id = s.Int(1);
  a.task_id = s.Text(2);
  a.attempt = static_cast<int>(s.Int(3));
  a.status = s.Text(4);
  a.started_at = s.Text(5);
  a.ended_at = s.Text(6);
  a.counts.rows_read = s.Int(7);
  a.counts.rows_written = s.Int(8);
  a.counts.rows_rejected = s.Int(9);
  a.counts.bytes = s.Int(10);
  a.error = s.Text(11);
  a.log_path = s.Text(12);
  return a;
}

constexpr const char* kRunColumns =
    "run_id, pipeline, ds, status, trigger, started_at, ended_at, pid, error, run_key, "
    "interval_start, interval_end, interrupted";

RunRecord ReadRun(Stmt& s) {
  RunRecord r;
  r.run_id = s.Int(0);
  r.pipeline = s.Text(1);
  r.ds = s.Text(2);
  r.status = s.Text(3);
  r.trigger = s.Text(4);
  r.started_at = s.Text(5);
  r.ended_at = s.Text(6);
  r.pid = s.Int(7);
  r.error = s.Text(8);
  r.run_key = s.Text(9);
  r.interval_start = s.Text(10);
  r.interval_end = s.Text(11);
  r.interrupted = s.Int(12) != 0;
  return r;
}

}  // namespace

std::unique_ptr<StateStore> StateStore::Open(const std::string& path) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) throw IoError("cannot create state folder '" + parent.string() + "': " + ec.message());
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw IoError(
        "cannot open state store '" + path + "': " + msg + " (check that the folder is writable)",
        false);
  }
  std::unique_ptr<StateStore> store(new StateStore(db, path));
  sqlite3_busy_timeout(db, 10000);
  store->Exec("PRAGMA journal_mode=WAL");
  store->Exec("PRAGMA synchronous=FULL");
  store->Exec("BEGIN IMMEDIATE");
  store->Exec(kSchemaV1);
  int version = 1;
  {
    Stmt s(db, "SELECT value FROM meta WHERE key = 'schema_version'", path);
    if (s.Step()) {
      version = std::stoi(s.Text(0));
    } else {
      Stmt ins(db, "INSERT INTO meta (key, value) VALUES ('schema_version', '1')", path);
      ins.Step();
    }
  }
  if (version > kSchemaVersion) {
    store->Exec("ROLLBACK");
    throw InvalidInput("state store '" + path + "' has schema version " + std::to_string(version) +
                       ", newer than this sluice understands (" + std::to_string(kSchemaVersion) +
                       "); upgrade sluice");
  }
  if (version < 2) {
    store->Exec(kMigrateToV2);
    store->Exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
  }
  store->Exec("COMMIT");
  return store;
}

StateStore::~StateStore() { sqlite3_close(db_); }

void StateStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw IoError("state store '" + path_ + "': " + msg);
  }
}

int64_t StateStore::BeginRun(const std::string& pipeline, const std::string& ds,
                             const std::string& trigger) {
  RunStart r;
  r.pipeline = pipeline;
  r.ds = ds;
  r.run_key = ds;
  r.trigger = trigger;
  return BeginRun(r);
}

int64_t StateStore::BeginRun(const RunStart& start) {
  const std::string& pipeline = start.pipeline;
  const std::string& ds = start.ds;
  std::lock_guard<std::mutex> lock(mu_);
  Exec("BEGIN IMMEDIATE");
  try {
    Stmt live(db_,
              "SELECT run_id, pid, started_at FROM runs WHERE pipeline = ? AND ds = ? AND "
              "status = 'running'",
              path_);
    live.Bind(pipeline).Bind(ds);
    while (live.Step()) {
      if (ProcessAlive(live.Int(1), live.Text(2)) && live.Int(1) != ::getpid()) {
        throw InvalidInput("pipeline '" + pipeline + "' is already running for " + ds + " (run " +
                           std::to_string(live.Int(0)) + ", pid " + std::to_string(live.Int(1)) +
                           "); wait for it or stop it first");
      }
    }
    Stmt s(db_,
           "INSERT INTO runs (pipeline, ds, status, trigger, started_at, pid, run_key, "
           "interval_start, interval_end) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
           path_);
    s.Bind(pipeline).Bind(ds).Bind(start.trigger).Bind(NowIso());
    s.Bind(static_cast<int64_t>(::getpid()))
        .Bind(start.run_key.empty() ? ds : start.run_key)
        .Bind(start.interval_start)
        .Bind(start.interval_end);
    s.Step();
    int64_t id = sqlite3_last_insert_rowid(db_);
    Exec("COMMIT");
    return id;
  } catch (...) {
    Exec("ROLLBACK");
    throw;
  }
}

void StateStore::EndRun(int64_t run_id, const std::string& status, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE run_id = ?", path_);
  s.Bind(status).Bind(NowIso()).Bind(RedactSecrets(error)).Bind(run_id).Step();
}

int StateStore::CloseDeadRuns() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> dead;
  {
    Stmt s(db_, "SELECT run_id, pid, started_at FROM runs WHERE status = 'running'", path_);
    while (s.Step()) {
      if (!ProcessAlive(s.Int(1), s.Text(2))) dead.push_back(s.Int(0));
    }
  }
  for (int64_t id : dead) {
    const char* why = "the sluice process died (killed or crashed) before the run ended";
    Stmt r(db_,
           "UPDATE runs SET status = 'failed', ended_at = ?, error = ?, interrupted = 1 WHERE "
           "run_id = ?",
           path_);
    r.Bind(NowIso()).Bind(why).Bind(id).Step();
    Stmt a(db_,
           "UPDATE task_attempts SET status = 'failed', ended_at = ?, error = ? "
           "WHERE run_id = ? AND status = 'running'",
           path_);
    a.Bind(NowIso()).Bind(why).Bind(id).Step();
    Stmt c(db_,
           "DELETE FROM commit_leases WHERE attempt_id IN (SELECT attempt_id FROM task_attempts "
           "WHERE run_id = ?)",
           path_);
    c.Bind(id).Step();
  }
  return static_cast<int>(dead.size());
}

int64_t StateStore::BeginAttempt(int64_t run_id, const std::string& pipeline, const std::string& ds,
                                 const std::string& task_id, int attempt,
                                 const std::string& log_path) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "INSERT INTO task_attempts (run_id, pipeline, ds, task_id, attempt, status, started_at, "
         "log_path, run_key) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, (SELECT run_key FROM runs "
         "WHERE run_id = ?))",
         path_);
  s.Bind(run_id).Bind(pipeline).Bind(ds).Bind(task_id).Bind(attempt).Bind(NowIso()).Bind(log_path);
  s.Bind(run_id);
  s.Step();
  return sqlite3_last_insert_rowid(db_);
}

bool StateStore::EndAttempt(int64_t attempt_id, const std::string& status, const TaskCounts& counts,
                            const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt c(db_, "DELETE FROM commit_leases WHERE attempt_id = ?", path_);
  c.Bind(attempt_id).Step();
  Stmt s(db_,
         "UPDATE task_attempts SET status = ?, ended_at = ?, rows_read = ?, rows_written = ?, "
         "rows_rejected = ?, bytes = ?, error = ? WHERE attempt_id = ? AND status = 'running'",
         path_);
  s.Bind(status).Bind(NowIso()).Bind(counts.rows_read).Bind(counts.rows_written);
  s.Bind(counts.rows_rejected)
      .Bind(counts.bytes)
      .Bind(RedactSecrets(error))
      .Bind(attempt_id)
      .Step();
  return sqlite3_changes(db_) > 0;
}

StateStore::Revoke StateStore::RevokeLease(int64_t attempt_id, const std::string& status,
                                           const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  // IMMEDIATE: serialized with JournalBegin, so a lease is never taken between the lease check
  // of a publish and its journal row.
  Exec("BEGIN IMMEDIATE");
  try {
    Stmt j(db_, "SELECT count(*) FROM publish_journal WHERE attempt_id = ?", path_);
    j.Bind(attempt_id);
    j.Step();
    if (j.Int(0) > 0) {
      Exec("COMMIT");
      return Revoke::kPublishing;
    }
    Stmt c(db_, "SELECT count(*) FROM commit_leases WHERE attempt_id = ?", path_);
    c.Bind(attempt_id);
    c.Step();
    if (c.Int(0) > 0) {
      Exec("COMMIT");
      return Revoke::kCommitting;
    }
    Stmt s(db_,
           "UPDATE task_attempts SET status = ?, ended_at = ?, error = ? "
           "WHERE attempt_id = ? AND status = 'running'",
           path_);
    s.Bind(status).Bind(NowIso()).Bind(RedactSecrets(error)).Bind(attempt_id).Step();
    bool changed = sqlite3_changes(db_) > 0;
    Exec("COMMIT");
    return changed ? Revoke::kRevoked : Revoke::kNotRunning;
  } catch (...) {
    Exec("ROLLBACK");
    throw;
  }
}

std::optional<AttemptRecord> StateStore::LastSuccess(const std::string& pipeline,
                                                     const std::string& run_key,
                                                     const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         std::string("SELECT ") + kAttemptColumns +
             " FROM task_attempts WHERE pipeline = ? AND run_key = ? AND task_id = ? AND "
             "status = 'success' ORDER BY attempt_id DESC LIMIT 1",
         path_);
  s.Bind(pipeline).Bind(run_key).Bind(task_id);
  if (!s.Step()) return std::nullopt;
  return ReadAttempt(s);
}

std::optional<RunRecord> StateStore::LatestRun(const std::string& pipeline,
                                               const std::string& run_key) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         std::string("SELECT ") + kRunColumns +
             " FROM runs WHERE pipeline = ? AND run_key = ? ORDER BY run_id DESC LIMIT 1",
         path_);
  s.Bind(pipeline).Bind(run_key);
  if (!s.Step()) return std::nullopt;
  return ReadRun(s);
}

std::map<std::string, RunKeyState> StateStore::RunKeys(const std::string& pipeline) {
  std::lock_guard<std::mutex> lock(mu_);
  // SQLite takes the bare columns of a max() aggregate from the row holding the max.
  Stmt s(db_,
         "SELECT run_key, max(run_id), ds, status, pid, started_at, sum(interrupted), interrupted "
         "FROM runs "
         "WHERE pipeline = ? GROUP BY run_key",
         path_);
  s.Bind(pipeline);
  std::map<std::string, RunKeyState> out;
  while (s.Step()) {
    RunKeyState k;
    k.run_id = s.Int(1);
    k.ds = s.Text(2);
    k.status = s.Text(3);
    k.live = k.status == "running" && ProcessAlive(s.Int(4), s.Text(5));
    k.interrupted = static_cast<int>(s.Int(6));
    k.last_interrupted = s.Int(7) != 0;
    out[s.Text(0)] = k;
  }
  return out;
}

int StateStore::InterruptedRuns(const std::string& pipeline, const std::string& run_key) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "SELECT count(*) FROM runs WHERE pipeline = ? AND run_key = ? AND interrupted = 1",
         path_);
  s.Bind(pipeline).Bind(run_key);
  s.Step();
  return static_cast<int>(s.Int(0));
}

void StateStore::SetPaused(const std::string& pipeline, bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "INSERT INTO pipeline_state (pipeline, paused, first_seen, updated_at) VALUES (?, ?, ?, "
         "?) ON CONFLICT (pipeline) DO UPDATE SET paused = excluded.paused, updated_at = "
         "excluded.updated_at",
         path_);
  s.Bind(pipeline).Bind(static_cast<int64_t>(paused ? 1 : 0)).Bind(NowIso()).Bind(NowIso()).Step();
}

bool StateStore::IsPaused(const std::string& pipeline) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "SELECT paused FROM pipeline_state WHERE pipeline = ?", path_);
  s.Bind(pipeline);
  return s.Step() && s.Int(0) != 0;
}

std::string StateStore::FirstSeen(const std::string& pipeline) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt ins(db_,
           "INSERT INTO pipeline_state (pipeline, paused, first_seen, updated_at) VALUES (?, 0, "
           "?, ?) ON CONFLICT (pipeline) DO UPDATE SET first_seen = coalesce(first_seen, "
           "excluded.first_seen)",
           path_);
  ins.Bind(pipeline).Bind(NowIso()).Bind(NowIso()).Step();
  Stmt s(db_, "SELECT first_seen FROM pipeline_state WHERE pipeline = ?", path_);
  s.Bind(pipeline);
  return s.Step() ? s.Text(0) : "";
}

int StateStore::ClearTasks(const std::string& pipeline, const std::string& ds,
                           const std::vector<std::string>& tasks) {
  std::lock_guard<std::mutex> lock(mu_);
  Exec("BEGIN IMMEDIATE");
  try {
    int changed = 0;
    for (const auto& t : tasks) {
      Stmt s(db_,
             "UPDATE task_attempts SET status = 'cleared' WHERE pipeline = ? AND ds = ? AND "
             "task_id = ? AND status = 'success'",
             path_);
      s.Bind(pipeline).Bind(ds).Bind(t).Step();
      changed += sqlite3_changes(db_);
    }
    // The runs of the date are due again for the scheduler.
    Stmt r(db_,
           "UPDATE runs SET status = 'cleared' WHERE pipeline = ? AND ds = ? AND status IN "
           "('success', 'failed', 'cancelled')",
           path_);
    r.Bind(pipeline).Bind(ds).Step();
    Exec("COMMIT");
    return changed;
  } catch (...) {
    Exec("ROLLBACK");
    throw;
  }
}

bool StateStore::TakePoolSlot(const std::string& pool, int size, const std::string& holder) {
  std::lock_guard<std::mutex> lock(mu_);
  Exec("BEGIN IMMEDIATE");
  try {
    // Slots of processes that are gone (killed mid-task) are free again.
    std::vector<std::pair<int64_t, std::string>> dead;
    {
      Stmt s(db_, "SELECT DISTINCT pid, taken_at FROM pool_slots WHERE pool = ?", path_);
      s.Bind(pool);
      while (s.Step()) {
        if (!ProcessAlive(s.Int(0), s.Text(1))) dead.emplace_back(s.Int(0), s.Text(1));
      }
    }
    for (const auto& [pid, taken_at] : dead) {
      Stmt d(db_, "DELETE FROM pool_slots WHERE pid = ? AND taken_at = ?", path_);
      d.Bind(pid).Bind(taken_at).Step();
    }
    Stmt c(db_, "SELECT count(*) FROM pool_slots WHERE pool = ?", path_);
    c.Bind(pool).Step();
    bool free = c.Int(0) < size;
    if (free) {
      Stmt ins(db_,
               "INSERT OR REPLACE INTO pool_slots (pool, holder, pid, taken_at) VALUES (?, ?, ?, "
               "?)",
               path_);
      ins.Bind(pool).Bind(holder).Bind(static_cast<int64_t>(::getpid())).Bind(NowIso()).Step();
    }
    Exec("COMMIT");
    return free;
  } catch (...) {
    Exec("ROLLBACK");
    throw;
  }
}

void StateStore::ReleasePoolSlot(const std::string& pool, const std::string& holder) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt d(db_, "DELETE FROM pool_slots WHERE pool = ? AND holder = ? AND pid = ?", path_);
  d.Bind(pool).Bind(holder).Bind(static_cast<int64_t>(::getpid())).Step();
}

int StateStore::PoolSlotsInUse(const std::string& pool) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt c(db_, "SELECT count(*) FROM pool_slots WHERE pool = ?", path_);
  c.Bind(pool).Step();
  return static_cast<int>(c.Int(0));
}

bool StateStore::MarkNotified(const std::string& pipeline, const std::string& run_key,
                              const std::string& kind) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "INSERT OR IGNORE INTO notifications (pipeline, run_key, kind, sent_at) VALUES (?, ?, "
         "?, ?)",
         path_);
  s.Bind(pipeline).Bind(run_key).Bind(kind).Bind(NowIso()).Step();
  return sqlite3_changes(db_) > 0;
}

std::optional<AttemptRecord> StateStore::GetAttempt(int64_t attempt_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, std::string("SELECT ") + kAttemptColumns + " FROM task_attempts WHERE attempt_id = ?",
         path_);
  s.Bind(attempt_id);
  if (!s.Step()) return std::nullopt;
  return ReadAttempt(s);
}

std::vector<RunRecord> StateStore::ListRuns(const std::string& pipeline, const std::string& ds,
                                            int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         std::string("SELECT ") + kRunColumns +
             " FROM runs WHERE pipeline = ? AND (? = '' OR ds = ?) ORDER BY run_id DESC LIMIT ?",
         path_);
  s.Bind(pipeline).Bind(ds).Bind(ds).Bind(limit);
  std::vector<RunRecord> out;
  while (s.Step()) out.push_back(ReadRun(s));
  return out;
}

std::vector<RunRecord> StateStore::RunsPage(const std::string& pipeline, int64_t before_run_id,
                                            int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         std::string("SELECT ") + kRunColumns +
             " FROM runs WHERE pipeline = ? AND (? = 0 OR run_id < ?) ORDER BY run_id DESC LIMIT ?",
         path_);
  s.Bind(pipeline).Bind(before_run_id).Bind(before_run_id).Bind(limit);
  std::vector<RunRecord> out;
  while (s.Step()) out.push_back(ReadRun(s));
  return out;
}

std::vector<RunRecord> StateStore::LatestRunPerKey(const std::string& pipeline,
                                                   const std::string& before_key, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         std::string("SELECT ") + kRunColumns +
             " FROM runs WHERE run_id IN (SELECT max(run_id) FROM runs WHERE pipeline = ? AND "
             "(? = '' OR run_key < ?) GROUP BY run_key) ORDER BY run_key DESC LIMIT ?",
         path_);
  s.Bind(pipeline).Bind(before_key).Bind(before_key).Bind(limit);
  std::vector<RunRecord> out;
  while (s.Step()) out.push_back(ReadRun(s));
  return out;
}

std::vector<AttemptRecord> StateStore::AttemptsOfRuns(const std::vector<int64_t>& run_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AttemptRecord> out;
  for (size_t i = 0; i < run_ids.size(); i += 100) {
    std::string marks;
    for (size_t k = i; k < std::min(run_ids.size(), i + 100); k++) marks += k > i ? ",?" : "?";
    Stmt s(db_,
           std::string("SELECT ") + kAttemptColumns + " FROM task_attempts WHERE run_id IN (" +
               marks + ") ORDER BY attempt_id",
           path_);
    for (size_t k = i; k < std::min(run_ids.size(), i + 100); k++) s.Bind(run_ids[k]);
    while (s.Step()) out.push_back(ReadAttempt(s));
  }
  return out;
}

std::vector<StateStore::AttemptCell> StateStore::AttemptCells(
    const std::string& pipeline, const std::vector<std::string>& run_keys) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AttemptCell> out;
  for (size_t i = 0; i < run_keys.size(); i += 100) {
    std::string marks;
    for (size_t k = i; k < std::min(run_keys.size(), i + 100); k++) marks += k > i ? ",?" : "?";
    Stmt s(db_,
           "SELECT attempt_id, run_id, task_id, status, run_key FROM task_attempts WHERE "
           "pipeline = ? AND run_key IN (" +
               marks + ") ORDER BY attempt_id",
           path_);
    s.Bind(pipeline);
    for (size_t k = i; k < std::min(run_keys.size(), i + 100); k++) s.Bind(run_keys[k]);
    while (s.Step()) out.push_back({s.Int(0), s.Int(1), s.Text(2), s.Text(3), s.Text(4)});
  }
  return out;
}

std::map<std::string, AttemptRecord> StateStore::LatestAttemptPerTask(const std::string& pipeline) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         std::string("SELECT ") + kAttemptColumns +
             " FROM task_attempts WHERE attempt_id IN (SELECT max(attempt_id) FROM task_attempts "
             "WHERE pipeline = ? GROUP BY task_id)",
         path_);
  s.Bind(pipeline);
  std::map<std::string, AttemptRecord> out;
  while (s.Step()) {
    auto a = ReadAttempt(s);
    out[a.task_id] = a;
  }
  return out;
}

std::optional<int64_t> StateStore::LivePid(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "SELECT pid, started_at FROM runs WHERE run_id = ? AND status = 'running'", path_);
  s.Bind(run_id);
  if (!s.Step() || !ProcessAlive(s.Int(0), s.Text(1))) return std::nullopt;
  return s.Int(0);
}

std::optional<RunRecord> StateStore::GetRun(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_id = ?", path_);
  s.Bind(run_id);
  if (!s.Step()) return std::nullopt;
  return ReadRun(s);
}

std::vector<AttemptRecord> StateStore::ListAttempts(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         std::string("SELECT ") + kAttemptColumns +
             " FROM task_attempts WHERE run_id = ? ORDER BY attempt_id",
         path_);
  s.Bind(run_id);
  std::vector<AttemptRecord> out;
  while (s.Step()) out.push_back(ReadAttempt(s));
  return out;
}

std::vector<AttemptRecord> StateStore::TaskHistory(const std::string& pipeline,
                                                   const std::string& ds,
                                                   const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         std::string("SELECT ") + kAttemptColumns +
             " FROM task_attempts WHERE pipeline = ? AND ds = ? AND task_id = ? "
             "ORDER BY attempt_id",
         path_);
  s.Bind(pipeline).Bind(ds).Bind(task_id);
  std::vector<AttemptRecord> out;
  while (s.Step()) out.push_back(ReadAttempt(s));
  return out;
}

bool StateStore::BeginCommit(int64_t attempt_id, const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  // IMMEDIATE: serialized with RevokeLease, like JournalBegin.
  Exec("BEGIN IMMEDIATE");
  try {
    Stmt lease(db_, "SELECT status FROM task_attempts WHERE attempt_id = ?", path_);
    lease.Bind(attempt_id);
    std::string status = lease.Step() ? lease.Text(0) : "missing";
    if (status != "running") {
      Exec("COMMIT");
      return false;
    }
    Stmt ins(db_,
             "INSERT OR REPLACE INTO commit_leases (attempt_id, target, started_at) VALUES (?, ?, "
             "?)",
             path_);
    ins.Bind(attempt_id).Bind(RedactSecrets(target)).Bind(NowIso()).Step();
    Exec("COMMIT");
    return true;
  } catch (...) {
    Exec("ROLLBACK");
    throw;
  }
}

int64_t StateStore::JournalBegin(const JournalEntry& e) {
  std::lock_guard<std::mutex> lock(mu_);
  Exec("BEGIN IMMEDIATE");
  try {
    Stmt lease(db_, "SELECT status FROM task_attempts WHERE attempt_id = ?", path_);
    lease.Bind(e.attempt_id);
    std::string status = lease.Step() ? lease.Text(0) : "missing";
    if (status != "running") {
      throw Cancelled("publish of " + e.dataset + " " + e.partition + " refused: attempt " +
                      std::to_string(e.attempt_id) + " lost its lease (it is '" + status +
                      "'); a newer attempt owns the partition");
    }
    Stmt s(db_,
           "INSERT INTO publish_journal (attempt_id, dataset, partition, staging_path, "
           "final_path, backup_path, step, created_at) VALUES (?, ?, ?, ?, ?, ?, 'begun', ?)",
           path_);
    s.Bind(e.attempt_id).Bind(e.dataset).Bind(e.partition).Bind(e.staging_path);
    s.Bind(e.final_path).Bind(e.backup_path).Bind(NowIso()).Step();
    int64_t id = sqlite3_last_insert_rowid(db_);
    Exec("COMMIT");
    return id;
  } catch (...) {
    Exec("ROLLBACK");
    throw;
  }
}

void StateStore::JournalStep(int64_t journal_id, const std::string& step) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "UPDATE publish_journal SET step = ? WHERE journal_id = ?", path_);
  s.Bind(step).Bind(journal_id).Step();
}

void StateStore::JournalDone(int64_t journal_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "DELETE FROM publish_journal WHERE journal_id = ?", path_);
  s.Bind(journal_id).Step();
}

std::vector<JournalEntry> StateStore::OpenJournal() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "SELECT journal_id, attempt_id, dataset, partition, staging_path, final_path, "
         "backup_path, step FROM publish_journal ORDER BY journal_id",
         path_);
  std::vector<JournalEntry> out;
  while (s.Step()) {
    JournalEntry e;
    e.journal_id = s.Int(0);
    e.attempt_id = s.Int(1);
    e.dataset = s.Text(2);
    e.partition = s.Text(3);
    e.staging_path = s.Text(4);
    e.final_path = s.Text(5);
    e.backup_path = s.Text(6);
    e.step = s.Text(7);
    out.push_back(e);
  }
  return out;
}

std::optional<std::string> StateStore::GetWatermark(const std::string& pipeline,
                                                    const std::string& task_id,
                                                    const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "SELECT value FROM watermarks WHERE pipeline = ? AND task_id = ? AND key = ?", path_);
  s.Bind(pipeline).Bind(task_id).Bind(key);
  if (!s.Step()) return std::nullopt;
  return s.Text(0);
}

void StateStore::SetWatermark(const std::string& pipeline, const std::string& task_id,
                              const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(
      db_,
      "INSERT INTO watermarks (pipeline, task_id, key, value, updated_at) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (pipeline, task_id, key) DO UPDATE SET value = excluded.value, "
      "updated_at = excluded.updated_at",
      path_);
  s.Bind(pipeline).Bind(task_id).Bind(key).Bind(value).Bind(NowIso()).Step();
}

}  // namespace sluice::state
