#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fs/file_system.h"
#include "lake/file_cache.h"
#include "schema/column.h"
#include "state/state_store.h"

namespace sluice::lake {

struct ManifestFile {
  std::string name;  // relative to the partition folder, e.g. part-00000.parquet
  uint64_t bytes = 0;
  std::string crc32c;  // 8 hex digits
};

// The _SUCCESS file of a published partition. Readers resolve partitions through it, so they
// never see a partial write. Format: JSON, documented in docs/lake.md.
struct Manifest {
  int format_version = 1;
  std::string dataset;    // zone.name
  std::string partition;  // ds=YYYY-MM-DD
  std::vector<ManifestFile> files;
  uint64_t rows = 0;
  uint64_t bytes = 0;
  std::vector<schema::Column> schema;
  int64_t run_id = 0;
  int64_t attempt_id = 0;
  std::string task_id;
  std::string created_at;
  std::string checksum;  // crc32c over the files' crc32c values, in file order
  // An incremental import's position in its source, as a JSON object (docs/import.md), or ""
  // for other datasets. Kept here, published atomically with the rows it describes.
  std::string watermark;
  // The input files a task read into this partition (csv_import), as a JSON array of
  // {path, bytes, records} objects, or "".
  std::string sources;

  std::string ToJson() const;
  // Throws Error(kIo) naming path when text is not a manifest.
  static Manifest FromJson(const std::string& text, const std::string& path);
};

// What one attempt hands to Publish: a staging folder with the partition's files.
struct PublishRequest {
  std::string dataset;
  std::string ds;           // YYYY-MM-DD
  std::string staging_dir;  // from StagingDir()
  uint64_t rows = 0;
  std::vector<schema::Column> schema;
  int64_t run_id = 0;
  int64_t attempt_id = 0;
  std::string task_id;
  std::string watermark;  // JSON object or ""; see Manifest::watermark
  std::string sources;    // JSON array or ""; see Manifest::sources
  // staging_dir is a LakeStagingDir (written by an engine that writes the lake itself), not a
  // local StagingDir.
  bool in_lake = false;
};

struct RecoveryReport {
  int rolled_forward = 0;   // publishes that had renamed: old copy deleted
  int rolled_back = 0;      // publishes that had not: old partition restored, staging dropped
  int staging_removed = 0;  // staging folders of runs no longer running
};

// A data lake: datasets zone.name, partitions ds=YYYY-MM-DD, published atomically.
//   <root>/<zone>/<name>/ds=<date>/part-NNNNN.parquet + _SUCCESS
//   <root>/_staging/<owner>/<run>/<attempt>/<zone>.<name>/ds=<date>/   (writes in progress)
//   <root>/_trash/<owner>/<attempt>/<zone>.<name>/ds=<date>/  (old partitions being replaced)
// owner is the pipeline name: pipelines with their own state stores can share a lake, and each
// recovers only its own staging and trash. Thread-safe: tasks of one run publish concurrently.
class Lake {
 public:
  Lake(std::unique_ptr<fs::FileSystem> fs, std::string root, state::StateStore* state,
       std::string owner);

  // The staging folder of a whole run.
  std::string RunStagingDir(int64_t run_id) const;
  // Deletes a finished run's staging folder, and the lake's own folders once they are empty.
  void CleanupRun(int64_t run_id);

  const std::string& root() const { return root_; }
  fs::FileSystem* fs() { return fs_.get(); }

  // For a lake on a file system the engine cannot read or write directly (HDFS): local_dir
  // holds each attempt's staging folder until Publish uploads it, and a cache of downloaded
  // partition files of at most cache_bytes (FileCache). Call before any task runs.
  void UseLocalDir(const std::string& local_dir, uint64_t cache_bytes);
  // True when the lake's files are not on local disk (they go through the local folder).
  bool remote() const { return !fs_->engine_native(); }
  // The lake's location as the user wrote it, for messages: a path or a URI.
  std::string Describe() const;

