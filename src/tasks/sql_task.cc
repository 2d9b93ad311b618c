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
  std::string staging = ctx.lake->StagingDir(ctx.run_id, ctx.attempt_id, t.into, ctx.ds);
  auto session = ctx.Connect("building " + t.into);
  if (ctx.OnSpark()) ctx.LogSparkUi();
  uint64_t rows;
  try {
    rows = session->CopyToParquet(sql, staging + "/part-00000.parquet");
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCancelled) throw;
    throw Error(e.kind(), where + ": " + e.what(), e.retryable());
  }
  FaultPoint("write.after_data");
  ctx.cancel->ThrowIfCancelled();
  // The staged files are local Parquet whoever wrote them: the embedded engine reads their
  // schema.
  auto local = ctx.OnSpark() ? ctx.ConnectLocal("publishing " + t.into) : session;
  auto m = PublishStaged(ctx, *local, t.into, staging, rows);
  state::TaskCounts counts;
  counts.rows_read = static_cast<int64_t>(ctx.RowsReferenced());
  counts.rows_written = static_cast<int64_t>(rows);
  counts.bytes = static_cast<int64_t>(m.bytes);
  return counts;
}

}  // namespace sluice::tasks
