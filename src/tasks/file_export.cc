// file_export: a dataset's partition (or all of them) as CSV, Parquet or JSON Lines, to a local
// path or an sftp:// URL, for BI tools and partners. The files appear under their final names
// whole or not at all (fs::PublishFile).

#include <algorithm>
#include <filesystem>
#include <memory>

#include "common/error.h"
#include "common/strings.h"
#include "fs/file_system.h"
#include "pipeline/spec.h"
#include "sftp/sftp.h"
#include "tasks/kinds.h"
#include "tasks/task.h"
#include "webhdfs/webhdfs.h"

namespace sluice::tasks {
namespace {

constexpr uint64_t kMinSplitSize = 1000000;

struct FileExportOptions : pipeline::TaskOptions {
  std::string dataset;
  std::string partitions = "current";  // current | all
  std::string to;                      // template: a local path or sftp://...
  std::string connection;              // an sftp connection, for sftp:// targets
  std::string format;                  // csv | parquet | jsonl
  std::string compression;             // none | gzip | zstd (parquet: also snappy)
  bool header = true;
  std::string delimiter = ",";
  std::string quote = "\"";
  std::string null_string;
  std::string order_by;     // SQL ORDER BY list, for a stable file
  uint64_t split_size = 0;  // above this many bytes, several files; 0 = one file
  std::string if_exists = "replace";
};

// The format and compression a file name implies: "x.csv.gz" -> csv, gzip.
void FromExtension(const std::string& to, std::string* format, std::string* compression) {
  std::string name = ToLower(fs::BaseName(to));
  std::string comp;
  if (EndsWith(name, ".gz")) {
    comp = "gzip";
    name = name.substr(0, name.size() - 3);
  } else if (EndsWith(name, ".zst")) {
    comp = "zstd";
    name = name.substr(0, name.size() - 4);
  }
  if (EndsWith(name, ".csv") || EndsWith(name, ".tsv") || EndsWith(name, ".txt")) {
    *format = "csv";
  } else if (EndsWith(name, ".parquet")) {
    *format = "parquet";
  } else if (EndsWith(name, ".jsonl") || EndsWith(name, ".ndjson") || EndsWith(name, ".json")) {
    *format = "jsonl";
  }
  *compression = comp;
}

std::shared_ptr<const pipeline::TaskOptions> Parse(pipeline::KindParser& p, pipeline::TaskSpec& t) {
  auto o = std::make_shared<FileExportOptions>();
  if (auto d = p.Str("dataset")) {
    o->dataset = *d;
    p.Reads("dataset", *d);
  } else {
    p.Error("", "file_export '" + t.id + "' needs dataset: zone.name (the dataset to export)");
  }
  if (auto v = p.OneOf("partitions", {"current", "all"})) o->partitions = *v;
  if (auto v = p.Str("to")) {
    o->to = *v;
    p.Template("to", false);
  } else {
    p.Error("", "file_export '" + t.id +
                    "' needs to: (a local path, or sftp://host/folder/name_{{ ds }}.csv)");
  }
  if (auto v = p.Connection("connection", {"sftp"})) o->connection = *v;
  if (webhdfs::IsWebHdfsUrl(o->to) && !o->connection.empty()) {
    p.Error("connection",
            "connection: is for sftp:// targets; a webhdfs:// target takes its "
            "settings from the pipeline's hdfs: section");
  } else if (!o->connection.empty() && !o->to.empty() && !sftp::IsSftpUrl(o->to)) {
    p.Error("connection", "connection: is for sftp:// targets; to: '" + o->to +
                              "' is a local path (write to: sftp://host/path)");
  }
  std::string ext_format, ext_compression;
  FromExtension(o->to, &ext_format, &ext_compression);
  if (auto v = p.OneOf("format", {"csv", "parquet", "jsonl"})) {
    o->format = *v;
  } else if (!p.Has("format")) {
    o->format = ext_format;
    if (o->format.empty() && !o->to.empty()) {
      p.Error("to", "file_export '" + t.id + "': cannot tell the format from '" +
                        fs::BaseName(o->to) + "'; add format: csv, parquet or jsonl");
    }
  }
  o->compression = ext_compression.empty() ? "none" : ext_compression;
  if (auto v = p.OneOf("compression", {"none", "gzip", "zstd", "snappy"})) o->compression = *v;
  if (o->compression == "snappy" && o->format != "parquet") {
    p.Error("compression",
            "compression: snappy is for parquet; CSV and JSON Lines take gzip, "
            "zstd or none");
  }
  if (o->format == "parquet" && !ext_compression.empty()) {
    p.Error("to", "a Parquet file compresses inside (compression: zstd); drop the '." +
                      std::string(ext_compression == "gzip" ? "gz" : "zst") + "' from the name");
  }
  for (const char* key : {"header", "delimiter", "quote", "null_string"}) {
    if (p.Has(key) && o->format != "csv") {
      p.Error(key, std::string(key) + ": is a CSV option; this export writes " + o->format);
    }
  }
  if (auto v = p.Bool("header")) o->header = *v;
  auto one_char = [&](const char* key, std::string* out) {
    if (auto v = p.Str(key)) {
      if (v->size() != 1) {
        p.Error(key, std::string(key) + " must be one character, not '" + *v + "'");
      } else {
        *out = *v;
      }
    }
  };
  one_char("delimiter", &o->delimiter);
  one_char("quote", &o->quote);
  if (auto v = p.Str("null_string")) o->null_string = *v;
  if (auto v = p.Str("order_by")) o->order_by = *v;
  if (auto v = p.Bytes("split_size")) {
    // DuckDB checks the size per block of rows; far below a block it writes empty files without
    // end (1.4.4), and a file that small is no use to anyone.
    if (*v < kMinSplitSize) {
      p.Error("split_size",
              "split_size must be at least 1MB (the size is checked per block of "
              "rows)");
    } else {
      o->split_size = *v;
    }
  }
  if (auto v = p.OneOf("if_exists", {"replace", "fail", "skip"})) o->if_exists = *v;
  if (o->split_size > 0 && !o->order_by.empty()) {
    // DuckDB 1.4.4 writes size-split files from several threads: each row lands once, but
    // not in order.
    p.Error("order_by",
            "order_by: cannot be kept across split files (split_size:); export "
            "one file, or drop order_by:");
  }
  return o;
}

class FileExport {
 public:
  explicit FileExport(TaskContext& ctx) : ctx_(ctx), o_(ctx.task->Options<FileExportOptions>()) {}

