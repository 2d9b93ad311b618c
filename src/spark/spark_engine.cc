#include "spark/spark_engine.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>

#include "common/cancel.h"
#include "common/error.h"
#include "common/strings.h"
#include "fs/file_system.h"

namespace sluice::spark {
namespace {

// A folder name no two statements share.
std::string UniqueName() {
  static std::atomic<uint64_t> counter{0};
  return ".spark-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

std::string Quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// The part files Spark wrote into dir, in name order (not _SUCCESS, not .crc files).
std::vector<std::string> PartFiles(fs::FileSystem& fs, const std::string& dir,
                                   const std::string& suffix = ".parquet") {
  std::vector<std::string> out;
  fs::FileInfo info;
  if (!fs.Stat(dir, &info)) return out;
  for (const auto& e : fs.List(dir)) {
    if (!e.is_dir && StartsWith(e.name, "part-") && EndsWith(e.name, suffix)) {
      out.push_back(e.path);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ParquetList(const std::vector<std::string>& files) {
  std::vector<std::string> q;
  for (const auto& f : files) q.push_back("'" + f + "'");
  return "read_parquet([" + Join(q, ", ") + "], hive_partitioning = false)";
}

class SparkEngineSession : public engine::Session {
 public:
  SparkEngineSession(const SparkEngine& engine, std::unique_ptr<SparkSession> s)
      : engine_(engine), s_(std::move(s)) {}

  void Execute(const std::string& sql) override { Run(sql); }

  engine::Table Query(const std::string& sql, size_t max_rows) override {
    Result r = WriteResult(sql);
    auto local = Local();
    return local->Query("SELECT * FROM " + r.Scan(), max_rows);
  }

  void Stream(const std::string& sql,
              const std::function<void(const engine::Batch&)>& on_batch) override {
    Result r = WriteResult(sql);
    Local()->Stream("SELECT * FROM " + r.Scan(), on_batch);
  }

  void StreamTyped(const std::string& sql,
                   const std::function<void(const engine::TypedBatch&)>& on_batch) override {
    Result r = WriteResult(sql);
    Local()->StreamTyped("SELECT * FROM " + r.Scan(), on_batch);
  }

  // Spark writes as many files as it has tasks; they land next to path as part-00000.parquet
  // (path itself), part-00001.parquet, ...
  uint64_t CopyToParquet(const std::string& select_sql, const std::string& path) override {
    return WriteFiles(select_sql, path, "parquet");
  }

  // The same in ORC: part-00000.orc, ... Spark counts the rows (DuckDB cannot read ORC).
  uint64_t CopyToOrc(const std::string& select_sql, const std::string& path) override {
    return WriteFiles(select_sql, path, "orc");
  }

  uint64_t CopySourceToParquet(engine::RowSource&, const std::string&) override {
    throw InvalidInput(
        "the spark engine runs sql and check tasks; imports run on the embedded engine");
  }

  std::vector<engine::Column> Describe(const std::string& select_sql) override {
    return s_->Analyze(select_sql);
  }

  void Interrupt() override { cancel_.Cancel("interrupted"); }

  engine::Progress GetProgress() override {
    std::lock_guard<std::mutex> lock(progress_mu_);
    engine::Progress p;
    const JobProgress& j = progress_;
    if (j.tasks > 0) p.fraction = static_cast<double>(j.tasks_done) / static_cast<double>(j.tasks);
    if (j.stages > 0) {
      p.detail = "Spark stages " + std::to_string(j.stages_done) + "/" + std::to_string(j.stages) +
                 ", tasks " + std::to_string(j.tasks_done) + "/" + std::to_string(j.tasks) +
                 (j.inflight > 0 ? " (" + std::to_string(j.inflight) + " running)" : "") +
                 (j.input_bytes > 0 ? ", read " + HumanBytes(j.input_bytes) : "");
    }
    return p;
  }

 private:
  // Removes a folder when it goes out of scope, whatever happened (best effort).
  struct Cleanup {
    fs::FileSystem* fs = nullptr;
    std::string dir;
    Cleanup(fs::FileSystem* f, std::string d) : fs(f), dir(std::move(d)) {}
    Cleanup(Cleanup&& o) noexcept : fs(std::exchange(o.fs, nullptr)), dir(std::move(o.dir)) {}
    Cleanup(const Cleanup&) = delete;
    Cleanup& operator=(Cleanup&& o) noexcept {
      std::swap(fs, o.fs);
      std::swap(dir, o.dir);
      return *this;
    }
    ~Cleanup() {
      try {
        if (fs && !dir.empty()) fs->DeleteRecursive(dir);
      } catch (const Error&) {
      }
    }
  };

  uint64_t WriteFiles(const std::string& select_sql, const std::string& path,
                      const std::string& format) {
    fs::FileSystem& lake = engine_.LakeFs();
    std::string folder = fs::ParentPath(path);
    std::string tmp = fs::JoinPath(folder, UniqueName());
    Cleanup cleanup{&lake, tmp};
    Run("INSERT OVERWRITE DIRECTORY " + Quote(engine_.SparkPath(tmp)) + " USING " + format +
        " SELECT * FROM (\n" + select_sql + "\n) AS sluice_model");
    ExpectWritten(tmp);
    std::vector<std::string> parts = PartFiles(lake, tmp, "." + format);
    if (parts.empty()) {
      if (format != "parquet") {
        throw Internal("Spark wrote no " + format + " file into " + engine_.SparkPath(tmp));
      }
      WriteEmpty(select_sql, path);
      return 0;
    }
    std::vector<std::string> moved;
    for (size_t i = 0; i < parts.size(); i++) {
      char name[48];
      std::snprintf(name, sizeof name, "part-%05zu.%s", i, format.c_str());
      std::string to = i == 0 ? path : fs::JoinPath(folder, name);
      lake.Rename(parts[i], to);
      moved.push_back(to);
    }
    if (format == "parquet" && !engine_.RemoteLake()) {
      auto n = Local()->Query("SELECT count(*) FROM " + ParquetList(moved));
      return std::stoull(*n.rows.at(0).at(0));
    }
    // Files the embedded engine cannot read: Spark counts them (from the files' metadata).
    auto n = Query("SELECT count(*) FROM " + format + ".`" + engine_.SparkPath(folder) + "`", 1);
    return std::stoull(*n.rows.at(0).at(0));
  }

  // A query's result as local Parquet files: written by Spark into the lake's scratch area,
  // and downloaded from there when the lake is not on local disk.
  struct Result {
    std::vector<std::string> files;
    Cleanup written;
    Cleanup downloaded;
    std::string Scan() const { return ParquetList(files); }
  };

  Result WriteResult(const std::string& sql) {
    fs::FileSystem& lake = engine_.LakeFs();
    std::string dir = fs::JoinPath(engine_.ScratchDir(), UniqueName());
    Result r{{}, Cleanup{&lake, dir}, Cleanup{nullptr, ""}};
    Run("INSERT OVERWRITE DIRECTORY " + Quote(engine_.SparkPath(dir)) +
        " USING parquet SELECT * FROM (\n" + sql + "\n) AS sluice_result");
    ExpectWritten(dir);
    std::vector<std::string> parts = PartFiles(lake, dir);
    if (parts.empty()) {
      lake.MakeDirs(dir);
      std::string empty = fs::JoinPath(dir, "part-00000.parquet");
      WriteEmpty(sql, empty);
      parts.push_back(empty);
    }
    if (!engine_.RemoteLake()) {
      r.files = parts;
      return r;
    }
    std::string local = LocalFolder();
    r.downloaded = Cleanup{local_fs_.get(), local};
    for (const auto& part : parts) {
      std::string to = fs::JoinPath(local, fs::BaseName(part));
      lake.Download(part, to, nullptr);
      r.files.push_back(to);
    }
    return r;
  }

  // Spark wrote no file for an empty result: an empty Parquet file with the query's columns
  // keeps the schema (written locally, then uploaded to a lake on HDFS).
  void WriteEmpty(const std::string& sql, const std::string& path) {
    std::vector<std::string> cols;
    for (const auto& c : Describe(sql)) {
      cols.push_back("CAST(NULL AS " + c.type + ") AS \"" + c.name + "\"");
    }
    std::string local = path;
    Cleanup cleanup{nullptr, ""};
    if (engine_.RemoteLake()) {
      std::string dir = LocalFolder();
      cleanup = Cleanup{local_fs_.get(), dir};
      local = fs::JoinPath(dir, "empty.parquet");
    }
    Local()->Execute("COPY (SELECT " + Join(cols, ", ") + " WHERE false) TO '" + local +
                     "' (FORMAT parquet)");
    if (local != path) engine_.LakeFs().Upload(local, path, nullptr);
  }

  // Spark creates the folder it writes, even for no rows: a missing one means it wrote
  // somewhere else (engine.lake_path names another folder or cluster), never "no rows".
  void ExpectWritten(const std::string& dir) {
    fs::FileInfo info;
    if (!engine_.LakeFs().Stat(dir, &info)) {
      throw IoError("Spark reported success, but " + dir + " on the lake does not exist: Spark " +
                        "wrote to " + engine_.SparkPath(dir) +
                        ", which is not the same place; check that engine.lake_path names the "
                        "lake's folder as Spark sees it",
                    false);
    }
  }

  // A new empty local folder under options().local_dir.
  std::string LocalFolder() {
    if (engine_.options().local_dir.empty()) {
      throw Internal("the spark engine needs a local folder for a lake on " +
                     engine_.LakeFs().scheme());
    }
    std::string dir = fs::JoinPath(engine_.options().local_dir, UniqueName());
    local_fs_->MakeDirs(dir);
    return dir;
  }

  void Run(const std::string& sql) {
    {
      std::lock_guard<std::mutex> lock(progress_mu_);
      progress_ = JobProgress{};
    }
    s_->Execute(sql, &cancel_, [this](const JobProgress& p) {
      std::lock_guard<std::mutex> lock(progress_mu_);
      progress_ = p;
    });
  }

  std::unique_ptr<engine::Session> Local() {
    if (!engine_.options().local) throw Internal("the spark engine needs the embedded engine");
    return engine_.options().local->Connect();
  }

  const SparkEngine& engine_;
  std::unique_ptr<SparkSession> s_;
  std::unique_ptr<fs::FileSystem> local_fs_ = fs::MakeLocalFileSystem();
  CancelToken cancel_;
  std::mutex progress_mu_;
  JobProgress progress_;  // Guarded by progress_mu_: the running statement's, from Spark
};

}  // namespace

SparkEngine::SparkEngine(SparkEngineOptions options) : o_(std::move(options)) {
  if (!o_.lake_fs) local_fs_ = fs::MakeLocalFileSystem();
}

fs::FileSystem& SparkEngine::LakeFs() const { return o_.lake_fs ? *o_.lake_fs : *local_fs_; }

std::unique_ptr<engine::Session> SparkEngine::Connect() {
  auto s = SparkSession::Connect(o_.connect);
  // Timestamps without a zone on both engines: DuckDB's TIMESTAMP is Spark's TIMESTAMP_NTZ,
  // stored as microseconds (not Spark's legacy INT96).
  s->Execute("SET spark.sql.timestampType = TIMESTAMP_NTZ", nullptr);
  s->Execute("SET spark.sql.parquet.outputTimestampType = TIMESTAMP_MICROS", nullptr);
  // "name" is an identifier, as in DuckDB and standard SQL (sluice's checks quote that way).
  s->Execute("SET spark.sql.ansi.doubleQuotedIdentifiers = true", nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!asked_ui_) {
      asked_ui_ = true;
      try {
        auto conf = s->GetConf({"spark.driver.host", "spark.ui.port", "spark.ui.enabled"});
        if (conf.count("spark.driver.host") && conf["spark.ui.enabled"] != "false") {
          ui_url_ = "http://" + conf["spark.driver.host"] + ":" +
                    (conf.count("spark.ui.port") ? conf["spark.ui.port"] : "4040");
        }
      } catch (const Error&) {
        // Only for the log; a server that does not say is fine.
      }
    }
  }
  return std::make_unique<SparkEngineSession>(*this, std::move(s));
}

std::string SparkEngine::SparkPath(const std::string& local_path) const {
  std::string base = o_.lake_path.empty() ? "file://" + o_.lake_root : o_.lake_path;
  if (StartsWith(local_path, o_.lake_root)) {
    std::string rest = local_path.substr(o_.lake_root.size());
    while (!base.empty() && base.back() == '/' && !rest.empty() && rest.front() == '/') {
      base.pop_back();
    }
    return base + rest;
  }
  return "file://" + local_path;
}

std::string SparkEngine::UiUrl() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ui_url_;
}

void SparkEngine::SetScratchDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  scratch_dir_ = dir;
}

std::string SparkEngine::ScratchDir() const {
  std::lock_guard<std::mutex> lock(mu_);
  return scratch_dir_.empty() ? fs::JoinPath(o_.lake_root, "_staging/spark") : scratch_dir_;
}

std::string SparkEngine::ScanSql(const std::string& local_folder, const std::string& format) const {
  return format + ".`" + SparkPath(local_folder) + "`";
}

}  // namespace sluice::spark
