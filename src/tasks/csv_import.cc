// csv_import: CSV file(s) -> one lake partition, through DuckDB's CSV reader with its rejects
// tables, so bad rows are kept with file, line, byte offset, column and reason while the good
// rows go at the engine's full speed.
//
// The engine's count is never taken on trust: every file is also read by an independent
// scanner (connectors/csv/csv_scan.h), and rows read = loaded + rejected must hold against its
// count of records before anything is published. DuckDB drops a record longer than its read
// buffer, or a whole file under some line-ending options, without a word; this is where such a
// loss becomes a reject or a failed task instead.
#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
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
#include "connectors/csv/csv_scan.h"
#include "fs/file_system.h"
#include "sftp/sftp.h"
#include "tasks/task.h"
#include "webhdfs/webhdfs.h"

namespace sluice::tasks {
namespace {

namespace csv = connectors::csv;

// DuckDB's default max_line_size, and how much of a record we keep as raw_line when we have to
// write its reject ourselves.
constexpr uint64_t kDefaultMaxLineSize = 2097152;
constexpr size_t kRawLineKept = 64 * 1024;

struct InputFile {
  std::string path;
  std::string source;  // where it came from, when it was fetched (an sftp:// URL)
  uint64_t size = 0;
  uint64_t records = 0;  // data records, from the scanner (the header not counted)
};

// A path for DuckDB's reader, which expands *, ? and [ as a glob pattern: each becomes a
// one-character class, so the path names exactly one file.
std::string LiteralGlob(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '*' || c == '?' || c == '[') {
      out += '[';
      out += c;
      out += ']';
    } else {
      out += c;
    }
  }
  return out;
}

bool HasGlobCharacters(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::string TypeMap(const pipeline::NamedTypes& types) {
  std::vector<std::string> parts;
  for (const auto& [name, type] : types)
    parts.push_back(SqlLiteral(name) + ": " + SqlLiteral(type));
  return "{" + Join(parts, ", ") + "}";
}

// A CSV field: quoted when it holds a delimiter, quote or line break.
std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  return "\"" + ReplaceAll(s, "\"", "\"\"") + "\"";
}

// Text with every invalid UTF-8 sequence replaced by U+FFFD, for a VARCHAR.
std::string ValidUtf8(const std::string& s) {
  std::string out;
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    unsigned char c = p[i];
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= s.size() && c != 0;
    for (size_t k = 1; ok && k < len; k++) ok = (p[i + k] & 0xC0) == 0x80;
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      i++;
    }
  }
  return out;
}

class CsvImport {
 public:
  explicit CsvImport(TaskContext& ctx) : ctx_(ctx), t_(*ctx.task), c_(ctx.task->csv) {
    dialect_.delimiter = c_.delimiter[0];
    dialect_.quote = c_.quote.empty() ? 0 : c_.quote[0];
    dialect_.escape = c_.escape.empty() ? 0 : c_.escape[0];
  }

  state::TaskCounts Run() {
    ResolveInputs();
    for (const auto& f : files_) CheckHeader(f);
    session_ = ctx_.Connect("reading " + Describe(), total_bytes_);
    ChooseExactTypes();
    staging_ = ctx_.lake->StagingDir(ctx_.run_id, ctx_.attempt_id, t_.into, ctx_.ds);
    rows_ = ReadIntoStaging();
    FaultPoint("write.after_data");
    ctx_.cancel->ThrowIfCancelled();
    CollectRejects();
    Reconcile();
    RecordCounts();
    CheckUnterminatedQuote();
    CheckBalance();
    CheckRejectLimit();
    return Publish();
  }

 private:
  std::string Describe() const {
    return files_.size() == 1
               ? "'" + files_[0].path + "'"
               : std::to_string(files_.size()) + " files matching '" + pattern_ + "'";
  }