  state::TaskCounts Run() {
    std::string target = ctx_.Render(o_.to, ctx_.Name() + " to");
    if (IsRemoteUrl(target)) {
      RemotePath remote = ctx_.ConnectRemote(target, o_.connection);
      return Export(*remote.fs, remote.path, remote.shown);
    }
    std::string path = ctx_.spec->ResolvePath(target);
    return Export(*fs::MakeLocalFileSystem(), path, path);
  }

 private:
  fs::IfExists IfExists() const {
    if (o_.if_exists == "fail") return fs::IfExists::kFail;
    if (o_.if_exists == "skip") return fs::IfExists::kSkip;
    return fs::IfExists::kReplace;
  }

  std::string CopyOptions() const {
    std::vector<std::string> opts;
    if (o_.format == "csv") {
      opts = {"FORMAT csv",
              std::string("HEADER ") + (o_.header ? "true" : "false"),
              "DELIMITER " + SqlLiteral(o_.delimiter),
              "QUOTE " + SqlLiteral(o_.quote),
              "ESCAPE " + SqlLiteral(o_.quote),
              "NULL " + SqlLiteral(o_.null_string)};
    } else if (o_.format == "jsonl") {
      opts = {"FORMAT json"};
    } else {
      opts = {"FORMAT parquet"};
    }
    std::string codec = o_.compression;
    if (o_.format == "parquet" && codec == "none") codec = "uncompressed";
    if (o_.format == "parquet" || codec != "none")
      opts.push_back("COMPRESSION " + SqlLiteral(codec));
    if (o_.split_size > 0) opts.push_back("FILE_SIZE_BYTES " + std::to_string(o_.split_size));
    return Join(opts, ", ");
  }

  // The final names of n split files: name_0001.csv.gz, name_0002.csv.gz, ...
  static std::string SplitName(const std::string& path, size_t i) {
    std::string dir = fs::ParentPath(path);
    std::string name = fs::BaseName(path);
    auto dot = name.find('.', 1);
    std::string stem = dot == std::string::npos ? name : name.substr(0, dot);
    std::string ext = dot == std::string::npos ? "" : name.substr(dot);
    char num[16];
    std::snprintf(num, sizeof num, "_%04zu", i + 1);
    std::string file = stem + num + ext;
    return path.find('/') == std::string::npos ? file : fs::JoinPath(dir, file);
  }

