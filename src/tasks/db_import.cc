// db_import: tables of a MySQL/MariaDB or PostgreSQL database into lake partitions, whole or
// incrementally, read by parallel range queries (docs/import.md).
//
// Each table is read by up to `parallel` connections. Every connection streams its ranges
// through a RowReader straight into a DuckDB COPY ... TO parquet (engine::RowSource), so rows
// never pile up in memory. Incremental imports keep their watermark in the partition's manifest,
// published atomically with the rows, and mirror it into the state store.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cinttypes>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/cancel.h"
#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "connectors/mysql/mysql.h"
#include "connectors/mysql/mysql_import.h"
#include "connectors/postgres/postgres.h"
#include "connectors/postgres/postgres_import.h"
#include "tasks/task.h"

namespace sluice::tasks {
namespace {

using Row = std::vector<std::optional<std::string>>;
using Int = __int128;

struct Plan {
  int64_t id = 0;  // one per table of a task: a reader is built for one plan, never reused
  std::vector<engine::SourceColumn> columns;
  std::vector<std::string> server_types;
  std::string select_list;
};

// One connection to the source database, in its dialect.
class SourceDb {
 public:
  virtual ~SourceDb() = default;
  virtual void Exec(const std::string& sql) = 0;
  virtual std::vector<Row> Query(const std::string& sql) = 0;
  virtual Plan PlanImport(const std::string& from_sql, const std::vector<std::string>& columns,
                          const std::string& object, bool zero_dates_null) = 0;
  // Starts streaming `sql`, whose result has plan's columns; Fill then returns its rows.
  virtual void Start(const Plan& plan, const std::string& sql, const std::string& object,
                     bool zero_dates_null) = 0;
  virtual size_t Fill(engine::OutputChunk& out, size_t offset) = 0;
  virtual uint64_t bytes_read() const = 0;
  virtual std::string Ident(const std::string& name) const = 0;
  virtual std::string Literal(const std::string& value) const = 0;
  virtual bool mysql() const = 0;
  virtual std::string Describe() const = 0;

  // A table name as written (MySQL: the name, which may hold a dot; PostgreSQL: name or
  // schema.name), quoted.
  std::string Table(const std::string& table) const {
    if (mysql()) return Ident(table);
    std::vector<std::string> parts;
    for (const auto& p : Split(table, '.')) parts.push_back(Ident(p));
    return Join(parts, ".");
  }
};

class MySqlDb : public SourceDb {
 public:
  MySqlDb(const connectors::mysql::Options& options, CancelToken* cancel)
      : conn_(connectors::mysql::Connection::Open(options, cancel)) {}
  void Exec(const std::string& sql) override { conn_->Exec(sql); }
  std::vector<Row> Query(const std::string& sql) override { return conn_->Query(sql); }
  Plan PlanImport(const std::string& from_sql, const std::vector<std::string>& columns,
                  const std::string& object, bool zero_dates_null) override {
    connectors::mysql::ImportOptions o{object, zero_dates_null};
    auto p = connectors::mysql::PlanImport(*conn_, from_sql, columns, o);
    return {0, p.columns, p.server_types, p.select_list};
  }
  void Start(const Plan& plan, const std::string& sql, const std::string& object,
             bool zero_dates_null) override {
    if (!reader_ || reader_plan_ != plan.id) {
      if (reader_) bytes_done_ += reader_->bytes();
      reader_plan_ = plan.id;
      connectors::mysql::ImportPlan p{plan.columns, plan.server_types, plan.select_list};
      reader_ = std::make_unique<connectors::mysql::RowReader>(
          *conn_, p, connectors::mysql::ImportOptions{object, zero_dates_null});
    }
    reader_->Start(sql);
  }
  size_t Fill(engine::OutputChunk& out, size_t offset) override {
    return reader_->Fill(out, offset);
  }
  uint64_t bytes_read() const override { return bytes_done_ + (reader_ ? reader_->bytes() : 0); }
  std::string Ident(const std::string& name) const override {
    return connectors::mysql::Ident(name);
  }
  std::string Literal(const std::string& value) const override {
    return connectors::mysql::Literal(value);
  }
  bool mysql() const override { return true; }
  std::string Describe() const override { return conn_->Describe(); }

 private:
  std::unique_ptr<connectors::mysql::Connection> conn_;
  std::unique_ptr<connectors::mysql::RowReader> reader_;
  int64_t reader_plan_ = 0;
  uint64_t bytes_done_ = 0;
};

class PgDb : public SourceDb {
 public:
  PgDb(const connectors::postgres::Options& options, CancelToken* cancel)
      : conn_(connectors::postgres::Connection::Open(options, cancel)) {
    // Bounds and watermarks are read as text and compared as UTC: the session must be UTC
    // from the first statement, and literals are written with standard strings.
    conn_->Exec("SET TimeZone = 'UTC'");
    conn_->Exec("SET DateStyle = 'ISO, YMD'");
    conn_->Exec("SET standard_conforming_strings = on");
  }
  void Exec(const std::string& sql) override { conn_->Exec(sql); }
  std::vector<Row> Query(const std::string& sql) override { return conn_->Query(sql); }
  Plan PlanImport(const std::string& from_sql, const std::vector<std::string>& columns,
                  const std::string& object, bool) override {
    connectors::postgres::ImportOptions o{object};
    auto p = connectors::postgres::PlanImport(*conn_, from_sql, columns, o);
    return {0, p.columns, p.server_types, p.select_list};
  }
  void Start(const Plan& plan, const std::string& sql, const std::string& object, bool) override {
    if (!reader_ || reader_plan_ != plan.id) {
      if (reader_) bytes_done_ += reader_->bytes();
      reader_plan_ = plan.id;
      connectors::postgres::ImportPlan p{plan.columns, plan.server_types, plan.select_list};
      reader_ = std::make_unique<connectors::postgres::RowReader>(
          *conn_, p, connectors::postgres::ImportOptions{object});
    }
    reader_->Start(sql);
  }
  size_t Fill(engine::OutputChunk& out, size_t offset) override {
    return reader_->Fill(out, offset);
  }
  uint64_t bytes_read() const override { return bytes_done_ + (reader_ ? reader_->bytes() : 0); }
  std::string Ident(const std::string& name) const override {
    return connectors::postgres::Ident(name);
  }
  std::string Literal(const std::string& value) const override {
    return SqlLiteral(value);  // standard_conforming_strings is on
  }
  bool mysql() const override { return false; }
  std::string Describe() const override { return conn_->Describe(); }