  // path: names one file; glob: every file its pattern matches, in name order.
  void ResolveInputs() {
    std::vector<std::string> paths;
    if (!c_.glob.empty()) {
      pattern_ = ctx_.spec->ResolvePath(ctx_.Render(c_.glob, ctx_.Name() + " glob"));
      glob_t g{};
      // A folder that cannot be listed is an error; one that does not exist is no match.
      static thread_local std::string unreadable;
      unreadable.clear();
      auto on_error = [](const char* path, int err) -> int {
        if (err == ENOENT || err == ENOTDIR) return 0;
        unreadable = ErrnoMessage(path, err);
        return 1;
      };
      int rc = ::glob(pattern_.c_str(), 0, on_error, &g);
      if (rc == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) paths.push_back(g.gl_pathv[i]);
      }
      ::globfree(&g);
      if (rc == GLOB_ABORTED && !unreadable.empty()) {
        throw IoError(ctx_.Name() + ": cannot list the files of glob '" + pattern_ +
                      "': " + unreadable);
      }
      std::sort(paths.begin(), paths.end());
      if (paths.empty()) {
        throw Error(ErrorKind::kNotFound,
                    ctx_.Name() + ": no file matches glob '" + pattern_ +
                        "' (check glob: in the pipeline file, or wait for the producer to "
                        "deliver the files)",
                    true);
      }
    } else {
      std::string rendered = ctx_.Render(c_.path, ctx_.Name() + " path");
      if (IsRemoteUrl(rendered)) {
        paths.push_back(Fetch(rendered));
      } else {
        std::string path = ctx_.spec->ResolvePath(rendered);
        if (c_.wait) {
          auto local = fs::MakeLocalFileSystem();
          WaitFor(*local, path, path);
        }
        paths.push_back(path);
      }
      pattern_ = paths[0];
    }
    for (const auto& path : paths) {
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
          throw IoError(ErrnoMessage(ctx_.Name() + ": cannot read '" + path + "'", errno));
        }
        // Retryable: a daily file often lands a little after the schedule fires.
        throw Error(ErrorKind::kNotFound,
                    ctx_.Name() + ": input file '" + path +
                        "' does not exist (check path: in the pipeline file, or wait for the "
                        "producer to deliver it" +
                        (HasGlobCharacters(path)
                             ? "; path: names one file, write glob: to read every file that "
                               "matches a pattern"
                             : "") +
                        ")",
                    true);
      }
      if (!S_ISREG(st.st_mode)) {
        if (!c_.glob.empty() && S_ISDIR(st.st_mode)) continue;  // a folder the pattern matched
        throw InvalidInput(ctx_.Name() + ": '" + path + "' is " +
                           (S_ISDIR(st.st_mode) ? "a folder" : "not a regular file") +
                           "; path: names one CSV file (glob: reads every file that matches a "
                           "pattern)");
      }
      InputFile f;
      f.path = path;
      if (auto it = fetched_.find(path); it != fetched_.end()) f.source = it->second;
      f.size = static_cast<uint64_t>(st.st_size);
      if (f.size == 0 && !c_.allow_empty) {
        throw Error(ErrorKind::kInvalidInput,
                    ctx_.Name() + ": input file '" + path +
                        "' is empty (0 bytes); the producer may still be writing it. Set "
                        "allow_empty: true to load an empty partition",
                    true);
      }
      total_bytes_ += f.size;
      files_.push_back(f);
    }
    if (files_.empty()) {
      throw Error(ErrorKind::kNotFound,
                  ctx_.Name() + ": glob '" + pattern_ + "' matches only folders, no files", true);
    }
    for (const auto& f : files_) {
      ctx_.log->Info("reading " + f.path + " (" + HumanBytes(static_cast<double>(f.size)) + ")");
    }
  }

  // Copies an sftp:// or webhdfs:// input to a local folder of this attempt (whole, size checked),
  // after the sensor (wait:) says it is complete. Returns the local path.
  std::string Fetch(const std::string& url_text) {
    RemotePath remote = ctx_.ConnectRemote(url_text, c_.connection);
    const std::string& shown = remote.shown;
    if (c_.wait) WaitFor(*remote.fs, remote.path, shown);
    fs::FileInfo info;
    if (!remote.fs->Stat(remote.path, &info)) {
      throw Error(ErrorKind::kNotFound,
                  ctx_.Name() + ": input file '" + shown +
                      "' does not exist (check path: in the pipeline file, or wait for the "
                      "producer to deliver it; wait: {timeout: 2h} waits for it)",
                  true);
    }
    if (info.is_dir) {
      throw InvalidInput(ctx_.Name() + ": '" + shown + "' is a folder; path: names one CSV file");
    }
    fetch_dir_.Create(ctx_.spec->ResolvePath(ctx_.spec->state_dir) + "/tmp/fetch-" +
                      std::to_string(ctx_.attempt_id));
    std::string local = fetch_dir_.path() + "/" + fs::BaseName(remote.path);
    ctx_.log->Info("fetching " + shown + " (" + HumanBytes(static_cast<double>(info.size)) + ")");
    remote.fs->Download(remote.path, local, ctx_.ShowCopy("fetching " + shown, info.size));
    if (ctx_.activity) {
      ctx_.activity->rows = 0;
      ctx_.activity->counts_bytes = false;
    }
    uint64_t got = std::filesystem::file_size(local);
    if (got != info.size) {
      throw IoError(ctx_.Name() + ": fetched " + std::to_string(got) + " of " +
                    std::to_string(info.size) + " bytes of '" + shown +
                    "' (the file changed while it was read?)");
    }
    fetched_[local] = shown;
    return local;
  }

  // The sensor: waits until path exists and is complete (its marker exists, or its size held
  // for stable_for), polling every poll, up to the wait's timeout (default: the task's).
  void WaitFor(fs::FileSystem& fs, const std::string& path, const std::string& shown) {
    const pipeline::WaitSpec& w = *c_.wait;
    std::string marker;
    if (!w.marker.empty()) {
      marker = ctx_.Render(w.marker, ctx_.Name() + " wait.marker");
      if (sftp::IsSftpUrl(marker)) marker = sftp::ParseSftpUrl(marker).path;
      if (webhdfs::IsWebHdfsUrl(marker)) marker = webhdfs::ParseWebHdfsUrl(marker).path;
      if (!StartsWith(marker, "/")) marker = fs::JoinPath(fs::ParentPath(path), marker);
    }
    auto timeout = w.timeout.count() > 0 ? w.timeout : t_.timeout;
    double start = SteadySeconds();
    double deadline = start + timeout.count() / 1000.0;
    double stable_since = -1;
    uint64_t last_size = 0;
    std::string state = "not there yet";
    ctx_.log->Info("waiting for " + shown +
                   (marker.empty()
                        ? " to stop growing for " + HumanSeconds(w.stable_for.count() / 1000.0)
                        : " and its marker " + marker) +
                   " (up to " + HumanSeconds(timeout.count() / 1000.0) + ")");
    for (;;) {
      if (ctx_.activity) {
        std::lock_guard<std::mutex> lock(ctx_.activity->mu);
        ctx_.activity->what = "waiting for " + fs::BaseName(path) + ": " + state;
      }
      fs::FileInfo info;
      double now = SteadySeconds();
      if (fs.Stat(path, &info) && !info.is_dir) {
        if (!marker.empty()) {
          fs::FileInfo m;
          if (fs.Stat(marker, &m)) break;
          state = "no marker " + fs::BaseName(marker) + " yet";
        } else if (stable_since >= 0 && info.size == last_size) {
          if (now - stable_since >= w.stable_for.count() / 1000.0) break;
          state = "size unchanged for " + HumanSeconds(now - stable_since);
        } else {
          stable_since = now;
          last_size = info.size;
          state = "still growing (" + HumanBytes(static_cast<double>(info.size)) + ")";
          if (w.stable_for.count() == 0) break;
        }
      }
      if (now >= deadline) {
        throw Error(ErrorKind::kNotFound,
                    ctx_.Name() + ": waited " + HumanSeconds(now - start) + " for '" + shown +
                        "': " + state +
                        " (raise wait.timeout, or check that the producer delivers it)",
                    true);
      }
      double pause = std::min(w.poll.count() / 1000.0, std::max(0.0, deadline - now));
      if (!ctx_.cancel->SleepFor(
              std::chrono::milliseconds(static_cast<int64_t>(pause * 1000) + 1))) {
        ctx_.cancel->ThrowIfCancelled();
      }
    }
    ctx_.log->Info(shown + " is complete after " + HumanSeconds(SteadySeconds() - start));
  }

  std::vector<std::string> ReaderOptions() const {
    std::vector<std::string> opts = {
        "delim = " + SqlLiteral(c_.delimiter),
        "quote = " + SqlLiteral(c_.quote),
        "escape = " + SqlLiteral(c_.escape),
        "nullstr = " + SqlLiteral(c_.null_string),
        // PostgreSQL's COPY rule: an unquoted empty field is NULL, a quoted one ("") is an empty
        // string, so a file can carry both.
        "allow_quoted_nulls = false",
        "encoding = " + SqlLiteral(c_.encoding),
    };
    if (!c_.date_format.empty()) opts.push_back("dateformat = " + SqlLiteral(c_.date_format));
    if (!c_.timestamp_format.empty())
      opts.push_back("timestampformat = " + SqlLiteral(c_.timestamp_format));
    if (c_.max_line_size > 0) opts.push_back("max_line_size = " + std::to_string(c_.max_line_size));
    return opts;
  }

  // The header, read by DuckDB's own rules (quotes, escapes, line endings, BOM), must name the
  // declared columns in order: a reordered export would otherwise load into the wrong columns.
  void CheckHeader(const InputFile& f) {
    if (!c_.header || c_.columns.empty() || f.size == 0) return;
    // One column more than declared, so a header with extra columns shows them.
    pipeline::NamedTypes cols;
    for (size_t i = 0; i <= c_.columns.size(); i++) {
      cols.emplace_back("c" + std::to_string(i), "VARCHAR");
    }
    // Rows the reader cannot read later in its first chunk go to a rejects table, so they do
    // not fail the header check; a header it cannot read is a reject on line 1.
    std::string rejects = "sluice_header_rejects_" + std::to_string(ctx_.attempt_id);
    auto opts = ReaderOptions();
    opts.insert(opts.end(), {"header = false", "auto_detect = false", "columns = " + TypeMap(cols),
                             "null_padding = true", "strict_mode = false", "parallel = false",
                             "store_rejects = true", "rejects_table = " + SqlLiteral(rejects),
                             "rejects_scan = " + SqlLiteral(rejects + "_scan")});
    auto session = ctx_.Connect("reading the header of " + f.path);
    engine::Table header;
    try {
      header = session->Query("SELECT * FROM read_csv(" + SqlLiteral(LiteralGlob(f.path)) + ", " +
                                  Join(opts, ", ") + ") LIMIT 1",
                              1);
      auto bad = session->Query(
          "SELECT error_message FROM " + SqlIdentifier(rejects) + " WHERE line = 1 LIMIT 1", 1);
      if (!bad.rows.empty()) {
        throw InvalidInput(ctx_.Name() + ": the header (line 1) of '" + f.path +
                           "' cannot be read: " + bad.rows[0][0].value_or("") +
                           " (set encoding: to the file's encoding, or header: false)");
      }
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kCancelled || StartsWith(e.what(), ctx_.Name())) throw;
      throw Error(e.kind(),
                  ctx_.Name() + ": cannot read the header of '" + f.path + "': " + e.what(),
                  e.retryable());
    }
    std::vector<std::string> found, found_lower, want, want_lower;
    if (!header.rows.empty()) {
      for (const auto& v : header.rows[0]) {
        if (!v) break;
        found.push_back(*v);
        found_lower.push_back(ToLower(Trim(*v)));
      }
    }
    for (const auto& [name, type] : c_.columns) {
      want.push_back(name);
      want_lower.push_back(ToLower(name));
    }
    if (found_lower != want_lower) {
      if (found.size() > want.size()) found.back() = "...";
      throw InvalidInput(ctx_.Name() + ": the header of '" + f.path + "' has columns [" +
                         Join(found, ", ") + "] but columns: declares [" + Join(want, ", ") +
                         "]; fix columns: (every column, in file order) or set header: false");
    }
  }

  // Declared columns read exactly (Engine::ExactReadType): the reader hands them over as
  // text, the query converts them with the engine's exact function and leaves out rows where a
  // value did not convert; Reconcile finds those rows and rejects them. (Declaring the exact type
  // to the reader itself would make such values its own rejects, but DuckDB 1.4's reader crashes
  // reporting a cast error of a registered cast in files larger than three of its buffers.)
  // A column with a date or timestamp format keeps the reader's own parsing of that format.
  struct ExactColumn {
    size_t index;  // 0-based position in the file
    std::string name;
    std::string declared;  // as written in columns:
    engine::exact::Target target;
  };

  void ChooseExactTypes() {
    for (size_t i = 0; i < c_.columns.size(); i++) {
      const auto& [name, type] = c_.columns[i];
      std::string lower = ToLower(type);
      bool formatted = (!c_.date_format.empty() && lower == "date") ||
                       (!c_.timestamp_format.empty() &&
                        (StartsWith(lower, "timestamp") || StartsWith(lower, "datetime")));
      if (formatted) continue;
      if (auto target = ctx_.engine->ExactReadType(type))
        exact_.push_back({i, name, type, *target});
    }
  }

  std::string ReadSql() const {
    std::vector<std::string> paths;
    for (const auto& f : files_) {
      if (f.size > 0) paths.push_back(SqlLiteral(LiteralGlob(f.path)));
    }
    auto opts = ReaderOptions();
    opts.insert(opts.end(),
                {"header = " + std::string(c_.header ? "true" : "false"), "strict_mode = true",
                 "store_rejects = true", "rejects_table = " + SqlLiteral(RejectsTable()),
                 "rejects_scan = " + SqlLiteral(RejectsScan())});
    if (c_.columns.empty()) {
      if (!c_.types.empty()) opts.push_back("types = " + TypeMap(c_.types));
      return "SELECT * FROM read_csv([" + Join(paths, ", ") + "], " + Join(opts, ", ") + ")";
    }
    // Declared columns: no sniffing, so a malformed file cannot change how it is read.
    pipeline::NamedTypes read_as = c_.columns;
    std::vector<std::string> converted, select, keep;
    for (const auto& e : exact_) {
      read_as[e.index].second = "VARCHAR";
      std::string text = SqlIdentifier(e.name), value = ExactValue(e);
      converted.push_back(e.target.read_function + "(" + text + ") AS " + value);
      keep.push_back("(" + text + " IS NULL OR " + value + " IS NOT NULL)");
    }
    // Every column is named in the select list: the reader names the wrong column in its
    // rejects when a column is left out of a query.
    for (size_t i = 0; i < c_.columns.size(); i++) {
      const auto& [name, type] = c_.columns[i];
      auto e = std::find_if(exact_.begin(), exact_.end(), [&](auto& x) { return x.index == i; });
      select.push_back(e == exact_.end() ? SqlIdentifier(name)
                                         : ExactValue(*e) + " AS " + SqlIdentifier(name));
    }
    opts.push_back("auto_detect = false");
    opts.push_back("columns = " + TypeMap(read_as));
    std::string read = "read_csv([" + Join(paths, ", ") + "], " + Join(opts, ", ") + ")";
    if (exact_.empty()) return "SELECT " + Join(select, ", ") + " FROM " + read;
    return "SELECT " + Join(select, ", ") + " FROM (SELECT *, " + Join(converted, ", ") + " FROM " +
           read + ") WHERE " + Join(keep, " AND ");
  }

  static std::string ExactValue(const ExactColumn& e) {
    return SqlIdentifier("__sluice_exact_" + std::to_string(e.index));
  }

  std::string RejectsTable() const { return "sluice_rejects_" + std::to_string(ctx_.attempt_id); }
  std::string RejectsScan() const {
    return "sluice_rejects_scan_" + std::to_string(ctx_.attempt_id);
  }
  std::string Norm() const { return "sluice_rejects_norm_" + std::to_string(ctx_.attempt_id); }

  uint64_t ReadIntoStaging() {
    std::string out = staging_ + "/part-00000.parquet";
    bool any_data = std::any_of(files_.begin(), files_.end(), [](auto& f) { return f.size > 0; });
    if (!any_data) {
      // Allowed empty files still publish a partition with the declared columns.
      std::vector<std::string> cols;
      for (const auto& [name, type] : c_.columns) {
        cols.push_back("CAST(NULL AS " + type + ") AS " + SqlIdentifier(name));
      }
      if (cols.empty()) {
        throw InvalidInput(ctx_.Name() + ": " + Describe() +
                           " is empty and has no columns: to take the schema from; declare "
                           "columns: to load empty files");
      }
      return session_->CopyToParquet("SELECT " + Join(cols, ", ") + " LIMIT 0", out);
    }
    try {
      return session_->CopyToParquet(ReadSql(), out);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kCancelled) throw;
      std::string what = e.what();
      // A full disk or an unwritable lake is a problem with the output, not with the input.
      if (what.find(staging_) != std::string::npos ||
          what.find("No space left on device") != std::string::npos) {
        throw Error(
            ErrorKind::kIo,
            ctx_.Name() + ": cannot write the partition into the lake (" + staging_ + "): " + what,
            true);
      }
      if (what.find("state machine reached an invalid state") != std::string::npos) {
        DiagnoseUnreadable();
      }
      throw Error(e.kind(), ctx_.Name() + ": cannot read " + Describe() + ": " + what,
                  e.retryable());
    }
  }

  // DuckDB's strict reader gives up on a file whose lines end in more than one way; name the
  // line where the ending changes, which the engine's message does not.
  void DiagnoseUnreadable() {
    for (const auto& f : files_) {
      if (f.size == 0) continue;
      auto s = csv::ScanFile(f.path, dialect_, f.size, {}, nullptr, ctx_.cancel,
                             c_.encoding == "utf-16");
      if (s.mixed_line != 0) {
        throw InvalidInput(
            ctx_.Name() + ": '" + f.path + "' mixes line endings: the first line ends with " +
            csv::LineEndingName(s.first_ending) + " but line " + std::to_string(s.mixed_line) +
            " with " + csv::LineEndingName(s.mixed_ending) +
            ", which the CSV reader cannot read; convert the file to one kind of line ending "
            "(e.g. sed -i 's/\\r$//' FILE, or dos2unix) and run again");
      }
    }
  }

  // One row in DuckDB's rejects table per problem; a row can have several. Rejected rows are
  // counted once each, by file and the reader's line number (record); their byte offsets and
  // physical lines come from the scanner, since the reader's positions are off by the line
  // ending with CRLF and wrap every buffer (32 MB) on columns read through a cast.
  void CollectRejects() {
    std::string table =
        " (file VARCHAR, record BIGINT, column_idx BIGINT, column_name VARCHAR, error_type "
        "VARCHAR, error_message VARCHAR, raw_line VARCHAR)";
    if (!std::any_of(files_.begin(), files_.end(), [](auto& f) { return f.size > 0; })) {
      session_->Execute("CREATE TEMP TABLE " + Norm() + table);
      return;
    }
    session_->Execute(
        "CREATE TEMP TABLE " + Norm() +
        " AS SELECT s.file_path AS file, r.line::BIGINT AS record, r.column_idx::BIGINT AS "
        "column_idx, r.column_name, r.error_type::VARCHAR AS error_type, r.error_message, CASE "
        "WHEN starts_with(r.csv_line, chr(10)) THEN r.csv_line[2:] ELSE r.csv_line END AS "
        "raw_line FROM " +
        SqlIdentifier(RejectsTable()) + " r JOIN " + SqlIdentifier(RejectsScan()) +
        " s USING (scan_id, file_id)");
  }

  // File path as DuckDB reports it -> index in files_. DuckDB reports the path it opened, which
  // is ours without the glob escapes.
  size_t FileIndex(const std::string& reported) const {
    for (size_t i = 0; i < files_.size(); i++) {
      if (files_[i].path == reported) return i;
    }
    throw Internal("the CSV reader reported a reject in '" + reported +
                   "', which is not one of the files read");
  }

  // Counts every file's records with the independent scanner, finds the physical line of every
  // rejected row, and checks read = loaded + rejected.
  void Reconcile() {
    std::vector<std::vector<uint64_t>> records(files_.size());
    session_->Stream("SELECT DISTINCT file, record FROM " + Norm() + " ORDER BY 1, 2",
                     [&](const engine::Batch& b) {
                       for (size_t r = 0; r < b.num_rows; r++) {
                         records[FileIndex(b.cells[0][r].value_or(""))].push_back(
                             std::stoull(b.cells[1][r].value_or("0")));
                       }
                     });
    for (const auto& o : records) rejected_ += o.size();

    std::string lines_csv = ctx_.rejects_dir + "/" + t_.id + ".lines.tmp.csv";
    FILE* lines = std::fopen(lines_csv.c_str(), "w");
    if (lines == nullptr) throw IoError(ErrnoMessage("cannot write '" + lines_csv + "'", errno));
    std::fprintf(lines, "file,record,byte_offset,line\n");
    uint64_t max_line =
        c_.max_line_size > 0 ? static_cast<uint64_t>(c_.max_line_size) : kDefaultMaxLineSize;
    bool utf16 = c_.encoding == "utf-16";
    double scan_start = SteadySeconds();
    std::vector<std::pair<size_t, csv::LongRecord>> lost_candidates;
    scanned_.resize(files_.size());
    for (size_t i = 0; i < files_.size(); i++) {
      auto& f = files_[i];
      if (f.size == 0) continue;
      std::vector<csv::Located> located;
      csv::ScanStats s;
      try {
        s = csv::ScanFile(f.path, dialect_, f.size, records[i], &located, ctx_.cancel, utf16,
                          max_line);
      } catch (...) {
        std::fclose(lines);
        std::remove(lines_csv.c_str());
        throw;
      }
      f.records = s.records - (c_.header && s.records > 0 ? 1 : 0);
      scanned_[i] = s;
      for (const auto& l : located) {
        std::fprintf(lines, "%s,%llu,%llu,%llu\n", CsvField(f.path).c_str(),
                     static_cast<unsigned long long>(l.record_line),
                     static_cast<unsigned long long>(l.offset),
                     static_cast<unsigned long long>(l.line));
      }
      if (located.size() != records[i].size()) {
        std::fclose(lines);
        std::remove(lines_csv.c_str());
        throw Internal(ctx_.Name() + ": the CSV reader rejected " +
                       std::to_string(records[i].size()) + " rows of '" + f.path + "', but only " +
                       std::to_string(located.size()) +
                       " of them could be found in the file; nothing was published (please "
                       "report this with the file)");
      }
      std::set<uint64_t> rejected;
      for (const auto& l : located) rejected.insert(l.offset);
      for (const auto& lr : s.long_records) {
        if (!rejected.count(lr.offset)) lost_candidates.push_back({i, lr});
      }
    }
    if (std::fclose(lines) != 0)
      throw IoError(ErrnoMessage("cannot write '" + lines_csv + "'", errno));
    ctx_.log->Info("counted the records of " + Describe() + " in " +
                   HumanSeconds(SteadySeconds() - scan_start));
    session_->Execute("CREATE TEMP TABLE " + Norm() + "_lines AS SELECT * FROM read_csv(" +
                      SqlLiteral(lines_csv) +
                      ", header = true, auto_detect = false, quote = '\"', escape = '\"', columns "
                      "= {'file': 'VARCHAR', "
                      "'record': 'BIGINT', 'byte_offset': 'BIGINT', 'line': 'BIGINT'})");
    std::remove(lines_csv.c_str());

    for (const auto& f : files_) expected_ += f.records;
    if (rows_ + rejected_ < expected_ && lost_candidates.size() <= expected_ - rows_ - rejected_ &&
        !lost_candidates.empty()) {
      // The reader skipped records longer than its buffer without a word; they are rejects.
      for (const auto& [i, lr] : lost_candidates) AddLongRecordReject(files_[i].path, lr, max_line);
      rejected_ += lost_candidates.size();
    }
    lost_candidates_ = lost_candidates;
    if (rows_ + rejected_ < expected_ && !exact_.empty()) RejectInexactValues(records, max_line);
  }

  // The rows the query left out because an exact column's value did not convert: found by
  // reading the files' fields again (the rare path), and rejected with their line and reason.
  void RejectInexactValues(const std::vector<std::vector<uint64_t>>& reader_rejects,
                           uint64_t max_line) {
    double start = SteadySeconds();
    std::vector<size_t> columns;
    for (const auto& e : exact_) columns.push_back(e.index);
    std::string rows_csv = ctx_.rejects_dir + "/" + t_.id + ".inexact.tmp.csv";
    FILE* out = std::fopen(rows_csv.c_str(), "w");
    if (out == nullptr) throw IoError(ErrnoMessage("cannot write '" + rows_csv + "'", errno));
    std::fprintf(out, "file,record,byte_offset,line,column_idx,column_name,reason,raw_line\n");
    // The files are read in parts between the scanner's checkpoints, on as many threads as
    // the machine has cores; each part writes its rejects to its own buffer, joined in order.
    struct Part {
      size_t file;
      csv::FieldRange range;
      std::string out;
      uint64_t found = 0;
    };
    std::vector<Part> parts;
    std::vector<std::vector<uint64_t>> skips(files_.size());
    bool utf16 = c_.encoding == "utf-16";
    for (size_t i = 0; i < files_.size(); i++) {
      if (files_[i].size == 0) continue;
      // Rows the reader rejected, or skipped for their length, never reached the query.
      skips[i] = reader_rejects[i];
      for (const auto& [fi, lr] : lost_candidates_) {
        if (fi == i) skips[i].push_back(lr.record_line);
      }
      std::sort(skips[i].begin(), skips[i].end());
      csv::Checkpoint from;
      for (const auto& cp : utf16 ? std::vector<csv::Checkpoint>{} : scanned_[i].checkpoints) {
        parts.push_back({i, {from, cp.offset}, "", 0});
        from = cp;
      }
      parts.push_back({i, {from, 0}, "", 0});
    }
    auto read_part = [&](Part& part) {
      const auto& f = files_[part.file];
      csv::ScanFields(
          f.path, dialect_, f.size, c_.header, columns, skips[part.file],
          [&](const csv::RecordText& r, const std::vector<csv::FieldText>& fields) {
            bool counted = false;
            for (size_t k = 0; k < exact_.size(); k++) {
              const auto& v = fields[k];
              if (!v.quoted && v.text == c_.null_string) continue;  // NULL
              if (engine::exact::Fits(exact_[k].target, v.text)) continue;
              std::string raw(r.length > max_line ? 0 : r.length, '\0');
              ReadAt(f.path, r.offset, &raw);
              part.out += CsvField(f.path) + "," + std::to_string(r.record_line) + "," +
                          std::to_string(r.offset) + "," + std::to_string(r.line) + "," +
                          std::to_string(exact_[k].index + 1) + "," + CsvField(exact_[k].name) +
                          "," +
                          CsvField("Error when converting column \"" + exact_[k].name + "\": \"" +
                                   v.text.substr(0, 200) + "\" is not exactly a " +
                                   exact_[k].target.declared +
                                   " (a value that does not fit its declared type is rejected, "
                                   "never rounded or truncated)") +
                          "," + CsvField(ValidUtf8(raw)) + "\n";
              if (!counted) part.found++;
              counted = true;
            }
          },
          ctx_.cancel, utf16, 0, part.range);
    };
    std::atomic<size_t> next{0};
    std::exception_ptr error;
    std::mutex error_mu;
    auto worker = [&] {
      for (size_t k; (k = next++) < parts.size();) {
        try {
          read_part(parts[k]);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mu);
          if (!error) error = std::current_exception();
          next = parts.size();
        }
      }
    };
    unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), 8));
    std::vector<std::thread> pool;
    for (unsigned k = 1; k < threads && k < parts.size(); k++) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
    uint64_t found = 0;
    for (const auto& part : parts) {
      found += part.found;
      if (!error && std::fwrite(part.out.data(), 1, part.out.size(), out) != part.out.size()) {
        error = std::make_exception_ptr(
            IoError(ErrnoMessage("cannot write '" + rows_csv + "'", errno)));
      }
    }
    if (error) {
      std::fclose(out);
      std::remove(rows_csv.c_str());
      std::rethrow_exception(error);
    }
    if (std::fclose(out) != 0)
      throw IoError(ErrnoMessage("cannot write '" + rows_csv + "'", errno));
    std::string read = "read_csv(" + SqlLiteral(rows_csv) +
                       ", header = true, auto_detect = false, quote = '\"', escape = '\"', columns "
                       "= {'file': 'VARCHAR', "
                       "'record': 'BIGINT', 'byte_offset': 'BIGINT', 'line': 'BIGINT', "
                       "'column_idx': 'BIGINT', 'column_name': 'VARCHAR', 'reason': 'VARCHAR', "
                       "'raw_line': 'VARCHAR'}, allow_quoted_nulls = false)";
    session_->Execute("INSERT INTO " + Norm() +
                      " SELECT file, record, column_idx, column_name, 'CAST', reason, raw_line "
                      "FROM " +
                      read);
    session_->Execute("INSERT INTO " + Norm() +
                      "_lines SELECT DISTINCT file, record, "
                      "byte_offset, line FROM " +
                      read);
    std::remove(rows_csv.c_str());
    rejected_ += found;
    ctx_.log->Info("found " + std::to_string(found) +
                   " rows with values that do not fit their "
                   "declared type exactly in " +
                   HumanSeconds(SteadySeconds() - start));
  }

  static void ReadAt(const std::string& path, uint64_t offset, std::string* out) {
    if (out->empty()) return;
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return out->clear();
    if (::fseeko(f, static_cast<off_t>(offset), SEEK_SET) != 0 ||
        std::fread(out->data(), 1, out->size(), f) != out->size()) {
      out->clear();
    }
    std::fclose(f);
  }

  void CheckBalance() {
    if (rows_ + rejected_ != expected_) Mismatch(expected_, lost_candidates_);
  }

  void AddLongRecordReject(const std::string& path, const csv::LongRecord& lr, uint64_t max_line) {
    std::string raw;
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
      raw.resize(std::min<uint64_t>(lr.length, kRawLineKept));
      if (::fseeko(f, static_cast<off_t>(lr.offset), SEEK_SET) != 0 ||
          std::fread(raw.data(), 1, raw.size(), f) != raw.size()) {
        raw.clear();
      }
      std::fclose(f);
    }
    std::string reason = "the row is " + std::to_string(lr.length) +
                         " bytes, longer than max_line_size (" + std::to_string(max_line) +
                         "); raise max_line_size: to load it" +
                         (lr.length > kRawLineKept ? " (raw_line holds its first 64 KiB)" : "");
    std::string record = std::to_string(lr.record_line);
    session_->Execute("INSERT INTO " + Norm() + " VALUES (" + SqlLiteral(path) + ", " + record +
                      ", NULL, NULL, 'LINE SIZE OVER MAXIMUM', " + SqlLiteral(reason) + ", " +
                      SqlLiteral(ValidUtf8(raw)) + ")");
    session_->Execute("INSERT INTO " + Norm() + "_lines VALUES (" + SqlLiteral(path) + ", " +
                      record + ", " + std::to_string(lr.offset) + ", " + std::to_string(lr.line) +
                      ")");
    ctx_.log->Info("line " + std::to_string(lr.line) + " of " + path + " (" +
                   std::to_string(lr.length) + " bytes) was skipped by the reader; rejected");
  }

  [[noreturn]] void Mismatch(uint64_t expected,
                             const std::vector<std::pair<size_t, csv::LongRecord>>& long_ones) {
    std::string why;
    for (size_t i = 0; i < scanned_.size() && why.empty(); i++) {
      const auto& s = scanned_[i];
      if (s.mixed_line != 0) {
        why = "; '" + files_[i].path + "' mixes line endings (line 1 ends with " +
              csv::LineEndingName(s.first_ending) + ", line " + std::to_string(s.mixed_line) +
              " with " + csv::LineEndingName(s.mixed_ending) + "): convert it to one kind";
      }
    }
    if (why.empty() && !long_ones.empty()) {
      const auto& [i, lr] = long_ones.front();
      why = "; line " + std::to_string(lr.line) + " of '" + files_[i].path +
            "' holds a record of " + std::to_string(lr.length) +
            " bytes, more than max_line_size: raise max_line_size:";
    }
    throw InvalidInput(ctx_.Name() + ": " + Describe() + " holds " + std::to_string(expected) +
                       " data rows, but the CSV reader returned " + std::to_string(rows_) +
                       " rows and " + std::to_string(rejected_) + " rejects: " +
                       std::to_string(expected > rows_ + rejected_ ? expected - rows_ - rejected_
                                                                   : rows_ + rejected_ - expected) +
                       " rows are unaccounted for, so nothing was published" +
                       (why.empty() ? " (please report this with the file)" : why));
  }

  void RecordCounts() {
    counts_.rows_read = static_cast<int64_t>(rows_ + rejected_);
    counts_.rows_written = static_cast<int64_t>(rows_);
    counts_.rows_rejected = static_cast<int64_t>(rejected_);
    if (ctx_.partial_counts) *ctx_.partial_counts = counts_;
    ctx_.log->Info("read " + std::to_string(rows_ + rejected_) + " rows: " + std::to_string(rows_) +
                   " loaded, " + std::to_string(rejected_) + " rejected");
  }

  // The rejects with their positions; every reject's record was located by the scanner.
  std::string Located() const {
    return Norm() + " n JOIN " + Norm() + "_lines l ON l.file = n.file AND l.record = n.record";
  }

  std::string RejectsSelect() const {
    return "SELECT n.file, l.line, l.byte_offset, n.column_idx::INTEGER AS column_index, "
           "n.column_name AS \"column\", n.error_type, n.error_message AS reason, n.raw_line "
           "FROM " +
           Located() + " ORDER BY n.file, l.byte_offset, n.column_idx";
  }

  [[noreturn]] void FailWithRejects(const std::string& why) {
    std::string kept = ctx_.rejects_dir + "/" + t_.id + ".rejects.csv";
    session_->Execute("COPY (" + RejectsSelect() + ") TO " + SqlLiteral(kept) +
                      " (FORMAT csv, HEADER true)");
    auto first = session_->Query("SELECT line, byte_offset, \"column\", reason FROM (" +
                                 RejectsSelect() + ") LIMIT 5");
    std::string examples;
    for (const auto& r : first.rows) {
      examples += "\n  line " + r[0].value_or("?") + " (byte " + r[1].value_or("?") + ")" +
                  (r[2] ? ", column '" + *r[2] + "'" : "") + ": " + r[3].value_or("");
    }
    // The first line stands alone (the run's progress shows only it); the details follow.
    throw InvalidInput(ctx_.Name() + ": " + why + "\nevery rejected row is kept in " + kept +
                       " (the lake is unchanged); the first ones:" + examples);
  }

  // A quote closed and followed by more text ("Ann"x) spoils one row, which is rejected like
  // any other. A quote never closed swallows the rest of the file, which must not pass: its
  // reject spans line breaks, or runs to the end of the file.
  void CheckUnterminatedQuote() {
    if (rejected_ == 0) return;
    auto r = session_->Query("SELECT n.file, l.line, l.byte_offset FROM " + Located() +
                                 " WHERE n.error_type = 'UNQUOTED VALUE' AND (contains(n.raw_line, "
                                 "chr(10)) OR contains(n.raw_line, chr(13))) ORDER BY 1, 3 LIMIT 1",
                             1);
    std::string file, line, byte;
    if (!r.rows.empty()) {
      file = r.rows[0][0].value_or("");
      line = r.rows[0][1].value_or("?");
      byte = r.rows[0][2].value_or("?");
    } else {
      // A quote opened on the last line never closes and never spans a line break.
      for (size_t i = 0; i < scanned_.size(); i++) {
        if (!scanned_[i].open_quote_at_end) continue;
        auto last = session_->Query("SELECT l.line, l.byte_offset FROM " + Located() +
                                        " WHERE n.file = " + SqlLiteral(files_[i].path) +
                                        " AND n.error_type = 'UNQUOTED VALUE' ORDER BY "
                                        "l.byte_offset DESC LIMIT 1",
                                    1);
        if (last.rows.empty()) continue;
        file = files_[i].path;
        line = last.rows[0][0].value_or("?");
        byte = last.rows[0][1].value_or("?");
        break;
      }
    }
    if (file.empty()) return;
    uint64_t total_lines = 0;
    for (size_t i = 0; i < scanned_.size(); i++) {
      if (files_[i].path == file) total_lines = scanned_[i].lines;
    }
    uint64_t at = std::strtoull(line.c_str(), nullptr, 10);
    uint64_t after = total_lines > at ? total_lines - at : 0;
    FailWithRejects("line " + line + " (byte " + byte + ")" +
                    (files_.size() > 1 ? " of '" + file + "'" : "") +
                    " opens a quote that is never closed, so " +
                    (after == 0 ? std::string("the rest of the line was")
                                : "the " + std::to_string(after) + " line" +
                                      (after == 1 ? "" : "s") + " after it were") +
                    " read as one value; fix the file, or set quote: '' when the data is not "
                    "quoted");
  }

  void CheckRejectLimit() {
    if (rejected_ == 0) return;
    bool over = c_.rejects_max_fraction >= 0
                    ? static_cast<double>(rejected_) >
                          c_.rejects_max_fraction * static_cast<double>(rows_ + rejected_)
                    : static_cast<int64_t>(rejected_) > c_.rejects_max;
    if (!over) return;
    char pct[32];
    std::snprintf(pct, sizeof pct, "%g%%", c_.rejects_max_fraction * 100);
    std::string limit = c_.rejects_max_fraction >= 0 ? pct : std::to_string(c_.rejects_max);
    FailWithRejects(std::to_string(rejected_) + " of " + std::to_string(rows_ + rejected_) +
                    " rows were rejected, more than rejects.max (" + limit +
                    "); raise rejects.max or fix the file");
  }

  std::string SourcesJson() const {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const auto& f : files_) {
      a.push_back({{"path", f.source.empty() ? f.path : f.source},
                   {"bytes", f.size},
                   {"records", f.records}});
    }
    return a.dump();
  }

  // Rejects first: a crash between the two publishes leaves the old data with new rejects,
  // which the re-run replaces; the other order could show data without its rejects.
  state::TaskCounts Publish() {
    if (!c_.rejects_into.empty()) {
      std::string rstaging =
          ctx_.lake->StagingDir(ctx_.run_id, ctx_.attempt_id, c_.rejects_into, ctx_.ds);
      uint64_t n = session_->CopyToParquet(RejectsSelect(), rstaging + "/part-00000.parquet");
      PublishStaged(ctx_, *session_, c_.rejects_into, rstaging, n);
      FaultPoint("csv.between_publishes");
    }
    auto m = PublishStaged(ctx_, *session_, t_.into, staging_, rows_, "", SourcesJson());
    counts_.bytes = static_cast<int64_t>(m.bytes);
    return counts_;
  }

  TaskContext& ctx_;
  const pipeline::TaskSpec& t_;
  const pipeline::CsvImportSpec& c_;
  csv::Dialect dialect_;
  std::string pattern_;                         // the glob, or the one path
  ScratchDir fetch_dir_;                        // where sftp:// inputs are copied to
  std::map<std::string, std::string> fetched_;  // local copy -> its URL
  std::vector<InputFile> files_;
  std::vector<csv::ScanStats> scanned_;  // per file, in files_ order (empty files: zeros)
  std::vector<ExactColumn> exact_;       // see ChooseExactTypes
  uint64_t expected_ = 0;                // data records in every file, by the scanner
  std::vector<std::pair<size_t, csv::LongRecord>> lost_candidates_;
  uint64_t total_bytes_ = 0;
  std::shared_ptr<engine::Session> session_;
  std::string staging_;
  uint64_t rows_ = 0;
  uint64_t rejected_ = 0;
  state::TaskCounts counts_;
};

}  // namespace

state::TaskCounts RunCsvImport(TaskContext& ctx) { return CsvImport(ctx).Run(); }

}  // namespace sluice::tasks