  state::TaskCounts Export(fs::FileSystem& dest, const std::string& path,
                           const std::string& shown) {
    std::string select = ctx_.RefSql(o_.dataset, o_.partitions);
    uint64_t rows_in = ctx_.RowsReferenced();
    std::string sql =
        "SELECT * FROM " + select + (o_.order_by.empty() ? "" : " ORDER BY " + o_.order_by);
    // Written locally first: beside the target on local disk (so publishing is a rename), in
    // the state folder for a remote target.
    ScratchDir work;
    std::string base = dest.engine_native() ? fs::ParentPath(path)
                                            : ctx_.spec->ResolvePath(ctx_.spec->state_dir) + "/tmp";
    work.Create(fs::JoinPath(base, ".sluice-export-" + std::to_string(ctx_.attempt_id)));
    std::string out = o_.split_size > 0 ? work.path() + "/parts" : work.path() + "/data";
    auto session = ctx_.Connect("exporting " + o_.dataset);
    ctx_.log->Info("writing " + o_.dataset + " (" + std::to_string(rows_in) + " rows) as " +
                   o_.format + (o_.compression == "none" ? "" : " (" + o_.compression + ")"));
    engine::Table result;
    try {
      result =
          session->Query("COPY (" + sql + ") TO " + SqlLiteral(out) + " (" + CopyOptions() + ")");
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kCancelled) throw;
      throw Error(e.kind(), ctx_.Name() + ": " + e.what(), e.retryable());
    }
    uint64_t written = 0;
    if (!result.rows.empty() && !result.rows[0].empty() && result.rows[0][0]) {
      written = std::stoull(*result.rows[0][0]);
    }
    if (written != rows_in) {
      throw Internal(ctx_.Name() + ": wrote " + std::to_string(written) + " rows of " +
                     std::to_string(rows_in) + "; nothing was published");
    }
    std::vector<std::string> locals;
    if (o_.split_size > 0) {
      std::vector<std::pair<int, std::string>> parts;  // DuckDB names them data_<n>.<ext>
      for (const auto& e : std::filesystem::directory_iterator(out)) {
        std::string name = e.path().filename().string();
        parts.emplace_back(std::atoi(name.c_str() + 5), e.path().string());
      }
      std::sort(parts.begin(), parts.end());
      for (const auto& [n, p] : parts) locals.push_back(p);
    } else {
      locals.push_back(out);
    }
    ctx_.cancel->ThrowIfCancelled();
    FaultPoint("export.before_publish");
    uint64_t bytes = 0;
    size_t published = 0;
    for (size_t i = 0; i < locals.size(); i++) {
      std::string final_path = o_.split_size > 0 ? SplitName(path, i) : path;
      uint64_t size = std::filesystem::file_size(locals[i]);
      ctx_.log->Info("publishing " + HumanBytes(static_cast<double>(size)) + " to " +
                     (o_.split_size > 0 ? SplitName(shown, i) : shown));
      bool done = fs::PublishFile(dest, locals[i], final_path, IfExists(),
                                  ctx_.ShowCopy("uploading " + fs::BaseName(final_path), size),
                                  /*may_move=*/true);
      if (!done) {
        ctx_.log->Info(final_path + " exists; if_exists: skip leaves it as it is");
      } else {
        published++;
      }
      bytes += size;
    }
    ctx_.log->Info("exported " + std::to_string(written) + " rows in " +
                   std::to_string(locals.size()) + " file(s), " +
                   HumanBytes(static_cast<double>(bytes)) + "; " + std::to_string(published) +
                   " published");
    state::TaskCounts counts;
    counts.rows_read = static_cast<int64_t>(rows_in);
    counts.rows_written = static_cast<int64_t>(written);
    counts.bytes = static_cast<int64_t>(bytes);
    return counts;
  }

  TaskContext& ctx_;
  const FileExportOptions& o_;
};

state::TaskCounts RunFileExport(TaskContext& ctx) { return FileExport(ctx).Run(); }

}  // namespace

Kind FileExportKind() {
  return {{"file_export",
           {"dataset", "partitions", "to", "connection", "format", "compression", "header",
            "delimiter", "quote", "null_string", "order_by", "split_size", "if_exists"},
           Parse},
          RunFileExport};
}

}  // namespace sluice::tasks
