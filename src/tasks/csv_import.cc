// csv_import: one CSV file -> one lake partition, through DuckDB's CSV reader with its rejects
// tables, so bad rows are kept with file, line, byte offset, column and reason while the good
// rows go at the engine's full speed.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/cancel.h"
#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "fs/file_system.h"
#include "tasks/task.h"

namespace sluice::tasks {
namespace {

// Splits one CSV line into fields (quotes per RFC 4180), for checking a header.
std::vector<std::string> SplitCsvLine(const std::string& line, char delim, char quote) {
  std::vector<std::string> out;
  std::string cur;
  bool in_quotes = false;
  for (size_t i = 0; i < line.size(); i++) {
    char c = line[i];
    if (quote && c == quote) {
      if (in_quotes && i + 1 < line.size() && line[i + 1] == quote) {
        cur.push_back(quote);
        i++;
      } else {
        in_quotes = !in_quotes;
      }
    } else if (c == delim && !in_quotes) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

// Reads the first line of path (at most 1 MB), without BOM and line ending.
std::string FirstLine(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::string line;
  int c;
  while ((c = std::fgetc(f)) != EOF && c != '\n' && line.size() < (1u << 20)) {
    line.push_back(static_cast<char>(c));
  }
  std::fclose(f);
  if (StartsWith(line, "\xEF\xBB\xBF")) line = line.substr(3);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Counts the line feeds in [p, p + n), 64 bytes at a time (SSE2 is part of x86-64).
uint64_t CountLineFeeds(const char* p, size_t n) {
  uint64_t count = 0;
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n');
  auto mask = [&](size_t at) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    return static_cast<uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl))));
  };
  for (; i + 64 <= n; i += 64) {
    uint64_t m = mask(i) | mask(i + 16) << 16 | mask(i + 32) << 32 | mask(i + 48) << 48;
    count += static_cast<uint64_t>(__builtin_popcountll(m));
  }
#endif
  for (; i < n; i++) count += p[i] == '\n';
  return count;
}

// Writes "byte_offset,line" for each offset (ascending): the 1-based physical line that starts
// there, counted by line feeds. Maps the file (still in the page cache from the import) and
// reads it once, up to the last offset.
void WritePhysicalLines(const std::string& path, uint64_t size,
                        const std::vector<uint64_t>& offsets, const std::string& out_path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(ErrnoMessage("cannot reopen '" + path + "'", errno));
  void* map = size ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : nullptr;
  ::close(fd);
  if (map == MAP_FAILED) throw IoError(ErrnoMessage("cannot map '" + path + "'", errno));
  ::madvise(map, size, MADV_SEQUENTIAL);
  FILE* out = std::fopen(out_path.c_str(), "w");
  if (out == nullptr) {
    ::munmap(map, size);
    throw IoError(ErrnoMessage("cannot write '" + out_path + "'", errno));
  }
  std::fprintf(out, "byte_offset,line\n");
  const char* data = static_cast<const char*>(map);
  uint64_t pos = 0, lines = 1;
  for (uint64_t offset : offsets) {
    offset = std::min(offset, size);
    lines += CountLineFeeds(data + pos, offset - pos);
    pos = offset;
    std::fprintf(out, "%llu,%llu\n", static_cast<unsigned long long>(offset),
                 static_cast<unsigned long long>(lines));
  }
  ::munmap(map, size);
  if (std::fclose(out) != 0) throw IoError(ErrnoMessage("cannot write '" + out_path + "'", errno));
}

std::string TypeMap(const pipeline::NamedTypes& types) {
  std::vector<std::string> parts;
  for (const auto& [name, type] : types)
    parts.push_back(SqlLiteral(name) + ": " + SqlLiteral(type));
  return "{" + Join(parts, ", ") + "}";
}

}  // namespace

