// check: data tests on a dataset partition. Every expectation runs; a failure names the
// offending values, and the task fails when any expectation does.
#include "common/error.h"
#include "common/strings.h"
#include "tasks/task.h"

namespace sluice::tasks {
namespace {

std::string Cols(const std::vector<std::string>& cols) {
  std::vector<std::string> q;
  for (const auto& c : cols) q.push_back(SqlIdentifier(c));
  return Join(q, ", ");
}

// Renders up to 5 offending rows as "value (n rows)".
std::string Examples(const engine::Table& t) {
  std::vector<std::string> out;
  for (const auto& row : t.rows) {
    std::vector<std::string> vals;
    for (size_t i = 0; i + 1 < row.size(); i++)
      vals.push_back(row[i] ? "'" + *row[i] + "'" : "NULL");
    std::string v = vals.size() == 1 ? vals[0] : "(" + Join(vals, ", ") + ")";
    out.push_back(v + " x" + row.back().value_or("?"));
  }
  return Join(out, ", ");
}

}  // namespace

state::TaskCounts RunCheck(TaskContext& ctx) {
  const auto& t = *ctx.task;
  if (ctx.OnSpark()) ctx.log->Info("checking on " + ctx.engine->Describe());
  std::string src = ctx.RefSql(t.dataset, "");
  auto session = ctx.Connect("checking " + t.dataset);
  if (ctx.OnSpark()) ctx.LogSparkUi();
  std::vector<std::string> failures;
  int passed = 0;
  auto count_of = [&](const std::string& sql) {
    return std::stoll(session->Query(sql).rows.at(0).at(0).value_or("0"));
  };
  for (const auto& e : t.check.expect) {
    ctx.cancel->ThrowIfCancelled();
    std::string label = e.name.empty()
                            ? e.kind + (e.columns.empty() ? "" : "(" + Join(e.columns, ", ") + ")")
                            : e.name;
    std::string failure;
    try {
      if (e.kind == "unique") {
        std::string groups = "SELECT " + Cols(e.columns) + ", count(*) AS n FROM " + src +
                             " GROUP BY ALL HAVING count(*) > 1";
        int64_t dupes = count_of("SELECT count(*) FROM (" + groups + ")");
        if (dupes > 0) {
          auto ex = session->Query(groups + " ORDER BY n DESC, 1 LIMIT 5");
          failure = std::to_string(dupes) + " values occur more than once: " + Examples(ex);
        }
      } else if (e.kind == "not_null") {
        std::vector<std::string> bad;
        for (const auto& col : e.columns) {
          int64_t n =
              count_of("SELECT count(*) FROM " + src + " WHERE " + SqlIdentifier(col) + " IS NULL");
          if (n > 0) bad.push_back(std::to_string(n) + " NULLs in " + col);
        }
        if (!bad.empty()) failure = Join(bad, ", ");
      } else if (e.kind == "accepted_values") {
        std::vector<std::string> lits;
        for (const auto& v : e.values) lits.push_back(SqlLiteral(v));
        std::string col = SqlIdentifier(e.columns[0]);
        std::string bad = "SELECT " + col + ", count(*) AS n FROM " + src + " WHERE " + col +
                          " IS NOT NULL AND CAST(" + col + " AS STRING) NOT IN (" +
                          Join(lits, ", ") + ") GROUP BY ALL";
        int64_t n = count_of("SELECT count(*) FROM (" + bad + ")");
        if (n > 0) {
          auto ex = session->Query(bad + " ORDER BY n DESC, 1 LIMIT 5");
          failure = std::to_string(n) + " values of " + e.columns[0] + " are not in [" +
                    Join(e.values, ", ") + "]: " + Examples(ex);
        }
      } else if (e.kind == "row_count") {
        int64_t n = count_of("SELECT count(*) FROM " + src);
        if ((e.min && n < *e.min) || (e.max && n > *e.max)) {
          failure = std::to_string(n) + " rows, expected " +
                    (e.min ? "at least " + std::to_string(*e.min) : "") +
                    (e.min && e.max ? " and " : "") +
                    (e.max ? "at most " + std::to_string(*e.max) : "");
        }
      } else if (e.kind == "relationships") {
        std::string col = SqlIdentifier(e.columns[0]);
        std::string to = ctx.RefSql(e.to_dataset, "");
        std::string orphans = "SELECT a." + col + ", count(*) AS n FROM " + src + " a WHERE a." +
                              col + " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM " + to +
                              " b WHERE b." + SqlIdentifier(e.to_column) + " = a." + col +
                              ") GROUP BY ALL";
        int64_t n = count_of("SELECT count(*) FROM (" + orphans + ")");
        if (n > 0) {
          auto ex = session->Query(orphans + " ORDER BY n DESC, 1 LIMIT 5");
          failure = std::to_string(n) + " values of " + e.columns[0] + " have no match in " +
                    e.to_dataset + "." + e.to_column + ": " + Examples(ex);
        }
      } else if (e.kind == "sql") {
        std::string sql = StripSqlTerminator(ctx.Render(e.sql, ctx.Name() + " sql check"));
        int64_t n = count_of("SELECT count(*) FROM (" + sql + ")");
        if (n > 0) {
          auto ex = session->Query("SELECT * FROM (" + sql + ") LIMIT 5");
          std::vector<std::string> rows;
          for (const auto& r : ex.rows) {
            std::vector<std::string> vals;
            for (const auto& v : r) vals.push_back(v.value_or("NULL"));
            rows.push_back("(" + Join(vals, ", ") + ")");
          }
          failure = "the query returned " + std::to_string(n) +
                    " rows (it must return none): " + Join(rows, ", ");
        }
      }
    } catch (const Error& err) {
      if (err.kind() == ErrorKind::kCancelled) throw;
      failure = std::string("could not run: ") + err.what();
    }
    if (failure.empty()) {
      passed++;
      ctx.log->Info("check " + label + ": passed");
    } else {
      ctx.log->Info("check " + label + ": FAILED: " + failure);
      failures.push_back(label + ": " + failure);
    }
  }
  if (!failures.empty()) {
    throw InvalidInput(ctx.Name() + ": " + std::to_string(failures.size()) + " of " +
                       std::to_string(t.check.expect.size()) + " checks failed on " + t.dataset +
                       " ds=" + ctx.ds + ":\n  " + Join(failures, "\n  "));
  }
  state::TaskCounts counts;
  counts.rows_read = count_of("SELECT count(*) FROM " + src);
  return counts;
}

}  // namespace sluice::tasks