 private:
  std::shared_ptr<connectors::postgres::Connection> conn_;
  std::unique_ptr<connectors::postgres::RowReader> reader_;
  int64_t reader_plan_ = 0;
  uint64_t bytes_done_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Split keys: integers, dates and timestamps map onto 128-bit integers (days, microseconds), so
// ranges are cut with exact integer arithmetic and written back as the server's literals.

enum class KeyKind { kInteger, kDate, kTimestamp, kTimestampTz };

struct KeyCodec {
  KeyKind kind = KeyKind::kInteger;

  static std::optional<KeyCodec> For(const engine::SourceColumn& c) {
    using engine::TypeId;
    switch (c.id) {
      case TypeId::kTinyint:
      case TypeId::kSmallint:
      case TypeId::kInteger:
      case TypeId::kBigint:
      case TypeId::kUTinyint:
      case TypeId::kUSmallint:
      case TypeId::kUInteger:
      case TypeId::kUBigint:
      case TypeId::kHugeint:
        return KeyCodec{KeyKind::kInteger};
      case TypeId::kDecimal:
        if (c.scale == 0) return KeyCodec{KeyKind::kInteger};
        return std::nullopt;
      case TypeId::kDate:
        return KeyCodec{KeyKind::kDate};
      case TypeId::kTimestamp:
        return KeyCodec{KeyKind::kTimestamp};
      case TypeId::kTimestampTz:
        return KeyCodec{KeyKind::kTimestampTz};
      default:
        return std::nullopt;
    }
  }

  // Parses the server's text of a value; nullopt when it is not in the expected form.
  std::optional<Int> Parse(const std::string& text) const {
    const char* p = text.c_str();
    if (kind == KeyKind::kInteger) {
      bool neg = *p == '-';
      if (neg || *p == '+') p++;
      if (!*p) return std::nullopt;
      Int v = 0;
      for (; *p; p++) {
        if (*p < '0' || *p > '9') return std::nullopt;
        v = v * 10 + (*p - '0');
      }
      return neg ? -v : v;
    }
    int64_t y = 0;
    unsigned mo = 0, d = 0, h = 0, mi = 0, s = 0;
    int n = 0;
    if (std::sscanf(p, "%" SCNd64 "-%u-%u%n", &y, &mo, &d, &n) < 3 || mo < 1 || mo > 12 || d < 1 ||
        d > 31) {
      return std::nullopt;
    }
    int64_t days = DaysFromCivil(y, mo, d);
    if (kind == KeyKind::kDate) return days;
    p += n;
    int64_t micros = 0;
    if (*p == ' ' || *p == 'T') {
      int m2 = 0;
      if (std::sscanf(p + 1, "%u:%u:%u%n", &h, &mi, &s, &m2) < 3) return std::nullopt;
      p += 1 + m2;
      if (*p == '.') {
        p++;
        int digits = 0;
        int64_t frac = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++) {
          if (digits < 6) frac = frac * 10 + (*p - '0');
        }
        for (; digits < 6; digits++) frac *= 10;
        micros = frac;
      }
      // PostgreSQL writes timestamptz with the session's offset, which is UTC: "+00".
    }
    return (static_cast<Int>(days) * 86400 + h * 3600 + mi * 60 + s) * 1000000 + micros;
  }

  std::string Format(Int v) const {
    if (kind == KeyKind::kInteger) {
      bool neg = v < 0;
      unsigned __int128 u = neg ? static_cast<unsigned __int128>(-v) : v;
      std::string digits;
      do {
        digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
        u /= 10;
      } while (u);
      return neg ? "-" + digits : digits;
    }
    int64_t days, micros = 0;
    if (kind == KeyKind::kDate) {
      days = static_cast<int64_t>(v);
    } else {
      Int per_day = static_cast<Int>(86400) * 1000000;
      days = static_cast<int64_t>(v / per_day);
      micros = static_cast<int64_t>(v % per_day);
      if (micros < 0) {
        micros += static_cast<int64_t>(per_day);
        days--;
      }
    }
    auto [y, m, d] = CivilFromDays(days);
    char buf[64];
    if (kind == KeyKind::kDate) {
      std::snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02u", y, m, d);
    } else {
      int64_t secs = micros / 1000000;
      std::snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d.%06d", y, m, d,
                    static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                    static_cast<int>(secs % 60), static_cast<int>(micros % 1000000));
    }
    return buf;
  }

  // The literal for SQL: digits, or a quoted date/time (UTC for TIMESTAMP WITH TIME ZONE).
  std::string Literal(const SourceDb& db, Int v) const {
    if (kind == KeyKind::kInteger) return Format(v);
    std::string text = Format(v);
    if (kind == KeyKind::kTimestampTz && !db.mysql()) text += "+00";
    return db.Literal(text);
  }

  // The step that lookback counts in: 1 for numbers, a second's microseconds for times, a day.
  Int LookbackUnits(const std::string& lookback) const {
    if (lookback.empty()) return 0;
    bool number = lookback.find_first_not_of("0123456789") == std::string::npos;
    if (kind == KeyKind::kInteger) {
      if (!number) return -1;
      int64_t n = -1;
      auto r = std::from_chars(lookback.data(), lookback.data() + lookback.size(), n);
      return r.ec == std::errc() ? n : -1;
    }
    auto d = ParseDuration(lookback);
    if (!d) return -1;
    Int micros = static_cast<Int>(d->count()) * 1000;
    if (kind == KeyKind::kDate) return (micros + 86400000000 - 1) / 86400000000;
    return micros;
  }
};

// ---------------------------------------------------------------------------------------------
// Ranges of the split key, handed to the reading connections one at a time.

struct Range {
  std::string condition;  // SQL, "" for everything
};

class RangeQueue {
 public:
  explicit RangeQueue(std::vector<Range> ranges) : ranges_(ranges.begin(), ranges.end()) {}
  std::optional<Range> Next() {
    std::lock_guard<std::mutex> lock(mu_);
    if (ranges_.empty()) return std::nullopt;
    Range r = ranges_.front();
    ranges_.pop_front();
    return r;
  }

