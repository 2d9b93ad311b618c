#include "tasks/task.h"

#include <filesystem>

#include "common/error.h"
#include "common/secrets.h"
#include "common/strings.h"
#include "common/time.h"
#include "pipeline/template.h"
#include "spark/spark_engine.h"
#include "tasks/kinds.h"
#include "webhdfs/webhdfs.h"

namespace sluice::tasks {

TaskLog::TaskLog(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "a");
  if (file_ == nullptr) throw IoError(ErrnoMessage("cannot open log file '" + path + "'", errno));
}

TaskLog::~TaskLog() {
  if (file_) std::fclose(file_);
}

void TaskLog::Info(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  std::fprintf(file_, "%s %s\n", NowIso().c_str(), RedactSecrets(line).c_str());
  std::fflush(file_);
}

std::shared_ptr<engine::Session> TaskContext::ConnectLocal(const std::string& what) {
  return ConnectOn(local_engine ? local_engine : engine, what, 0);
}

void TaskContext::LogSparkUi() {
  auto* spark = dynamic_cast<spark::SparkEngine*>(engine);
  if (spark && !spark->UiUrl().empty()) {
    log->Info("Spark UI of the jobs: " + spark->UiUrl() + "/jobs/ (running on " +
              spark->Describe() + ")");
  }
}

bool TaskContext::OnSpark() const { return engine != nullptr && engine->name() == "spark"; }

bool TaskContext::WritesLakeDirectly() const { return OnSpark() && lake->remote(); }

std::shared_ptr<engine::Session> TaskContext::Connect(const std::string& what,
                                                      uint64_t total_bytes) {
  return ConnectOn(engine, what, total_bytes);
}

std::shared_ptr<engine::Session> TaskContext::ConnectOn(engine::Engine* on, const std::string& what,
                                                        uint64_t total_bytes) {
  std::shared_ptr<engine::Session> session = on->Connect();
  std::weak_ptr<engine::Session> weak = session;
  cancel_ids_.push_back(cancel->OnCancel([weak] {
    if (auto s = weak.lock()) s->Interrupt();
  }));
  if (activity) {
    std::lock_guard<std::mutex> lock(activity->mu);
    activity->session = session;
    activity->what = what;
    activity->total_bytes = total_bytes;
  }
  return session;
}

bool IsRemoteUrl(const std::string& text) {
  return sftp::IsSftpUrl(text) || webhdfs::IsWebHdfsUrl(text);
}

RemotePath TaskContext::ConnectRemote(const std::string& url_text, const std::string& connection) {
  RemotePath remote;
  // Cancel interrupts a call in progress, while the file system lives.
  auto interruptible = [&](auto fs) {
    std::weak_ptr<typename decltype(fs)::element_type> weak = fs;
    cancel_ids_.push_back(cancel->OnCancel([weak] {
      if (auto live = weak.lock()) live->Interrupt();
    }));
    remote.fs = std::move(fs);
  };
  if (webhdfs::IsWebHdfsUrl(url_text)) {
    webhdfs::WebHdfsUrl url = webhdfs::ParseWebHdfsUrl(url_text);
    webhdfs::WebHdfsOptions options = webhdfs::OptionsFor(spec, url);
    remote.path = url.path;
    remote.shown = webhdfs::FormatWebHdfsUrl(options, url.path);
    interruptible(
        std::shared_ptr<webhdfs::WebHdfsFileSystem>(webhdfs::WebHdfsFileSystem::Make(options)));
    return remote;
  }
  sftp::SftpUrl url = sftp::ParseSftpUrl(url_text);
  sftp::SftpOptions options = sftp::OptionsFor(spec, connection, url);
  log->Info("connecting to " + sftp::FormatSftpUrl(options, ""));
  remote.path = url.path;
  remote.shown = sftp::FormatSftpUrl(options, url.path);
  interruptible(std::shared_ptr<sftp::SftpFileSystem>(sftp::SftpFileSystem::Connect(options)));
  return remote;
}

