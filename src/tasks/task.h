#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "engine/engine.h"
#include "lake/lake.h"
#include "pipeline/spec.h"
#include "sftp/sftp.h"
#include "state/state_store.h"

namespace sluice::tasks {

// The log file of one task attempt. Thread-safe; lines are flushed as they are written.
class TaskLog {
 public:
  explicit TaskLog(const std::string& path);
  ~TaskLog();
  void Info(const std::string& line);
  const std::string& path() const { return path_; }

 private:
  std::mutex mu_;
  FILE* file_ = nullptr;  // Guarded by mu_
  std::string path_;
};

// What a task is doing right now, read by the progress reporter from another thread.
struct Activity {
  std::mutex mu;
  std::shared_ptr<engine::Session> session;  // Guarded by mu
  std::string what;                          // Guarded by mu
  uint64_t total_bytes = 0;                  // Guarded by mu
  // Rows moved so far and the expected total (0 = unknown), for tasks whose work the engine
  // session does not see (db_import streams rows into it from the source database).
  std::atomic<uint64_t> rows{0};
  std::atomic<uint64_t> expected_rows{0};
  // True when rows and expected_rows count bytes (a file being copied).
  std::atomic<bool> counts_bytes{false};
};

// A folder made empty when set and removed when this object goes, however the attempt ends.
class ScratchDir {
 public:
  ScratchDir() = default;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir();
  // Removes what an earlier attempt left at path, then creates it. Throws IoError.
  void Create(const std::string& path);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// True for the URLs a task can read from or write to remotely: sftp:// and webhdfs://.
bool IsRemoteUrl(const std::string& text);

// A remote location opened for a task: the file system, the path on it, and the URL to show.
struct RemotePath {
  std::shared_ptr<fs::FileSystem> fs;
  std::string path;
  std::string shown;
};

// Everything one attempt of one task needs. Owned by the runner; lives for the attempt.
struct TaskContext {
  const pipeline::PipelineSpec* spec = nullptr;
  const pipeline::TaskSpec* task = nullptr;
  std::string ds;
  int64_t run_id = 0;
  int64_t attempt_id = 0;
  int attempt = 1;
  lake::Lake* lake = nullptr;
  state::StateStore* state = nullptr;
  engine::Engine* engine = nullptr;        // the task's engine: embedded, or spark
  engine::Engine* local_engine = nullptr;  // the embedded engine (reads lake files locally)
  CancelToken* cancel = nullptr;
  TaskLog* log = nullptr;
  Activity* activity = nullptr;
  std::string rejects_dir;  // where rejected rows go when a task fails (the attempt's log folder)
  // The run's data interval (RunOptions): local wall times, and its start with its offset.
  std::string interval_start, interval_end, ts;
  // Counts known so far; the runner records them when the task fails (a failed import still
  // reports read = loaded + rejected).
  state::TaskCounts* partial_counts = nullptr;

  // Opens an engine session that Cancel interrupts and the progress reporter watches.
  std::shared_ptr<engine::Session> Connect(const std::string& what, uint64_t total_bytes = 0);
  // The same on the embedded engine, whatever the task's engine: for reading Parquet files
  // sluice holds locally (a staged partition's schema, say).
  std::shared_ptr<engine::Session> ConnectLocal(const std::string& what);
  bool OnSpark() const;
  // True when the task's engine writes the lake's own file system (Spark with a lake on HDFS):
  // it stages in Lake::LakeStagingDir, not a local folder.
  bool WritesLakeDirectly() const;
  // Logs where to watch the task's Spark jobs (the Spark UI), when the server says.
  void LogSparkUi();
  // Opens an sftp:// URL with the pipeline's connection (sftp::OptionsFor), or a webhdfs://
  // URL with its hdfs: section (webhdfs::OptionsFor); Cancel interrupts a call in progress.
  RemotePath ConnectRemote(const std::string& url, const std::string& connection);
  // Shows a file copy of total bytes in the progress line; the returned function reports the
  // bytes copied so far (fs::FileSystem::Progress).
  std::function<void(uint64_t)> ShowCopy(const std::string& what, uint64_t total);
  // SQL that reads a dataset: the run's partition, or every partition when scope is "all".
  // Throws NotFound naming the producing task when the partition is not published.
  std::string RefSql(const std::string& dataset, const std::string& scope);
  // Renders a template with this run's date variables, vars and refs.
  std::string Render(const std::string& text, const std::string& what);
  // "kind 'id'", the prefix of this task's messages.
  std::string Name() const;
  // The rows of every partition RefSql resolved (each dataset and scope once): what a model
  // read.
  uint64_t RowsReferenced() const;
  ~TaskContext();

 private:
  std::shared_ptr<engine::Session> ConnectOn(engine::Engine* on, const std::string& what,
                                             uint64_t total_bytes);
  std::vector<int> cancel_ids_;
  std::map<std::string, uint64_t> referenced_;  // "dataset scope" -> rows
};

// Runs one attempt of ctx.task. Returns the counts; throws sluice::Error on failure, after
// which the lake and the warehouse are as they were before the attempt.
state::TaskCounts RunTask(TaskContext& ctx);

state::TaskCounts RunCsvImport(TaskContext& ctx);
state::TaskCounts RunSqlModel(TaskContext& ctx);
state::TaskCounts RunCheck(TaskContext& ctx);
state::TaskCounts RunDbLoad(TaskContext& ctx);
state::TaskCounts RunDbImport(TaskContext& ctx);

// Publishes the Parquet files written to staging_dir (part-00000.parquet and any more parts of
// the same schema) as dataset's partition for ctx.ds, with an incremental import's watermark and
// the input files read (lake::Manifest::sources).
lake::Manifest PublishStaged(TaskContext& ctx, engine::Session& session, const std::string& dataset,
                             const std::string& staging_dir, uint64_t rows,
                             const std::string& watermark = "", const std::string& sources = "");
// The same for files of any format whose schema the caller knows (ORC written on Spark).
lake::Manifest PublishFiles(TaskContext& ctx, const std::string& dataset,
                            const std::string& staging_dir, uint64_t rows,
                            std::vector<schema::Column> schema, const std::string& watermark = "",
                            const std::string& sources = "");

}  // namespace sluice::tasks