 private:
  std::mutex mu_;
  std::deque<Range> ranges_;  // Guarded by mu_
};

// The source's estimate of how many rows match a condition (EXPLAIN: cheap index dives or
// statistics), or -1 when it gives none.
int64_t EstimateRows(SourceDb& db, const std::string& from_sql, const std::string& where,
                     bool in_transaction) {
  // In PostgreSQL a failed statement aborts the transaction, and with it the snapshot the
  // reads use: the estimate runs under a savepoint.
  bool savepoint = in_transaction && !db.mysql();
  std::vector<Row> rows;
  try {
    if (savepoint) db.Exec("SAVEPOINT sluice_estimate");
    rows = db.Query("EXPLAIN SELECT 1 FROM " + from_sql + " WHERE " + where);
    if (savepoint) db.Exec("RELEASE SAVEPOINT sluice_estimate");
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCancelled) throw;
    if (savepoint) db.Exec("ROLLBACK TO SAVEPOINT sluice_estimate");
    return -1;
  }
  if (rows.empty()) return -1;
  std::string text;
  if (db.mysql()) {
    // MariaDB: id, select_type, table, type, possible_keys, key, key_len, ref, rows, Extra;
    // MySQL 8 adds partitions (before type) and filtered (after rows).
    size_t col = rows[0].size() >= 12 ? 9 : 8;
    if (col >= rows[0].size() || !rows[0][col]) return -1;
    text = *rows[0][col];
  } else {
    const std::string& line = rows[0][0].value_or("");
    auto pos = line.find("rows=");
    if (pos == std::string::npos) return -1;
    text = line.substr(pos + 5);
  }
  int64_t n = -1;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

// Cuts [lo, hi] into ranges: `pieces` even ones, then any range the source estimates to hold
// more than 1.5 times `target_rows` is cut again, so a few far-off keys (gaps) do not leave one
// connection with most of the rows. Cutting stops at max_ranges, and as soon as a part's
// estimate is not smaller than its whole's: the planner is then estimating the table, not the
// range (no index on the key), and more cuts only add reads. Every key value falls in exactly
// one range; NULL keys get their own.
std::vector<Range> SplitRanges(SourceDb& db, const std::string& from_sql, const std::string& key,
                               const KeyCodec& codec, Int lo, Int hi, int pieces, int max_ranges,
                               int64_t target_rows, const std::string& base_where,
                               bool in_transaction, TaskLog* log) {
  struct Span {
    Int lo, hi;              // [lo, hi)
    int64_t whole_est = -1;  // the estimate of the range it was cut from
  };
  // The first range has no lower bound and the last no upper one: rows outside [lo, hi] (a
  // boundary_query that was off, rows added since) are still read, and hi + 1 is never
  // written (DATE 9999-12-31 + 1 day is year 10000, which MySQL compares as no date at all).
  auto cond = [&](const Span& s) {
    std::vector<std::string> parts;
    if (s.lo > lo) parts.push_back(key + " >= " + codec.Literal(db, s.lo));
    if (s.hi <= hi) parts.push_back(key + " < " + codec.Literal(db, s.hi));
    if (parts.empty()) parts.push_back(key + " IS NOT NULL");
    return Join(parts, " AND ");
  };

  auto with_base = [&](const std::string& c) {
    return base_where.empty() ? c : "(" + base_where + ") AND " + c;
  };
  auto cut = [](const Span& s, Int n, int64_t whole_est, std::vector<Span>* out) {
    Int width = s.hi - s.lo;
    if (n > width) n = width;
    Int start = s.lo;
    for (Int i = 1; i <= n; i++) {
      Int end = i == n ? s.hi : s.lo + width * i / n;
      if (end > start) out->push_back({start, end, whole_est});
      start = end;
    }
  };
  std::vector<Span> spans;
  cut({lo, hi + 1}, pieces, -1, &spans);
  if (target_rows > 0) {
    int probes = 0;
    bool estimates_useless = false;
    auto estimate = [&](Span& s) {
      s.whole_est = s.hi - s.lo > 1
                        ? (probes++, EstimateRows(db, from_sql, with_base(cond(s)), in_transaction))
                        : -1;
    };
    // Parts estimated far above their whole together: the planner is estimating the table,
    // not the ranges (no usable index), and cutting further only adds reads.
    auto useless = [&](const std::vector<Span>& parts, int64_t whole) {
      int64_t sum = 0;
      for (const auto& p : parts) sum += std::max<int64_t>(p.whole_est, 0);
      return parts.size() > 1 && whole >= 0 && sum > whole + whole / 2 + 1000;
    };
    for (auto& s : spans) estimate(s);
    estimates_useless = useless(spans, target_rows * pieces);
    std::vector<Span> done;
    std::deque<Span> todo(spans.begin(), spans.end());
    while (!todo.empty()) {
      Span s = todo.front();
      todo.pop_front();
      int64_t est = s.whole_est;
      int room = max_ranges - static_cast<int>(done.size() + todo.size());
      int parts_wanted = static_cast<int>(
          std::min<int64_t>({16, est / std::max<int64_t>(target_rows, 1) + 1, room}));
      if (estimates_useless || est <= target_rows + target_rows / 2 || parts_wanted < 2) {
        done.push_back(s);
        continue;
      }
      std::vector<Span> parts;
      cut(s, parts_wanted, -1, &parts);
      for (auto& p : parts) estimate(p);
      if (useless(parts, est)) {
        estimates_useless = true;
        for (const auto& p : parts) done.push_back(p);
        continue;
      }
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_front(*it);
    }
    std::sort(done.begin(), done.end(), [](const Span& a, const Span& b) { return a.lo < b.lo; });
    spans = done;
    log->Info("split " + key + " [" + codec.Format(lo) + ", " + codec.Format(hi) + "] into " +
              std::to_string(spans.size()) + " ranges (" + std::to_string(probes) +
              " estimates, about " + std::to_string(target_rows) + " rows each" +
              (estimates_useless ? "; the planner estimated the table, not the ranges" : "") + ")");
  }
  std::vector<Range> out;
  for (const auto& s : spans) {
    out.push_back({cond(s)});
  }
  out.push_back({key + " IS NULL"});
  return out;
}

// ---------------------------------------------------------------------------------------------

// Reads ranges from a queue through one connection, as the rows of one Parquet file.
class RangeSource : public engine::RowSource {
 public:
  RangeSource(SourceDb& db, const Plan& plan, RangeQueue& queue,
              std::function<std::string(const Range&)> sql_for, std::string object,
              bool zero_dates_null, std::atomic<uint64_t>* rows, std::atomic<uint64_t>* progress,
              CancelToken* cancel)
      : db_(db),
        plan_(plan),
        queue_(queue),
        sql_for_(std::move(sql_for)),
        object_(std::move(object)),
        zero_dates_null_(zero_dates_null),
        rows_(rows),
        progress_(progress),
        cancel_(cancel) {}

  const std::vector<engine::SourceColumn>& columns() const override { return plan_.columns; }

  size_t Fill(engine::OutputChunk& out) override {
    size_t filled = 0;
    while (filled < out.capacity()) {
      if (!active_) {
        auto r = queue_.Next();
        if (!r) break;
        cancel_->ThrowIfCancelled();  // a cancel between statements finds no statement to stop
        db_.Start(plan_, sql_for_(*r), object_, zero_dates_null_);
        active_ = true;
      }
      size_t n = db_.Fill(out, filled);
      if (n == 0) {
        active_ = false;
        continue;
      }
      filled += n;
    }
    *rows_ += filled;
    if (progress_ != nullptr) *progress_ += filled;
    if (filled > 0 && !faulted_) {
      faulted_ = true;
      FaultPoint("import.reading");
    }
    return filled;
  }