state::TaskCounts RunCsvImport(TaskContext& ctx) {
  const auto& t = *ctx.task;
  const auto& c = t.csv;
  state::TaskCounts counts;
  std::string file = ctx.spec->ResolvePath(ctx.Render(c.path, ctx.Name() + " path"));

  auto local = fs::MakeLocalFileSystem();
  fs::FileInfo info;
  if (!local->Stat(file, &info) || info.is_dir) {
    // Retryable: a daily file often lands a little after the schedule fires.
    throw Error(ErrorKind::kNotFound,
                ctx.Name() + ": input file '" + file +
                    "' does not exist (check path: in the "
                    "pipeline file, or wait for the producer to deliver it)",
                true);
  }
  if (info.size == 0 && !c.allow_empty) {
    throw Error(ErrorKind::kInvalidInput,
                ctx.Name() + ": input file '" + file +
                    "' is empty (0 bytes); the producer may "
                    "still be writing it. Set allow_empty: true to load an empty partition",
                true);
  }
  ctx.log->Info("reading " + file + " (" + HumanBytes(static_cast<double>(info.size)) + ")");

  if (c.header && !c.columns.empty() && info.size > 0) {
    auto found = SplitCsvLine(FirstLine(file), c.delimiter[0], c.quote.empty() ? 0 : c.quote[0]);
    std::vector<std::string> want;
    for (const auto& [name, type] : c.columns) want.push_back(name);
    std::vector<std::string> found_lower, want_lower;
    for (const auto& f : found) found_lower.push_back(ToLower(Trim(f)));
    for (const auto& w : want) want_lower.push_back(ToLower(w));
    if (found_lower != want_lower) {
      throw InvalidInput(ctx.Name() + ": the header of '" + file + "' has columns [" +
                         Join(found, ", ") + "] but columns: declares [" + Join(want, ", ") +
                         "]; fix columns: (every column, in file order) or set header: false");
    }
  }

  std::string rej_table = "sluice_rejects_" + std::to_string(ctx.attempt_id);
  std::string rej_scan = "sluice_rejects_scan_" + std::to_string(ctx.attempt_id);
  std::vector<std::string> opts = {
      "header = " + std::string(c.header ? "true" : "false"),
      "delim = " + SqlLiteral(c.delimiter),
      "quote = " + SqlLiteral(c.quote),
      "escape = " + SqlLiteral(c.escape),
      "nullstr = " + SqlLiteral(c.null_string),
      "encoding = " + SqlLiteral(c.encoding),
      "strict_mode = true",
      "store_rejects = true",
      "rejects_table = " + SqlLiteral(rej_table),
      "rejects_scan = " + SqlLiteral(rej_scan),
  };
  if (!c.date_format.empty()) opts.push_back("dateformat = " + SqlLiteral(c.date_format));
  if (!c.timestamp_format.empty())
    opts.push_back("timestampformat = " + SqlLiteral(c.timestamp_format));
  if (c.max_line_size > 0) opts.push_back("max_line_size = " + std::to_string(c.max_line_size));
  if (!c.columns.empty()) {
    // Declared columns: no sniffing, so a malformed file cannot change how it is read.
    opts.push_back("auto_detect = false");
    opts.push_back("columns = " + TypeMap(c.columns));
  } else if (!c.types.empty()) {
    opts.push_back("types = " + TypeMap(c.types));
  }
  std::string read_sql =
      "SELECT * FROM read_csv(" + SqlLiteral(file) + ", " + Join(opts, ", ") + ")";

  std::string staging = ctx.lake->StagingDir(ctx.run_id, ctx.attempt_id, t.into, ctx.ds);
  auto session = ctx.Connect("reading " + file, info.size);
  uint64_t rows = 0;
  try {
    if (info.size > 0) {
      rows = session->CopyToParquet(read_sql, staging + "/part-00000.parquet");
    } else {
      // An allowed empty file still publishes a partition with the declared columns.
      std::vector<std::string> cols;
      for (const auto& [name, type] : c.columns) {
        cols.push_back("CAST(NULL AS " + type + ") AS " + SqlIdentifier(name));
      }
      if (cols.empty()) {
        throw InvalidInput(ctx.Name() + ": '" + file +
                           "' is empty and has no columns: to take the schema from; declare "
                           "columns: to load empty files");
      }
      session->CopyToParquet("SELECT " + Join(cols, ", ") + " LIMIT 0",
                             staging + "/part-00000.parquet");
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCancelled) throw;
    throw Error(e.kind(), ctx.Name() + ": cannot read '" + file + "': " + e.what(), e.retryable());
  }
  FaultPoint("write.after_data");
  ctx.cancel->ThrowIfCancelled();

  // One row in the rejects table per problem; a row can have several. Rejected rows are
  // counted once each, by their byte offset.
  bool have_rejects = info.size > 0;
  uint64_t rejected = 0;
  std::string rejects_select;
  std::string lines_csv = ctx.rejects_dir + "/" + t.id + ".lines.tmp.csv";
  if (have_rejects) {
    // DuckDB reports a row's position at the line feed that ends the previous row when lines
    // end in CRLF, with that line feed as the row's first byte; point at the row itself.
    std::string norm = "sluice_rejects_norm_" + std::to_string(ctx.attempt_id);
    session->Execute(
        "CREATE TEMP TABLE " + norm +
        " AS SELECT line AS record, CASE WHEN starts_with(csv_line, chr(10)) THEN "
        "line_byte_position ELSE line_byte_position - 1 END::BIGINT AS byte_offset, column_idx, "
        "column_name, error_type::VARCHAR AS error_type, error_message, CASE WHEN "
        "starts_with(csv_line, chr(10)) THEN csv_line[2:] ELSE csv_line END AS raw_line FROM " +
        SqlIdentifier(rej_table));
    auto n = session->Query("SELECT count(DISTINCT byte_offset) FROM " + norm);
    rejected = std::stoull(n.rows[0][0].value_or("0"));
    if (rejected > 0) {
      // DuckDB numbers records; a quoted value with line breaks makes that differ from the
      // physical line that `sed -n Np` shows. Count line feeds up to each rejected row.
      std::vector<uint64_t> offsets;
      session->Stream("SELECT DISTINCT byte_offset FROM " + norm + " ORDER BY 1",
                      [&](const engine::Batch& b) {
                        for (size_t r = 0; r < b.num_rows; r++) {
                          offsets.push_back(std::stoull(b.cells[0][r].value_or("0")));
                        }
                      });
      double scan_start = SteadySeconds();
      WritePhysicalLines(file, info.size, offsets, lines_csv);
      ctx.log->Info("counted physical lines of " + std::to_string(offsets.size()) +
                    " rejected rows in " + HumanSeconds(SteadySeconds() - scan_start));
    }
    std::string lines_sql =
        rejected > 0 ? "read_csv(" + SqlLiteral(lines_csv) +
                           ", header = true, auto_detect = false, columns = {'byte_offset': "
                           "'BIGINT', 'line': 'BIGINT'})"
                     : "(SELECT 0::BIGINT AS byte_offset, 0::BIGINT AS line LIMIT 0)";
    session->Execute("CREATE TEMP TABLE " + norm + "_lines AS SELECT * FROM " + lines_sql);
    std::error_code ec;
    std::filesystem::remove(lines_csv, ec);
    rejects_select =
        "SELECT " + SqlLiteral(file) +
        " AS file, coalesce(l.line, n.record)::BIGINT AS line, n.byte_offset, "
        "n.column_idx::INTEGER AS column_index, n.column_name AS \"column\", n.error_type, "
        "n.error_message AS reason, n.raw_line FROM " +
        norm + " n LEFT JOIN " + norm +
        "_lines l ON l.byte_offset = n.byte_offset ORDER BY n.byte_offset, n.column_idx";
  }
  counts.rows_read = static_cast<int64_t>(rows + rejected);
  counts.rows_written = static_cast<int64_t>(rows);
  counts.rows_rejected = static_cast<int64_t>(rejected);
  if (ctx.partial_counts) *ctx.partial_counts = counts;
  ctx.log->Info("read " + std::to_string(rows + rejected) + " rows: " + std::to_string(rows) +
                " loaded, " + std::to_string(rejected) + " rejected");

  auto fail_with_rejects = [&](const std::string& why) {
    std::string kept = ctx.rejects_dir + "/" + t.id + ".rejects.csv";
    session->Execute("COPY (" + rejects_select + ") TO " + SqlLiteral(kept) +
                     " (FORMAT csv, HEADER true)");
    auto first = session->Query("SELECT line, byte_offset, \"column\", reason FROM (" +
                                rejects_select + ") LIMIT 5");
    std::string examples;
    for (const auto& r : first.rows) {
      examples += "\n  line " + r[0].value_or("?") + " (byte " + r[1].value_or("?") + ")" +
                  (r[2] ? ", column '" + *r[2] + "'" : "") + ": " + r[3].value_or("");
    }
    throw InvalidInput(ctx.Name() + ": " + why + "; every rejected row is kept in " + kept +
                       " (the lake is unchanged). First rejects:" + examples);
  };

  if (rejected > 0) {
    // A quote closed and followed by more text ("Ann"x) spoils one row, which is rejected like
    // any other. A quote never closed swallows the rest of the file, which must not pass: its
    // reject spans line breaks, or runs to the end of the file with an odd number of quotes.
    std::string q = SqlLiteral(c.quote.empty() ? "\"" : c.quote);
    auto unterminated = session->Query(
        "SELECT line, byte_offset, length(raw_line) - length(replace(raw_line, chr(10), '')) "
        "FROM (" +
        rejects_select +
        ") WHERE error_type = 'UNQUOTED VALUE' AND (contains(raw_line, chr(10)) OR "
        "(byte_offset + strlen(raw_line) >= " +
        std::to_string(info.size) + " - 2 AND (length(raw_line) - length(replace(raw_line, " + q +
        ", ''))) % 2 = 1)) LIMIT 1");
    if (!unterminated.rows.empty()) {
      const auto& r = unterminated.rows[0];
      fail_with_rejects("line " + r[0].value_or("?") + " (byte " + r[1].value_or("?") +
                        ") opens a quote that is never closed, so the " + r[2].value_or("?") +
                        " lines after it were read as one value; fix the file, or set quote: '' "
                        "when the data is not quoted");
    }
    bool over = c.rejects_max_fraction >= 0
                    ? static_cast<double>(rejected) >
                          c.rejects_max_fraction * static_cast<double>(rows + rejected)
                    : static_cast<int64_t>(rejected) > c.rejects_max;
    if (over) {
      char pct[32];
      std::snprintf(pct, sizeof pct, "%g%%", c.rejects_max_fraction * 100);
      std::string limit = c.rejects_max_fraction >= 0 ? pct : std::to_string(c.rejects_max);
      fail_with_rejects(std::to_string(rejected) + " of " + std::to_string(rows + rejected) +
                        " rows were rejected, more than rejects.max (" + limit +
                        "); raise rejects.max or fix the file");
    }
  }

  // Publish rejects first: a crash between the two publishes leaves the old data with new
  // rejects, which the re-run replaces; the other order could show data without its rejects.
  if (!c.rejects_into.empty()) {
    std::string rstaging = ctx.lake->StagingDir(ctx.run_id, ctx.attempt_id, c.rejects_into, ctx.ds);
    std::string select =
        have_rejects ? rejects_select
                     : "SELECT ''::VARCHAR AS file, 0::BIGINT AS line, 0::BIGINT AS "
                       "byte_offset, 0::INTEGER AS column_index, ''::VARCHAR AS \"column\", "
                       "''::VARCHAR AS error_type, ''::VARCHAR AS reason, ''::VARCHAR AS "
                       "raw_line LIMIT 0";
    uint64_t n = session->CopyToParquet(select, rstaging + "/part-00000.parquet");
    PublishStaged(ctx, *session, c.rejects_into, rstaging, n);
  }
  auto m = PublishStaged(ctx, *session, t.into, staging, rows);
  counts.bytes = static_cast<int64_t>(m.bytes);
  return counts;
}

}  // namespace sluice::tasks
