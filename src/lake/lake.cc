#include "lake/lake.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/cancel.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"

namespace sluice::lake {
namespace {

constexpr const char* kManifestName = "_SUCCESS";

std::string PartitionName(const std::string& ds) { return "ds=" + ds; }

}  // namespace

std::string Manifest::ToJson() const {
  nlohmann::ordered_json j;
  j["format_version"] = format_version;
  j["dataset"] = dataset;
  j["partition"] = partition;
  j["rows"] = rows;
  j["bytes"] = bytes;
  j["checksum"] = "crc32c:" + checksum;
  j["files"] = nlohmann::ordered_json::array();
  for (const auto& f : files) {
    j["files"].push_back({{"name", f.name}, {"bytes", f.bytes}, {"crc32c", f.crc32c}});
  }
  j["schema"] = nlohmann::ordered_json::array();
  for (const auto& c : schema) j["schema"].push_back({{"name", c.name}, {"type", c.type}});
  j["run_id"] = run_id;
  j["attempt_id"] = attempt_id;
  j["task"] = task_id;
  j["created_at"] = created_at;
  if (!watermark.empty()) j["watermark"] = nlohmann::ordered_json::parse(watermark);
  if (!sources.empty()) j["sources"] = nlohmann::ordered_json::parse(sources);
  return j.dump(2) + "\n";
}

Manifest Manifest::FromJson(const std::string& text, const std::string& path) {
  try {
    auto j = nlohmann::json::parse(text);
    Manifest m;
    m.format_version = j.at("format_version").get<int>();
    if (m.format_version != 1) {
      throw IoError("manifest '" + path + "' has format_version " +
                        std::to_string(m.format_version) + "; this sluice reads version 1",
                    false);
    }
    m.dataset = j.at("dataset").get<std::string>();
    m.partition = j.at("partition").get<std::string>();
    m.rows = j.at("rows").get<uint64_t>();
    m.bytes = j.at("bytes").get<uint64_t>();
    std::string checksum = j.at("checksum").get<std::string>();
    m.checksum = StartsWith(checksum, "crc32c:") ? checksum.substr(7) : checksum;
    for (const auto& f : j.at("files")) {
      m.files.push_back({f.at("name").get<std::string>(), f.at("bytes").get<uint64_t>(),
                         f.at("crc32c").get<std::string>()});
    }
    for (const auto& c : j.at("schema")) {
      m.schema.push_back({c.at("name").get<std::string>(), c.at("type").get<std::string>()});
    }
    m.run_id = j.at("run_id").get<int64_t>();
    m.attempt_id = j.at("attempt_id").get<int64_t>();
    m.task_id = j.at("task").get<std::string>();
    m.created_at = j.at("created_at").get<std::string>();
    if (j.contains("watermark")) m.watermark = j.at("watermark").dump();
    if (j.contains("sources")) m.sources = j.at("sources").dump();
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw IoError(
        "manifest '" + path + "' is corrupt (" + e.what() + "); re-run the task that produces it",
        false);
  }
}

Lake::Lake(std::unique_ptr<fs::FileSystem> fs, std::string root, state::StateStore* state,
           std::string owner)
    : fs_(std::move(fs)), root_(std::move(root)), state_(state), owner_(std::move(owner)) {}

std::string Lake::RunStagingDir(int64_t run_id) const {
  return fs::JoinPath(root_, "_staging/" + owner_ + "/" + std::to_string(run_id));
}

std::string Lake::DatasetPath(const std::string& dataset) const {
  auto dot = dataset.find('.');
  return fs::JoinPath(fs::JoinPath(root_, dataset.substr(0, dot)), dataset.substr(dot + 1));
}

std::string Lake::PartitionPath(const std::string& dataset, const std::string& ds) const {
  return fs::JoinPath(DatasetPath(dataset), PartitionName(ds));
}

void Lake::UseLocalDir(const std::string& local_dir, uint64_t cache_bytes) {
  local_dir_ = local_dir;
  local_ = fs::MakeLocalFileSystem();
  cache_ = std::make_unique<FileCache>(fs::JoinPath(local_dir, "cache"), cache_bytes);
}

std::string Lake::Describe() const {
  if (!remote()) return root_;
  return fs_->scheme() + "://" + root_;
}

std::string Lake::WorkPath(const std::string& rel) const {
  if (!remote()) return fs::JoinPath(root_, rel);
  if (local_dir_.empty()) {
    throw Internal("a " + fs_->scheme() + " lake needs a local folder (Lake::UseLocalDir)");
  }
  return fs::JoinPath(local_dir_, rel);
}

std::string Lake::StagingRel(int64_t run_id, int64_t attempt_id, const std::string& dataset,
                             const std::string& ds) const {
  return "_staging/" + owner_ + "/" + std::to_string(run_id) + "/" + std::to_string(attempt_id) +
         "/" + dataset + "/" + PartitionName(ds);
}

std::string Lake::StagingDir(int64_t run_id, int64_t attempt_id, const std::string& dataset,
                             const std::string& ds) {
  std::string dir = WorkPath(StagingRel(run_id, attempt_id, dataset, ds));
  fs::FileSystem& work = remote() ? *local_ : *fs_;
  work.DeleteRecursive(dir);
  work.MakeDirs(dir);
  return dir;
}

std::string Lake::LakeStagingDir(int64_t run_id, int64_t attempt_id, const std::string& dataset,
                                 const std::string& ds) {
  if (!remote()) return StagingDir(run_id, attempt_id, dataset, ds);
  std::string dir = fs::JoinPath(root_, StagingRel(run_id, attempt_id, dataset, ds));
  fs_->DeleteRecursive(dir);
  fs_->MakeDirs(dir);
  return dir;
}

std::string Lake::ScratchDir(int64_t run_id, int64_t attempt_id, const std::string& name) {
  std::string dir = WorkPath("_staging/" + owner_ + "/" + std::to_string(run_id) + "/" +
                             std::to_string(attempt_id) + "/fetch/" + name);
  fs::FileSystem& work = remote() ? *local_ : *fs_;
  work.DeleteRecursive(dir);
  work.MakeDirs(dir);
  return dir;
}

std::string Lake::UploadStaging(const std::string& local_dir) {
  std::string rel = local_dir.substr(local_dir_.size());
  std::string remote_dir = fs::JoinPath(root_, rel);
  fs_->DeleteRecursive(remote_dir);
  fs_->MakeDirs(remote_dir);
  for (const auto& f : local_->List(local_dir)) {
    if (f.is_dir) continue;
    // The staging folder is private to the attempt: the publish rename is what readers see.
    fs_->Upload(f.path, fs::JoinPath(remote_dir, f.name), nullptr);
    FaultPoint("publish.after_upload");
  }
  return remote_dir;
}

void Lake::DownloadStaging(const std::string& lake_dir, const std::string& local_dir) {
  local_->DeleteRecursive(local_dir);
  local_->MakeDirs(local_dir);
  for (const auto& f : fs_->List(lake_dir)) {
    if (f.is_dir || f.name == kManifestName) continue;
    fs_->Download(f.path, fs::JoinPath(local_dir, f.name), nullptr);
  }
}

void Lake::RemoveIfEmpty(const std::string& dir) {
  fs::FileInfo info;
  if (fs_->Stat(dir, &info) && info.is_dir && fs_->List(dir).empty()) fs_->DeleteRecursive(dir);
}

void Lake::CleanupRun(int64_t run_id) {
  fs_->DeleteRecursive(RunStagingDir(run_id));
  if (remote() && local_) {
    std::string mine = fs::JoinPath(local_dir_, "_staging/" + owner_);
    local_->DeleteRecursive(fs::JoinPath(mine, std::to_string(run_id)));
    fs::FileInfo info;
    if (local_->Stat(mine, &info) && local_->List(mine).empty()) local_->DeleteRecursive(mine);
    cache_->Unpin();
  }
  for (const char* area : {"_staging", "_trash"}) {
    RemoveIfEmpty(fs::JoinPath(root_, std::string(area) + "/" + owner_));
    RemoveIfEmpty(fs::JoinPath(root_, area));
  }
}

std::string Lake::TrashDir(int64_t attempt_id) const {
  return fs::JoinPath(root_, "_trash/" + owner_ + "/" + std::to_string(attempt_id));
}

Manifest Lake::Publish(const PublishRequest& req) {
  Manifest m;
  m.dataset = req.dataset;
  m.partition = PartitionName(req.ds);
  m.rows = req.rows;
  m.schema = req.schema;
  m.run_id = req.run_id;
  m.attempt_id = req.attempt_id;
  m.task_id = req.task_id;
  m.watermark = req.watermark;
  m.sources = req.sources;
  m.created_at = NowIso();
  // The files are checksummed locally: on a remote lake, before the upload, or (written there
  // by Spark) from a download that also fills the read cache.
  std::string local_staging = req.staging_dir;
  std::string staging = req.staging_dir;
  bool in_lake = req.in_lake && remote();
  // On a remote lake the local staging folder goes when Publish returns, whatever happens;
  // its files move into the read cache first when the publish succeeded.
  struct LocalCleanup {
    fs::FileSystem* local;
    std::string dir;
    ~LocalCleanup() {
      try {
        if (local && !dir.empty()) local->DeleteRecursive(dir);
      } catch (const Error&) {
      }
    }
  } cleanup{remote() ? local_.get() : nullptr, in_lake ? "" : req.staging_dir};
  if (in_lake) {
    if (!StartsWith(req.staging_dir, root_ == "/" ? root_ : root_ + "/")) {
      throw Internal("a staging folder in the lake must be under " + root_ + ": " +
                     req.staging_dir);
    }
    local_staging = WorkPath(req.staging_dir.substr(root_.size()));
    cleanup.dir = local_staging;
    DownloadStaging(req.staging_dir, local_staging);
  }
  uint32_t combined = 0;
  fs::FileSystem& work = remote() ? *local_ : *fs_;
  for (const auto& f : work.List(local_staging)) {
    if (f.is_dir || f.name == kManifestName) continue;
    std::string crc = Crc32cOfFile(f.path);
    m.files.push_back({f.name, f.size, crc});
    m.bytes += f.size;
    combined = Crc32cExtend(combined, crc.data(), crc.size());
  }
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", combined);
  m.checksum = hex;
  if (remote() && !in_lake) staging = UploadStaging(req.staging_dir);
  fs_->WriteFile(fs::JoinPath(staging, kManifestName), m.ToJson());
  FaultPoint("publish.before_journal");

  std::string final_path = PartitionPath(req.dataset, req.ds);
  fs_->MakeDirs(DatasetPath(req.dataset));
  state::JournalEntry entry;
  entry.attempt_id = req.attempt_id;
  entry.dataset = req.dataset;
  entry.partition = m.partition;
  entry.staging_path = staging;
  entry.final_path = final_path;
  entry.backup_path = fs::JoinPath(TrashDir(req.attempt_id), req.dataset + "/" + m.partition);
  int64_t journal_id = state_->JournalBegin(entry);  // the lease check
  FaultPoint("publish.after_journal");

  fs::FileInfo info;
  bool moved_aside = false;
  try {
    if (fs_->Stat(final_path, &info)) {
      fs_->MakeDirs(entry.backup_path.substr(0, entry.backup_path.find_last_of('/')));
      fs_->Rename(final_path, entry.backup_path);
      moved_aside = true;
      state_->JournalStep(journal_id, "moved_aside");
      FaultPoint("publish.after_move_aside");
    }
    fs_->Rename(staging, final_path);
    // The new partition is in place; until the next step the journal does not know it, and
    // recovery tells by the manifest's attempt id.
    FaultPoint("publish.before_renamed_step");
  } catch (const Error&) {
    // Put the old partition back so the failure leaves the lake as it was.
    if (moved_aside && !fs_->Stat(final_path, &info)) fs_->Rename(entry.backup_path, final_path);
    state_->JournalDone(journal_id);
    throw;
  }
  state_->JournalStep(journal_id, "renamed");
  FaultPoint("publish.after_rename");
  fs_->DeleteRecursive(TrashDir(req.attempt_id));
  state_->JournalDone(journal_id);
  if (remote()) {
    // Downstream tasks read what was just written from here instead of downloading it.
    for (const auto& f : m.files) {
      cache_->Adopt(fs::JoinPath(local_staging, f.name), m.dataset, m.partition, f.name, f.crc32c);
    }
  }
  return m;
}

std::optional<Manifest> Lake::ReadManifest(const std::string& dataset, const std::string& ds) {
  std::string path = fs::JoinPath(PartitionPath(dataset, ds), kManifestName);
  fs::FileInfo info;
  if (!fs_->Stat(path, &info)) return std::nullopt;
  return Manifest::FromJson(fs_->ReadFile(path), path);
}

std::vector<std::string> Lake::ListPartitions(const std::string& dataset) {
  std::vector<std::string> out;
  fs::FileInfo info;
  std::string dir = DatasetPath(dataset);
  if (!fs_->Stat(dir, &info)) return out;
  for (const auto& p : fs_->List(dir)) {
    if (!p.is_dir || !StartsWith(p.name, "ds=")) continue;
    fs::FileInfo m;
    if (fs_->Stat(fs::JoinPath(p.path, kManifestName), &m)) out.push_back(p.name.substr(3));
  }
  return out;
}

std::vector<std::string> Lake::ListDatasets() {
  std::vector<std::string> out;
  fs::FileInfo info;
  if (!fs_->Stat(root_, &info)) return out;
  for (const auto& zone : fs_->List(root_)) {
    if (!zone.is_dir || StartsWith(zone.name, "_")) continue;
    for (const auto& name : fs_->List(zone.path)) {
      if (!name.is_dir) continue;
      std::string dataset = zone.name + "." + name.name;
      if (!ListPartitions(dataset).empty()) out.push_back(dataset);
    }
  }
  return out;
}

std::vector<std::string> Lake::FilePaths(const Manifest& m) {
  std::string dir = PartitionPath(m.dataset, m.partition.substr(3));
  std::vector<std::string> out;
  for (const auto& f : m.files) {
    std::string path = fs::JoinPath(dir, f.name);
    if (remote()) {
      if (!cache_) throw Internal("a remote lake needs a local folder (Lake::UseLocalDir)");
      path = cache_->Get(*fs_, path, m.dataset, m.partition, f.name, f.bytes, f.crc32c);
    }
    out.push_back(path);
  }
  return out;
}

std::optional<Lake::Selection> Lake::Select(const std::string& dataset, const std::string& ds,
                                            bool fetch) {
  Selection s;
  s.partition = ds.empty() ? "all" : PartitionName(ds);
  std::vector<std::string> dates = ds.empty() ? ListPartitions(dataset) : std::vector{ds};
  for (const auto& d : dates) {
    auto m = ReadManifest(dataset, d);
    if (!m) continue;
    if (fetch) {
      for (const auto& f : FilePaths(*m)) s.files.push_back(f);
    } else {
      for (const auto& f : m->files)
        s.files.push_back(fs::JoinPath(PartitionPath(dataset, d), f.name));
    }
    s.rows += m->rows;
    s.checksum += m->checksum;
  }
  if (s.files.empty()) return std::nullopt;
  return s;
}

std::string Lake::Selection::Format() const {
  for (const auto& f : files) {
    if (EndsWith(f, ".orc")) return "orc";
  }
  return "parquet";
}

std::string Lake::Selection::Sql() const {
  if (Format() == "orc") {
    throw InvalidInput(
        "the files are ORC, written on Spark, and the embedded engine cannot read "
        "ORC: read them on spark (engine: spark), or have the model write parquet");
  }
  return ReadParquetSql(files, partition == "all");
}

RecoveryReport Lake::Recover() {
  RecoveryReport report;
  state_->CloseDeadRuns();
  auto owner_running = [&](int64_t attempt_id) {
    auto a = state_->GetAttempt(attempt_id);
    if (!a) return false;
    auto run = state_->GetRun(a->run_id);
    return run && run->status == "running";
  };
  for (const auto& e : state_->OpenJournal()) {
    if (owner_running(e.attempt_id)) continue;  // another live process is publishing it
    fs::FileInfo info;
    bool new_in_place = e.step == "renamed";
    if (!new_in_place && fs_->Stat(fs::JoinPath(e.final_path, kManifestName), &info)) {
      // The rename may have happened without the journal hearing of it.
      Manifest m = Manifest::FromJson(fs_->ReadFile(fs::JoinPath(e.final_path, kManifestName)),
                                      e.final_path);
      new_in_place = m.attempt_id == e.attempt_id;
    }
    if (new_in_place) {
      fs_->DeleteRecursive(e.backup_path);
      report.rolled_forward++;
    } else {
      if (!fs_->Stat(e.final_path, &info) && fs_->Stat(e.backup_path, &info)) {
        fs_->Rename(e.backup_path, e.final_path);
      }
      fs_->DeleteRecursive(e.staging_path);
      report.rolled_back++;
    }
    fs_->DeleteRecursive(TrashDir(e.attempt_id));
    state_->JournalDone(e.journal_id);
  }
  // Staging and trash folders that no live run owns are leftovers of a crash.
  fs::FileInfo info;
  std::string staging = fs::JoinPath(root_, "_staging/" + owner_);
  if (fs_->Stat(staging, &info)) {
    for (const auto& run_dir : fs_->List(staging)) {
      int64_t run_id = std::atoll(run_dir.name.c_str());
      auto run = state_->GetRun(run_id);
      if (run && run->status == "running") continue;
      fs_->DeleteRecursive(run_dir.path);
      report.staging_removed++;
    }
  }
  std::string trash = TrashDir(0).substr(0, TrashDir(0).find_last_of('/'));
  if (fs_->Stat(trash, &info)) {
    for (const auto& dir : fs_->List(trash)) {
      if (!owner_running(std::atoll(dir.name.c_str()))) fs_->DeleteRecursive(dir.path);
    }
  }
  for (const char* area : {"_staging", "_trash"}) {
    RemoveIfEmpty(fs::JoinPath(root_, std::string(area) + "/" + owner_));
    RemoveIfEmpty(fs::JoinPath(root_, area));
  }
  if (remote() && local_) RecoverLocal();
  return report;
}

void Lake::RecoverLocal() {
  std::string staging = fs::JoinPath(local_dir_, "_staging/" + owner_);
  fs::FileInfo info;
  if (!local_->Stat(staging, &info)) return;
  for (const auto& run_dir : local_->List(staging)) {
    auto run = state_->GetRun(std::atoll(run_dir.name.c_str()));
    if (run && run->status == "running") continue;
    local_->DeleteRecursive(run_dir.path);
  }
  cache_->Trim();
}

std::string ReadParquetSql(const std::vector<std::string>& files, bool with_ds) {
  std::vector<std::string> quoted;
  for (const auto& f : files) quoted.push_back(SqlLiteral(f));
  std::string sql = "read_parquet([" + Join(quoted, ", ") + "]";
  // The partition folders are named ds=...; DuckDB would add a ds column by itself.
  sql += with_ds ? ", hive_partitioning = true, hive_types = {'ds': DATE}"
                 : ", hive_partitioning = false";
  return sql + ")";
}

}  // namespace sluice::lake
