#pragma once

// The Spark engine (docs/spark.md): sql and check tasks run on a Spark cluster through Spark
// Connect, reading the lake's published partitions and writing Parquet into the task's staging
// folder; sluice publishes as for any task. Results that come back (checks, queries) go through
// a Parquet folder that the embedded engine reads: sluice never decodes Arrow.

#include <memory>
#include <mutex>
#include <string>

#include "engine/engine.h"
#include "fs/file_system.h"
#include "spark/spark_connect.h"

namespace sluice::spark {

struct SparkEngineOptions {
  SparkOptions connect;
  // The lake's file system (nullptr: local disk) and its folder there as sluice names it.
  fs::FileSystem* lake_fs = nullptr;
  std::string lake_root;
  std::string lake_path;            // the same folder as Spark names it; "" = file://<lake_root>
  engine::Engine* local = nullptr;  // the embedded engine, which reads what Spark wrote
  // A local folder for results Spark wrote to a lake the embedded engine cannot read (HDFS):
  // they are downloaded there to be read.
  std::string local_dir;
};

class SparkEngine : public engine::Engine {
 public:
  explicit SparkEngine(SparkEngineOptions options);
  // Opens a Spark Connect session. Throws Error(kConnection, retryable) when the server is
  // unreachable.
  std::unique_ptr<engine::Session> Connect() override;
  std::string name() const override { return "spark"; }
  std::string Describe() const override { return "spark at " + FormatRemote(o_.connect); }
  void SetScratchDir(const std::string& dir) override;
  // The name Spark knows a path of the lake by (lake_path + the part under lake_root).
  std::string SparkPath(const std::string& local_path) const;
  // The Spark UI of the application behind the Connect server, http://host:port, as the
  // server reports it on the first connect ("" when it does not say).
  std::string UiUrl() const;
  // SQL that reads a folder of Parquet (or ORC) files on Spark: parquet.`<path>`.
  std::string ScanSql(const std::string& local_folder, const std::string& format = "parquet") const;
  const SparkEngineOptions& options() const { return o_; }
  // The file system Spark's output lands on (the lake's).
  fs::FileSystem& LakeFs() const;
  // True when the embedded engine cannot read Spark's output where it lands (HDFS).
  bool RemoteLake() const { return o_.lake_fs != nullptr && !o_.lake_fs->engine_native(); }
  // Where query results go (under the lake, so that Spark can write there): SetScratchDir's,
  // else <lake_root>/_staging/spark.
  std::string ScratchDir() const;

 private:
  SparkEngineOptions o_;
  std::unique_ptr<fs::FileSystem> local_fs_;  // when o_.lake_fs is nullptr
  mutable std::mutex mu_;
  std::string scratch_dir_;  // Guarded by mu_
  std::string ui_url_;       // Guarded by mu_
  bool asked_ui_ = false;    // Guarded by mu_
};

}  // namespace sluice::spark