  // Path of a dataset's folder (its partitions are the ds=... folders in it).
  std::string DatasetPath(const std::string& dataset) const;
  // Path of a dataset partition's published folder.
  std::string PartitionPath(const std::string& dataset, const std::string& ds) const;
  // Creates and returns an empty staging folder for one attempt's output of a partition. It
  // is always a local path the engine writes to: on a remote lake, a folder under the local
  // dir that Publish uploads.
  std::string StagingDir(int64_t run_id, int64_t attempt_id, const std::string& dataset,
                         const std::string& ds);
  // The same folder on the lake's own file system, for an engine that writes the lake itself
  // (Spark on HDFS): Publish reads the files from there (to checksum them) and uploads nothing.
  // On a local lake, StagingDir.
  std::string LakeStagingDir(int64_t run_id, int64_t attempt_id, const std::string& dataset,
                             const std::string& ds);
  // Creates and returns an empty local folder for an attempt's intermediate files, which are
  // never published; removed with the run's staging.
  std::string ScratchDir(int64_t run_id, int64_t attempt_id, const std::string& name);

  // Publishes the staging folder as the dataset's partition for ds, replacing any older one:
  // checksums the files, writes _SUCCESS, journals, moves the old partition aside, renames.
  // Throws Error(kCancelled) when the attempt lost its lease; on any failure the previously
  // published partition stays (or is restored by Recover after a crash).
  Manifest Publish(const PublishRequest& request);

  // The manifest of a published partition, or nullopt when there is none.
  std::optional<Manifest> ReadManifest(const std::string& dataset, const std::string& ds);
  // Dates with a published partition, ascending.
  std::vector<std::string> ListPartitions(const std::string& dataset);
  // Datasets that have at least one published partition.
  std::vector<std::string> ListDatasets();
  // Local paths of a manifest's files that the engine can read: the files themselves on a
  // local lake, verified copies in the cache on a remote one.
  std::vector<std::string> FilePaths(const Manifest& manifest);

  // What a reader needs of a dataset: the partition ds, or every published partition when ds
  // is empty. nullopt when there is none. Resolved through the manifests only.
  struct Selection {
    std::vector<std::string> files;
    uint64_t rows = 0;
    std::string checksum;   // the manifest's, or for every partition their concatenation
    std::string partition;  // "ds=YYYY-MM-DD", or "all"
    // "orc" when the files are ORC (written on Spark), else "parquet".
    std::string Format() const;
    // read_parquet SQL for the files; every partition adds a ds column. Throws InvalidInput
    // for ORC, which DuckDB cannot read.
    std::string Sql() const;
  };
  // With fetch false, files are the lake's own paths, never downloaded (for a reader that
  // reads the lake itself, Spark).
  std::optional<Selection> Select(const std::string& dataset, const std::string& ds,
                                  bool fetch = true);

  // Resolves every unfinished publish in the journal (finish or roll back, never a mix) and
  // removes staging folders that no running attempt owns. Call once at process start, before
  // any run begins.
  RecoveryReport Recover();

 private:
  // Where an attempt's publishes move the partitions they replace:
  // <root>/_trash/<owner>/<attempt>.
  std::string TrashDir(int64_t attempt_id) const;
  void RemoveIfEmpty(const std::string& dir);
  // The folder tasks write into for rel (a path under _staging/): local on a remote lake.
  std::string WorkPath(const std::string& rel) const;
  // The staging folder of an attempt's partition, relative to the root or the local dir.
  std::string StagingRel(int64_t run_id, int64_t attempt_id, const std::string& dataset,
                         const std::string& ds) const;
  // Uploads a local staging folder into the lake's own staging; returns the remote folder.
  std::string UploadStaging(const std::string& local_dir);
  // Downloads a staging folder of the lake's own into local_dir, its local mirror.
  void DownloadStaging(const std::string& lake_dir, const std::string& local_dir);
  // Removes local staging folders of runs that no longer run.
  void RecoverLocal();

  std::unique_ptr<fs::FileSystem> fs_;
  std::unique_ptr<fs::FileSystem> local_;  // set by UseLocalDir
  std::string local_dir_;
  std::unique_ptr<FileCache> cache_;
  std::string root_;
  state::StateStore* state_;
  std::string owner_;
};

// Returns the SQL that reads the given files: read_parquet([...]). With with_ds, adds a ds
// column from the partition folder names; without, the files' own columns only.
std::string ReadParquetSql(const std::vector<std::string>& files, bool with_ds = false);

}  // namespace sluice::lake