std::function<void(uint64_t)> TaskContext::ShowCopy(const std::string& what, uint64_t total) {
  if (!activity) return nullptr;
  {
    std::lock_guard<std::mutex> lock(activity->mu);
    activity->session.reset();
    activity->what = what;
  }
  activity->counts_bytes = true;
  activity->expected_rows = total;
  activity->rows = 0;
  Activity* a = activity;
  return [a](uint64_t done) { a->rows = done; };
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

void ScratchDir::Create(const std::string& path) {
  path_ = path;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  std::filesystem::create_directories(path_, ec);
  if (ec) throw IoError("cannot create folder '" + path_ + "': " + ec.message(), false);
}

TaskContext::~TaskContext() {
  for (int id : cancel_ids_) cancel->RemoveOnCancel(id);
  if (activity) {
    std::lock_guard<std::mutex> lock(activity->mu);
    activity->session.reset();
  }
}

std::string TaskContext::Name() const { return task->kind + " '" + task->id + "'"; }

std::string TaskContext::RefSql(const std::string& dataset, const std::string& scope) {
  // Spark reads the lake itself: nothing is downloaded for it.
  auto selection = lake->Select(dataset, scope == "all" ? "" : ds, !OnSpark());
  if (!selection) {
    std::string producer = spec->ProducerOf(dataset);
    throw NotFound(
        Name() + ": ref('" + dataset + (scope == "all" ? "', 'all')" : "')") + ": " +
        (scope == "all" ? dataset + " has no published partition yet"
                        : "no published partition ds=" + ds) +
        (producer.empty() ? "" : " (task '" + producer + "' produces it; run it first)"));
  }
  referenced_[dataset + " " + scope] = selection->rows;
  if (OnSpark()) {
    // Spark reads the published folder itself: the partition's, or the dataset's (its ds=
    // folders become a ds column, as with DuckDB's hive partitioning). Only published folders
    // carry those names; staging lives elsewhere.
    auto* spark = dynamic_cast<spark::SparkEngine*>(engine);
    return spark->ScanSql(
        scope == "all" ? lake->DatasetPath(dataset) : lake->PartitionPath(dataset, ds),
        selection->Format());
  }
  try {
    return selection->Sql();
  } catch (const Error& e) {
    throw Error(e.kind(), Name() + ": ref('" + dataset + "'): " + e.what());
  }
}

uint64_t TaskContext::RowsReferenced() const {
  uint64_t total = 0;
  for (const auto& [key, rows] : referenced_) total += rows;
  return total;
}

std::string TaskContext::Render(const std::string& text, const std::string& what) {
  pipeline::TemplateContext tc;
  tc.variables = pipeline::DateVariables(ds);
  if (!interval_start.empty()) tc.variables["data_interval_start"] = interval_start;
  if (!interval_end.empty()) tc.variables["data_interval_end"] = interval_end;
  if (!ts.empty()) {
    tc.variables["ts"] = ts;
    tc.variables["logical_date"] = ts;
  }
  tc.vars = spec->vars;
  tc.ref = [this](const std::string& dataset, const std::string& scope) {
    return RefSql(dataset, scope);
  };
  return pipeline::RenderTemplate(text, tc, what);
}

lake::Manifest PublishStaged(TaskContext& ctx, engine::Session& session, const std::string& dataset,
                             const std::string& staging_dir, uint64_t rows,
                             const std::string& watermark, const std::string& sources) {
  auto schema = session.Describe("SELECT * FROM " +
                                 lake::ReadParquetSql({staging_dir + "/part-00000.parquet"}));
  return PublishFiles(ctx, dataset, staging_dir, rows, std::move(schema), watermark, sources);
}

lake::Manifest PublishFiles(TaskContext& ctx, const std::string& dataset,
                            const std::string& staging_dir, uint64_t rows,
                            std::vector<schema::Column> schema, const std::string& watermark,
                            const std::string& sources) {
  lake::PublishRequest req;
  req.dataset = dataset;
  req.ds = ctx.ds;
  req.staging_dir = staging_dir;
  req.rows = rows;
  req.schema = std::move(schema);
  req.run_id = ctx.run_id;
  req.attempt_id = ctx.attempt_id;
  req.task_id = ctx.task->id;
  req.watermark = watermark;
  req.sources = sources;
  req.in_lake = ctx.WritesLakeDirectly();
  ctx.cancel->ThrowIfCancelled();
  lake::Manifest m = ctx.lake->Publish(req);
  ctx.log->Info("published " + dataset + " ds=" + ctx.ds + ": " + std::to_string(rows) + " rows, " +
                std::to_string(m.bytes) + " bytes, checksum " + m.checksum);
  return m;
}

state::TaskCounts RunTask(TaskContext& ctx) {
  RunFn run = RunFunction(ctx.task->kind);
  if (run == nullptr) throw Internal("task kind '" + ctx.task->kind + "' has no implementation");
  return run(ctx);
}

}  // namespace sluice::tasks