 private:
  SourceDb& db_;
  const Plan& plan_;
  RangeQueue& queue_;
  std::function<std::string(const Range&)> sql_for_;
  std::string object_;
  bool zero_dates_null_;
  std::atomic<uint64_t>* rows_;
  std::atomic<uint64_t>* progress_ = nullptr;
  CancelToken* cancel_;
  bool active_ = false;
  bool faulted_ = false;
};

std::string JoinConditions(const std::vector<std::string>& conditions) {
  std::vector<std::string> parts;
  for (const auto& c : conditions) {
    if (!c.empty()) parts.push_back("(" + c + ")");
  }
  return Join(parts, " AND ");
}

// What one table's import reads and where it goes.
struct Job {
  pipeline::ImportTableSpec spec;
  std::string object;    // "table `shop`.`orders`" or "query of raw.x", for messages
  std::string from_sql;  // quoted table, or (query) AS sluice_q
  Plan plan;             // worked out for every table before any is read
  std::vector<std::string> pk;
};

// The watermark of the latest partition before ds, or "" (then the spec's last_value counts).
struct Previous {
  std::string ds;                      // the partition it came from
  std::string high;                    // the largest check_column value imported so far
  std::string later_ds;                // a partition after the run's date, if any
  std::vector<std::string> files;      // the latest earlier partition's files (lastmodified merges)
  std::vector<engine::Column> schema;  // and their columns
};

Previous FindPrevious(TaskContext& ctx, const std::string& dataset, const std::string& column) {
  Previous p;
  for (const auto& d : ctx.lake->ListPartitions(dataset)) {
    if (d > ctx.ds) {
      p.later_ds = d;
      break;
    }
    if (d == ctx.ds) continue;
    auto m = ctx.lake->ReadManifest(dataset, d);
    if (!m || m->watermark.empty()) continue;
    auto j = nlohmann::json::parse(m->watermark);
    if (j.value("column", "") != column || !j.contains("high") || j["high"].is_null()) continue;
    p.ds = d;
    p.high = j["high"].get<std::string>();
    p.files = ctx.lake->FilePaths(*m);
    p.schema = m->schema;
  }
  return p;
}

// True when an earlier partition has exactly the columns (names and lake types) of a plan.
bool SameSchema(const Previous& prev, const Plan& plan) {
  if (prev.schema.size() != plan.columns.size()) return false;
  for (size_t i = 0; i < plan.columns.size(); i++) {
    if (prev.schema[i].name != plan.columns[i].name ||
        prev.schema[i].type != engine::SqlTypeName(plan.columns[i])) {
      return false;
    }
  }
  return true;
}

class Importer {
 public:
  explicit Importer(TaskContext& ctx)
      : ctx_(ctx), im_(ctx.task->import), conn_spec_(ctx.spec->connections.at(im_.connection)) {}

  state::TaskCounts Run() {
    OpenConnections();
    auto jobs = ResolveJobs();
    ctx_.log->Info("importing " + std::to_string(jobs.size()) + " table(s) from " +
                   dbs_[0]->Describe() + " with " + std::to_string(dbs_.size()) +
                   " connection(s), snapshot " + (snapshot_ ? "on" : "off"));
    // Every table's columns and keys first: a type with no lake type, an unknown column or a
    // missing key fails the task before any table is read or published.
    int64_t next_plan = 0;
    for (auto& job : jobs) {
      ctx_.cancel->ThrowIfCancelled();
      job.plan = db().PlanImport(job.from_sql, job.spec.columns, job.object, im_.zero_dates_null);
      job.plan.id = ++next_plan;
      job.pk = PrimaryKey(job);
      CheckKeys(job);
    }
    size_t i = 0;
    for (const auto& job : jobs) {
      ctx_.cancel->ThrowIfCancelled();
      i++;
      ImportOne(job, i, jobs.size());
    }
    return counts_;
  }

 private:
  std::unique_ptr<SourceDb> Open() {
    if (conn_spec_.type == "mysql") {
      return std::make_unique<MySqlDb>(
          connectors::mysql::OptionsFromConnection(conn_spec_, ctx_.spec->dir), ctx_.cancel);
    }
    return std::make_unique<PgDb>(
        connectors::postgres::OptionsFromConnection(conn_spec_, ctx_.spec->dir), ctx_.cancel);
  }

