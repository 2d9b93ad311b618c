// sql: a SELECT model materialized into a lake partition.
#include "common/error.h"
#include "common/strings.h"
#include "tasks/task.h"

namespace sluice::tasks {

state::TaskCounts RunSqlModel(TaskContext& ctx) {
  const auto& t = *ctx.task;
  std::string where = ctx.Name() + (t.sql.file.empty() ? "" : " (" + t.sql.file + ")");
  std::string sql = StripSqlTerminator(ctx.Render(t.sql.text, where));
  ctx.log->Info("model SQL (on " + ctx.engine->Describe() + "):\n" + sql);
  // Spark on an HDFS lake writes into the lake's own staging; otherwise staging is local.
  std::string staging = ctx.WritesLakeDirectly()
                            ? ctx.lake->LakeStagingDir(ctx.run_id, ctx.attempt_id, t.into, ctx.ds)
                            : ctx.lake->StagingDir(ctx.run_id, ctx.attempt_id, t.into, ctx.ds);
  auto session = ctx.Connect("building " + t.into);
  if (ctx.OnSpark()) ctx.LogSparkUi();
  bool orc = t.sql.format == "orc";
  // The schema comes from Spark's analysis when the embedded engine cannot read the staged
  // files (ORC, or files on HDFS), else from the files.
  bool spark_schema = orc || ctx.WritesLakeDirectly();
  uint64_t rows;
  std::vector<schema::Column> schema;
  try {
    if (spark_schema) schema = session->Describe(sql);
    if (orc) {
      rows = session->CopyToOrc(sql, staging + "/part-00000.orc");
    } else {
      rows = session->CopyToParquet(sql, staging + "/part-00000.parquet");
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCancelled) throw;
    throw Error(e.kind(), where + ": " + e.what(), e.retryable());
  }
  FaultPoint("write.after_data");
  ctx.cancel->ThrowIfCancelled();
  lake::Manifest m;
  if (spark_schema) {
    m = PublishFiles(ctx, t.into, staging, rows, std::move(schema));
  } else {
    // Staged Parquet is local whoever wrote it: the embedded engine reads its schema.
    auto local = ctx.OnSpark() ? ctx.ConnectLocal("publishing " + t.into) : session;
    m = PublishStaged(ctx, *local, t.into, staging, rows);
  }
  state::TaskCounts counts;
  counts.rows_read = static_cast<int64_t>(ctx.RowsReferenced());
  counts.rows_written = static_cast<int64_t>(rows);
  counts.bytes = static_cast<int64_t>(m.bytes);
  return counts;
}

}  // namespace sluice::tasks