  // Opens `parallel` connections, in one snapshot where asked (docs/import.md, Consistency).
  void OpenConnections() {
    int n = std::max(1, im_.parallel);
    bool mysql = conn_spec_.type == "mysql";
    snapshot_ = im_.snapshot == "true" || (im_.snapshot == "auto" && (n == 1 || !mysql));
    for (int i = 0; i < n; i++) dbs_.push_back(Open());
    if (!snapshot_) return;
    if (mysql) {
      auto begin = [](SourceDb& db) {
        db.Exec("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ");
        db.Exec("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
      };
      if (n == 1) return begin(*dbs_[0]);
      // Every connection starts its snapshot while writes are held, so they all see the same
      // committed state; the lock lasts milliseconds.
      try {
        // FLUSH waits for running statements, and writes queue behind it meanwhile: give up
        // after 10 s rather than stall the source's writers behind a long query.
        dbs_[0]->Exec("SET SESSION lock_wait_timeout = 10");
        dbs_[0]->Exec("FLUSH TABLES WITH READ LOCK");
      } catch (const Error& e) {
        throw Error(e.kind(),
                    ctx_.Name() + ": snapshot: true with parallel: " + std::to_string(n) +
                        " needs FLUSH TABLES WITH READ LOCK, which the server refused (" +
                        e.what() +
                        ") or did not get the lock within 10 s (a long statement was "
                        "running); grant the RELOAD privilege (GRANT RELOAD ON *.* TO the "
                        "user) or retry when the server is quieter, or set snapshot: false, or "
                        "read with parallel: 1",
                    e.retryable());
      }
      try {
        for (auto& db : dbs_) begin(*db);
      } catch (...) {
        dbs_[0]->Exec("UNLOCK TABLES");
        throw;
      }
      dbs_[0]->Exec("UNLOCK TABLES");
      return;
    }
    dbs_[0]->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (n == 1) return;
    auto rows = dbs_[0]->Query("SELECT pg_export_snapshot()");
    std::string id = rows.at(0).at(0).value_or("");
    for (int i = 1; i < n; i++) {
      dbs_[i]->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      dbs_[i]->Exec("SET TRANSACTION SNAPSHOT " + dbs_[i]->Literal(id));
    }
  }

  SourceDb& db() { return *dbs_[0]; }

  std::vector<std::string> ListTables() {
    std::vector<std::string> out;
    std::string sql =
        db().mysql()
            ? "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
              "AND table_type = 'BASE TABLE' ORDER BY table_name"
            : "SELECT CASE WHEN n.nspname = current_schema() THEN c.relname "
              "ELSE n.nspname || '.' || c.relname END, CASE WHEN n.nspname = current_schema() "
              "THEN quote_ident(c.relname) ELSE quote_ident(n.nspname) || '.' || "
              "quote_ident(c.relname) END FROM pg_class c "
              "JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
              "AND n.nspname = ANY (current_schemas(false)) ORDER BY 1";
    for (const auto& r : db().Query(sql)) {
      if (!r.at(0)) continue;
      out.push_back(*r[0]);
      // A name may hold a dot (a table "a.b"): the server's quoting says which part is which.
      if (r.size() > 1 && r[1]) sql_names_.emplace(*r[0], *r[1]);
    }
    return out;
  }

  // The SQL that names a table found by ListTables (or written as schema.table).
  std::string TableSql(const std::string& table) {
    auto it = sql_names_.find(table);
    return it != sql_names_.end() ? it->second : db().Table(table);
  }

  std::vector<Job> ResolveJobs() {
    std::vector<pipeline::ImportTableSpec> specs = im_.tables;
    bool need_list = im_.all_tables;
    for (const auto& t : specs) need_list = need_list || !t.table.empty();
    std::vector<std::string> existing;
    if (need_list) existing = ListTables();
    // PostgreSQL lists the tables of the current schema without it: public.orders is orders.
    std::string schema_prefix;
    if (need_list && !db().mysql()) {
      auto rows = db().Query("SELECT current_schema()");
      if (!rows.empty() && rows[0].at(0)) schema_prefix = *rows[0][0] + ".";
    }
    auto find = [&](std::string name) -> std::string {
      if (!schema_prefix.empty() && StartsWith(name, schema_prefix)) {
        name = name.substr(schema_prefix.size());
      }
      for (const auto& e : existing) {
        if (e == name) return e;
      }
      for (const auto& e : existing) {
        if (ToLower(e) == ToLower(name)) return e;
      }
      return "";
    };
    if (im_.all_tables) {
      for (const auto& e : im_.exclude) {
        if (find(e).empty()) {
          ctx_.log->Info("exclude: table '" + e + "' does not exist in " + db().Describe());
        }
      }
      for (const auto& e : existing) {
        bool excluded = false;
        for (const auto& x : im_.exclude) excluded = excluded || find(x) == e;
        if (excluded) continue;
        pipeline::ImportTableSpec t;
        t.table = e;
        // A table of the current schema whose name holds a dot ("x.y") is raw.x_y, not raw.y.
        bool dotted_name = sql_names_.count(e) && !sql_names_[e].empty() &&
                           sql_names_[e][0] == '"' &&
                           sql_names_[e].find("\".") == std::string::npos;
        t.into = pipeline::ImportDatasetName(im_.zone, dotted_name ? ReplaceAll(e, ".", "_") : e);
        specs.push_back(t);
      }
      if (specs.empty()) {
        throw NotFound(
            ctx_.Name() + ": tables: all found no tables in " + db().Describe() +
            (im_.exclude.empty() ? "" : " (after exclude: " + Join(im_.exclude, ", ") + ")"));
      }
    }
    std::vector<Job> jobs;
    std::set<std::string> datasets;
    for (auto& t : specs) {
      Job j;
      if (!t.table.empty()) {
        std::string actual = find(t.table);
        if (actual.empty() && !db().mysql() && t.table.find('.') != std::string::npos) {
          // A schema outside the search path: schema.table as written.
          auto parts = Split(t.table, '.');
          auto rows = db().Query(
              "SELECT n.nspname || '.' || c.relname, quote_ident(n.nspname) || '.' || "
              "quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON "
              "n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = " +
              db().Literal(parts[0]) +
              " AND c.relname = " + db().Literal(t.table.substr(parts[0].size() + 1)));
          if (!rows.empty() && rows[0].at(0) && rows[0].at(1)) {
            actual = *rows[0][0];
            sql_names_.emplace(actual, *rows[0][1]);
          }
        }
        if (actual.empty()) {
          std::string near = ClosestMatch(t.table, existing);
          throw NotFound(ctx_.Name() + ": table '" + t.table + "' does not exist in " +
                         db().Describe() + (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                         "; its tables: " + (existing.empty() ? "(none)" : Join(existing, ", ")));
        }
        t.table = actual;
        j.object = "table " + TableSql(actual);
        j.from_sql = TableSql(actual);
      } else {
        j.object = "the query of " + t.into;
        j.from_sql =
            "(" + ReplaceAll(StripSqlTerminator(t.query), "$CONDITIONS", "1 = 1") + ") AS sluice_q";
      }
      if (!pipeline::IsDatasetName(t.into)) {
        throw InvalidInput(ctx_.Name() + ": table '" + t.table + "' would be dataset '" + t.into +
                           "', which is not a dataset name; list it with into: zone.name");
      }
      if (!datasets.insert(t.into).second) {
        throw InvalidInput(ctx_.Name() + ": two tables ('" + t.table + "' and an earlier one) " +
                           "would both be " + t.into +
                           "; list them under tables: with into: zone.name for one of them");
      }
      j.spec = t;
      jobs.push_back(j);
    }
    return jobs;
  }

  // The primary key columns of a table, in order, with their lake columns ("" for a query).
  std::vector<std::string> PrimaryKey(const Job& job) {
    if (job.spec.table.empty()) return {};
    std::string sql;
    if (db().mysql()) {
      sql =
          "SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = "
          "DATABASE() AND table_name = " +
          db().Literal(job.spec.table) +
          " AND constraint_name = 'PRIMARY' ORDER BY ordinal_position";
    } else {
      sql =
          "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
          "a.attnum = ANY (i.indkey) WHERE i.indrelid = " +
          db().Literal(job.from_sql) +
          "::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)";
    }
    std::vector<std::string> out;
    for (const auto& r : db().Query(sql)) {
      if (r.at(0)) out.push_back(*r[0]);
    }
    return out;
  }

  int64_t EstimatedTableRows(const Job& job) {
    if (job.spec.table.empty()) return -1;
    try {
      std::string sql =
          db().mysql()
              ? "SELECT table_rows FROM information_schema.tables WHERE table_schema = "
                "DATABASE() AND table_name = " +
                    db().Literal(job.spec.table)
              : "SELECT reltuples::bigint FROM pg_class WHERE oid = " + db().Literal(job.from_sql) +
                    "::regclass";
      auto rows = db().Query(sql);
      if (rows.empty() || !rows[0].at(0)) return -1;
      return std::stoll(*rows[0][0]);
    } catch (const std::exception&) {
      return -1;
    }
  }

  // What the progress line shows for this task while no rows move.
  void SetWhat(const std::string& what) {
    if (ctx_.activity == nullptr) return;
    std::lock_guard<std::mutex> lock(ctx_.activity->mu);
    ctx_.activity->what = what;
  }

  // True when an index of the job's table starts with column (planner estimates and range
  // reads are cheap on it).
  bool HasIndex(const Job& job, const std::string& column) {
    // In PostgreSQL a failed statement would abort the transaction the reads share.
    bool savepoint = snapshot_ && !db().mysql();
    try {
      if (savepoint) db().Exec("SAVEPOINT sluice_index");
      std::string sql =
          db().mysql()
              ? "SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() AND "
                "table_name = " +
                    db().Literal(job.spec.table) + " AND column_name = " + db().Literal(column) +
                    " AND seq_in_index = 1 LIMIT 1"
              : "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
                "a.attnum = i.indkey[0] WHERE i.indrelid = " +
                    db().Literal(job.from_sql) +
                    "::regclass AND a.attname = " + db().Literal(column) + " LIMIT 1";
      bool found = !db().Query(sql).empty();
      if (savepoint) db().Exec("RELEASE SAVEPOINT sluice_index");
      return found;
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kCancelled) throw;
      if (savepoint) db().Exec("ROLLBACK TO SAVEPOINT sluice_index");
      return true;  // cannot tell: plan as before
    }
  }

  static bool HasConditions(const Job& job) {
    return job.spec.query.find("$CONDITIONS") != std::string::npos;
  }

  // A column of the job's source in a condition: quoted for a table; as written for a query
  // with $CONDITIONS, where the condition goes inside it and may need a qualified name (o.id).
  std::string ColumnSql(const Job& job, const std::string& column) {
    if (HasConditions(job)) return column;
    return OuterColumn(column);
  }

  // A column of the job's result, for SELECTs over it (MIN, MAX): the unqualified name.
  std::string OuterColumn(const std::string& column) { return db().Ident(UnqualifiedName(column)); }

  // o.order_id -> order_id: the name a query's result gives a qualified column.
  static std::string UnqualifiedName(const std::string& column) {
    auto dot = column.rfind('.');
    return dot == std::string::npos ? column : column.substr(dot + 1);
  }

  // SELECT <what> over the job's rows that meet `where` (conditions in ColumnSql's form).
  std::string SelectFrom(const Job& job, const std::string& what, const std::string& where) {
    if (HasConditions(job)) {
      return "SELECT " + what + " FROM (" +
             ReplaceAll(StripSqlTerminator(job.spec.query), "$CONDITIONS",
                        where.empty() ? "1 = 1" : "(" + where + ")") +
             ") AS sluice_q";
    }
    return "SELECT " + what + " FROM " + job.from_sql + (where.empty() ? "" : " WHERE " + where);
  }

  // The lake type of one column of the source (by its plan).
  engine::SourceColumn ColumnType(const Job& job, const std::string& column) {
    Plan p =
        db().PlanImport(job.from_sql, {UnqualifiedName(column)}, job.object, im_.zero_dates_null);
    if (p.columns.empty()) throw Internal("no type for " + column);
    return p.columns[0];
  }

  // The keys an incremental import matches rows on must exist and be imported.
  void CheckKeys(const Job& job) {
    const auto& t = job.spec;
    std::vector<std::string> key = t.key.empty() ? job.pk : t.key;
    bool needs_key =
        t.incremental == "lastmodified" || (!t.incremental.empty() && !t.lookback.empty());
    if (!needs_key) return;
    if (key.empty()) {
      throw InvalidInput(ctx_.Name() + ": " + job.object + ": incremental: " + t.incremental +
                         (t.lookback.empty() ? "" : " with lookback") +
                         " tells rows apart by key, and the source has no primary key; write "
                         "key: (the columns that identify a row)");
    }
    for (const auto& k : key) {
      bool found = false;
      for (const auto& c : job.plan.columns) found = found || c.name == k;
      if (!found) {
        throw InvalidInput(ctx_.Name() + ": " + job.object + ": key column '" + k +
                           "' is not among the imported columns; add it to columns:");
      }
    }
  }

  void ImportOne(const Job& job, size_t index, size_t total) {
    const auto& t = job.spec;
    double start = SteadySeconds();
    // The server's estimate of the table's rows (-1 unknown): for progress and range sizes.
    const int64_t table_rows = EstimatedTableRows(job);
    std::atomic<uint64_t>* progress = nullptr;
    if (ctx_.activity != nullptr) {
      // The progress line counts this table's rows against the server's estimate of the table
      // (only when all of it is read).
      int64_t estimate = t.where.empty() && t.incremental.empty() ? table_rows : 0;
      std::lock_guard<std::mutex> lock(ctx_.activity->mu);
      ctx_.activity->what =
          "importing " + t.into + " (" + std::to_string(index) + "/" + std::to_string(total) + ")";
      ctx_.activity->rows = 0;
      ctx_.activity->expected_rows = static_cast<uint64_t>(std::max<int64_t>(0, estimate));
      progress = &ctx_.activity->rows;
    }
    const Plan& plan = job.plan;
    const std::vector<std::string>& pk = job.pk;

    // Incremental bounds: (low, high], high read now so that rows written during the import
    // wait for the next run.
    std::vector<std::string> conditions;
    if (!t.where.empty()) conditions.push_back(t.where);
    nlohmann::ordered_json watermark;
    Previous prev;
    std::optional<KeyCodec> check_codec;
    std::vector<std::string> key = t.key.empty() ? pk : t.key;
    std::string low_used, high;
    if (!t.incremental.empty()) {
      engine::SourceColumn cc = ColumnType(job, t.check_column);
      check_codec = KeyCodec::For(cc);
      std::string check = ColumnSql(job, t.check_column);
      prev = FindPrevious(ctx_, t.into, t.check_column);
      if (!prev.later_ds.empty()) {
        throw InvalidInput(ctx_.Name() + ": " + t.into +
                           " already has the incremental partition ds=" + prev.later_ds +
                           ", after ds=" + ctx_.ds + "; importing ds=" + ctx_.ds +
                           " now would overlap it. Re-run ds=" + prev.later_ds +
                           " instead, or delete the later partitions first");
      }
      if (!prev.ds.empty() && t.incremental == "lastmodified" && !SameSchema(prev, plan)) {
        // The partition holds the whole table: merging rows of a new shape into old ones
        // would leave the unchanged rows with NULLs (or stale values) in the changed columns.
        ctx_.log->Info(t.into + ": the columns changed since ds=" + prev.ds +
                       "; reading the whole table again instead of merging");
        prev = Previous{};
      }
      if (!prev.high.empty() && !t.last_value.empty()) {
        ctx_.log->Info(t.into + ": last_value " + t.last_value + " is not used: ds=" + prev.ds +
                       " already imported up to " + prev.high);
      }
      std::string low = prev.high.empty() ? t.last_value : prev.high;
      auto max_rows =
          db().Query(SelectFrom(job, "MAX(" + OuterColumn(t.check_column) + ")", t.where));
      high = max_rows.empty() || !max_rows[0].at(0) ? low : *max_rows[0][0];
      low_used = low;
      if (!low.empty() && !t.lookback.empty()) {
        if (!check_codec) {
          throw InvalidInput(ctx_.Name() +
                             ": lookback: needs an integer, date or timestamp "
                             "check_column; " +
                             t.check_column + " is " + engine::SqlTypeName(cc));
        }
        Int units = check_codec->LookbackUnits(t.lookback);
        auto parsed = check_codec->Parse(low);
        if (units < 0 || !parsed) {
          throw InvalidInput(ctx_.Name() + ": lookback: '" + t.lookback +
                             "' does not fit check_column " + t.check_column + " (" +
                             engine::SqlTypeName(cc) +
                             "): use a number for numeric columns, a duration like 2h for "
                             "dates and times");
        }
        low_used = check_codec->Format(*parsed - units);
      }
      std::optional<Int> high_value = check_codec ? check_codec->Parse(high) : std::nullopt;
      std::string hi_lit =
          high_value ? check_codec->Literal(db(), *high_value) : db().Literal(high);
      if (high.empty()) {
        conditions.push_back("1 = 0");  // an empty table and no starting point
      } else if (low_used.empty()) {
        conditions.push_back(check + " <= " + hi_lit + " OR " + check + " IS NULL");
      } else {
        conditions.push_back(check + " > " + db().Literal(low_used) + " AND " + check +
                             " <= " + hi_lit);
      }
      watermark["mode"] = t.incremental;
      watermark["column"] = t.check_column;
      watermark["previous"] = low.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(low);
      watermark["low"] =
          low_used.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(low_used);
      watermark["high"] = high.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(high);
      if (!t.lookback.empty()) watermark["lookback"] = t.lookback;
      ctx_.log->Info(t.into + ": incremental " + t.incremental + " on " + t.check_column + ": (" +
                     (low_used.empty() ? "start" : low_used) + ", " +
                     (high.empty() ? "nothing" : high) + "]" +
                     (prev.ds.empty() ? "" : ", continuing from ds=" + prev.ds));
    }
    std::string base_where = JoinConditions(conditions);

    // Ranges: the whole result for one connection; else split on split_by (or the primary key).
    std::vector<Range> ranges;
    std::string split = t.split_by;
    if (split.empty() && pk.size() == 1) split = pk[0];
    size_t workers = dbs_.size();
    if (workers > 1 && split.empty()) {
      ctx_.log->Info(job.object +
                     " has no single-column primary key and no split_by: read by one "
                     "connection");
      workers = 1;
    }
    std::optional<KeyCodec> codec;
    engine::SourceColumn sc;
    if (workers > 1) {
      sc = ColumnType(job, split);
      codec = KeyCodec::For(sc);
      if (!codec && t.split_by.empty()) {
        ctx_.log->Info(job.object + ": its primary key " + split + " is " +
                       engine::SqlTypeName(sc) +
                       ", which ranges cannot cut (they need an integer, date or timestamp): "
                       "read by one connection; name such a column with split_by: to read in "
                       "parallel");
        workers = 1;
      }
    }
    if (workers > 1) {
      if (!codec) {
        throw InvalidInput(ctx_.Name() + ": split_by " + split + " of " + job.object + " is " +
                           engine::SqlTypeName(sc) +
                           "; ranges need an integer, date or timestamp column (name another with "
                           "split_by:, or read with parallel: 1)");
      }
      std::string key_sql = ColumnSql(job, split);
      std::string bounds_sql =
          !t.boundary_query.empty()
              ? t.boundary_query
              : SelectFrom(job, "MIN(" + OuterColumn(split) + "), MAX(" + OuterColumn(split) + ")",
                           base_where);
      auto b = db().Query(bounds_sql);
      if (b.empty() || b[0].size() < 2) {
        throw InvalidInput(ctx_.Name() +
                           ": boundary_query must return one row with two values "
                           "(the min and max of " +
                           split + ")");
      }
      if (!b[0][0] || !b[0][1]) {
        workers = 1;  // no rows (or only NULL keys): one plain read
      } else {
        auto lo = codec->Parse(*b[0][0]), hi = codec->Parse(*b[0][1]);
        if (!lo || !hi) {
          throw InvalidInput(ctx_.Name() + ": the bounds of " + split + " ('" + *b[0][0] + "', '" +
                             *b[0][1] + "') are not " + engine::SqlTypeName(sc) + " values");
        }
        if (*lo > *hi) {
          throw InvalidInput(ctx_.Name() + ": the bounds of " + split + " are reversed ('" +
                             *b[0][0] + "' > '" + *b[0][1] +
                             "'); boundary_query must return the minimum first");
        }
        int64_t target = table_rows > 0 ? std::max<int64_t>(
                                              500, table_rows / (static_cast<int64_t>(workers) * 4))
                                        : 0;
        // Without an index on the key every range is read by a scan of the whole table: one
        // range per connection, and no estimates (the planner would estimate the table).
        bool indexed = job.spec.table.empty() || HasIndex(job, split);
        if (!indexed) {
          std::string warning = "split_by " + split + " of " + job.object +
                                " has no index: every range is a scan of the whole table, so "
                                "it is read in " +
                                std::to_string(workers) +
                                " ranges only (add an index on it, or use parallel: 1)";
          ctx_.log->Info("warning: " + warning);
          std::fprintf(stderr, "sluice: warning: %s: %s\n", ctx_.Name().c_str(), warning.c_str());
        }
        SetWhat("planning the ranges of " + t.into + " on " + split);
        ranges = SplitRanges(db(), job.from_sql, key_sql, *codec, *lo, *hi,
                             static_cast<int>(workers) * (indexed ? 4 : 1),
                             static_cast<int>(workers) * (indexed ? 8 : 1),
                             job.spec.table.empty() || !indexed ? 0 : target, base_where, snapshot_,
                             ctx_.log);
      }
    }
    if (workers == 1) ranges = {{""}};
    SetWhat("importing " + t.into + " (" + std::to_string(index) + "/" + std::to_string(total) +
            ")");

    auto sql_for = [&](const Range& r) {
      return SelectFrom(job, plan.select_list, JoinConditions({base_where, r.condition}));
    };

    // Read: every connection writes its own part file.
    std::string staging = ctx_.lake->StagingDir(ctx_.run_id, ctx_.attempt_id, t.into, ctx_.ds);
    bool post = t.incremental == "lastmodified" || (!t.lookback.empty() && !low_used.empty());
    std::string fetch_dir = staging;
    if (post) {
      fetch_dir = ctx_.lake->ScratchDir(ctx_.run_id, ctx_.attempt_id, t.into);
    }
    RangeQueue queue(ranges);
    std::atomic<uint64_t> rows{0};
    std::vector<std::string> files(workers);
    std::vector<std::exception_ptr> errors(workers);
    std::vector<std::thread> threads;
    uint64_t bytes_before = 0;
    for (size_t w = 0; w < workers; w++) bytes_before += dbs_[w]->bytes_read();
    std::vector<std::shared_ptr<engine::Session>> sessions;
    for (size_t w = 0; w < workers; w++) {
      char name[64];
      std::snprintf(name, sizeof name, "part-%05zu.parquet", w);
      files[w] = fetch_dir + "/" + name;
      sessions.push_back(ctx_.Connect("importing " + t.into));
    }
    // Joined on every way out: a thread that fails to start cancels the ones that did.
    struct Joiner {
      std::vector<std::thread>& threads;
      CancelToken* cancel;
      ~Joiner() {
        for (auto& th : threads) {
          if (th.joinable()) th.join();
        }
      }
    } joiner{threads, ctx_.cancel};
    try {
      for (size_t w = 0; w < workers; w++) {
        auto session = sessions[w];
        threads.emplace_back([&, w, session] {
          try {
            RangeSource source(*dbs_[w], plan, queue, sql_for, job.object, im_.zero_dates_null,
                               &rows, progress, ctx_.cancel);
            session->CopySourceToParquet(source, files[w]);
          } catch (...) {
            errors[w] = std::current_exception();
            ctx_.cancel->Cancel("a reading connection failed");
          }
        });
      }
    } catch (...) {
      ctx_.cancel->Cancel("a reading thread could not start");
      throw;
    }
    for (auto& th : threads) th.join();
    // The first real error, not the cancellations it caused in the other connections.
    std::exception_ptr first;
    for (auto& e : errors) {
      if (!e) continue;
      try {
        std::rethrow_exception(e);
      } catch (const Error& err) {
        if (err.kind() != ErrorKind::kCancelled || !first) first = e;
        if (err.kind() != ErrorKind::kCancelled) break;
      } catch (...) {
        first = e;
        break;
      }
    }
    if (first) std::rethrow_exception(first);
    FaultPoint("import.after_read");
    uint64_t bytes = 0;
    for (size_t w = 0; w < workers; w++) bytes += dbs_[w]->bytes_read();
    bytes -= bytes_before;
    uint64_t fetched = rows.load();
    counts_.rows_read += fetched;
    counts_.bytes += bytes;

    auto session = ctx_.Connect("writing " + t.into);
    // Keep part-00000 even when empty (it carries the schema); drop other empty parts.
    for (size_t w = 1; w < workers && !post; w++) {
      auto n = session->Query("SELECT count(*) FROM " + lake::ReadParquetSql({files[w]}));
      if (*n.rows[0][0] == "0") std::filesystem::remove(files[w]);
    }
    uint64_t written = fetched;
    if (post) {
      written = MergeIncremental(*session, job, key, prev, files, staging);
      std::filesystem::remove_all(fetch_dir);
    }
    std::string wm = watermark.empty() ? "" : watermark.dump();
    PublishStaged(ctx_, *session, t.into, staging, written, wm);
    if (!wm.empty()) {
      ctx_.state->SetWatermark(
          ctx_.spec->name, ctx_.task->id, t.into,
          nlohmann::ordered_json{{"ds", ctx_.ds}, {"watermark", watermark}}.dump());
    }
    counts_.rows_written += written;
    double secs = SteadySeconds() - start;
    ctx_.log->Info(t.into + ": " + std::to_string(fetched) + " rows read (" +
                   HumanBytes(static_cast<double>(bytes)) + ") by " + std::to_string(workers) +
                   " connection(s) from " + std::to_string(ranges.size()) + " range(s) in " +
                   HumanSeconds(secs) + ", " + std::to_string(written) + " rows published" +
                   (high.empty() ? "" : "; next run continues after " + high));
  }

  // Writes staging/part-00000.parquet for an incremental import that needs the lake's own rows:
  // lastmodified (changed rows merged by key into the latest earlier partition) or append with a
  // lookback (re-read rows already in the lake dropped). Returns the rows written.
  uint64_t MergeIncremental(engine::Session& session, const Job& job,
                            const std::vector<std::string>& key, const Previous& prev,
                            const std::vector<std::string>& fetched, const std::string& staging) {
    const auto& t = job.spec;
    std::vector<std::string> present;
    for (const auto& f : fetched) {
      if (std::filesystem::exists(f)) present.push_back(f);
    }
    std::string fresh = lake::ReadParquetSql(present);
    std::vector<std::string> match;
    for (const auto& k : key) {
      match.push_back("o." + SqlIdentifier(k) + " IS NOT DISTINCT FROM n." + SqlIdentifier(k));
    }
    std::string out = staging + "/part-00000.parquet";
    std::string sql;
    if (t.incremental == "lastmodified") {
      if (prev.files.empty()) {
        sql = "SELECT * FROM " + fresh;
      } else {
        sql = "SELECT * FROM " + fresh + " UNION ALL BY NAME SELECT * FROM " +
              lake::ReadParquetSql(prev.files) + " o WHERE NOT EXISTS (SELECT 1 FROM " + fresh +
              " n WHERE " + Join(match, " AND ") + ")";
      }
    } else {
      // append with lookback: rows of the window that an earlier partition already holds.
      auto all = ctx_.lake->Select(t.into, "");
      std::vector<std::string> earlier;
      if (all) {
        for (const auto& f : all->files) {
          if (f.find("/ds=" + ctx_.ds + "/") == std::string::npos) earlier.push_back(f);
        }
      }
      if (earlier.empty()) {
        sql = "SELECT * FROM " + fresh;
      } else {
        sql = "SELECT * FROM " + fresh + " n WHERE NOT EXISTS (SELECT 1 FROM " +
              lake::ReadParquetSql(earlier) + " o WHERE " + Join(match, " AND ") + ")";
      }
    }
    return session.CopyToParquet(sql, out);
  }

  TaskContext& ctx_;
  const pipeline::DbImportSpec& im_;
  const pipeline::ConnectionSpec& conn_spec_;
  std::vector<std::unique_ptr<SourceDb>> dbs_;
  // PostgreSQL: a table name as listed (name, or schema.name) -> its quoted SQL name.
  std::map<std::string, std::string> sql_names_;
  bool snapshot_ = false;
  state::TaskCounts counts_;
};

}  // namespace

state::TaskCounts RunDbImport(TaskContext& ctx) {
  Importer importer(ctx);
  return importer.Run();
}

}  // namespace sluice::tasks
