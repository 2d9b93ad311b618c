// sluice validate with a Spark engine: every sql and check task that runs on Spark is analyzed
// by the server (Spark Connect's AnalyzePlan), before anything runs. The datasets a model reads
// are stood in for by empty views of their known schema, so nothing needs to be published.
#include "cli/spark_validate.h"

#include <algorithm>
#include <map>
#include <regex>

#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "pipeline/template.h"
#include "spark/spark_connect.h"
#include "state/state_store.h"
#include "tasks/storage.h"

namespace sluice::cli {
namespace {

// Spark's name for one of the lake's (DuckDB's) types.
std::string SparkType(std::string t) {
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::toupper(c); });
  if (t == "VARCHAR" || t == "TEXT" || t == "UUID" || t == "JSON") return "STRING";
  if (t == "INTEGER" || t == "INT4") return "INT";
  if (t == "HUGEINT") return "DECIMAL(38,0)";
  if (t == "UBIGINT") return "DECIMAL(20,0)";
  if (t == "UINTEGER") return "BIGINT";
  if (t == "USMALLINT") return "INT";
  if (t == "UTINYINT") return "SMALLINT";
  if (t == "BLOB") return "BINARY";
  if (t == "TIMESTAMP") return "TIMESTAMP_NTZ";
  if (t == "TIMESTAMP WITH TIME ZONE" || t == "TIMESTAMPTZ") return "TIMESTAMP";
  if (t == "TIME") return "STRING";
  return t;  // BIGINT, SMALLINT, TINYINT, DOUBLE, FLOAT, BOOLEAN, DATE, DECIMAL(p,s)
}

std::string ViewName(const std::string& dataset, bool all) {
  std::string v = "sluice_ref_" + dataset;
  std::replace(v.begin(), v.end(), '.', '_');
  return all ? v + "_all" : v;
}

// "line N" in Spark's message, as a line of the model (1-based), or 0.
int SparkLine(const std::string& message) {
  static const std::regex kLine(R"(line (\d+),? pos(ition)? (\d+))");
  std::smatch m;
  if (std::regex_search(message, m, kLine)) return std::stoi(m[1]);
  return 0;
}

class SparkValidator {
 public:
  SparkValidator(const pipeline::PipelineSpec& spec, std::ostream& out, std::ostream& err)
      : spec_(spec), out_(out), err_(err) {}

  int Run() {
    spark::SparkOptions o = spark::ParseRemote(spec_.spark.remote);
    if (!spec_.spark.token.empty()) {
      o.token = pipeline::ResolveSecret(spec_.spark.token, spec_.dir, "engine.token");
    }
    try {
      session_ = spark::SparkSession::Connect(o);
      session_->Execute("SET spark.sql.timestampType = TIMESTAMP_NTZ", nullptr);
      session_->Execute("SET spark.sql.ansi.doubleQuotedIdentifiers = true", nullptr);
    } catch (const Error& e) {
      err_ << spec_.file << ": cannot analyze the Spark models: " << e.what() << "\n";
      return 1;
    }
    out_ << "analyzing the models on Spark " << session_->version() << " at "
         << spark::FormatRemote(o) << "\n";
    OpenLake();
    int problems = 0;
    for (const auto& id : spec_.TopologicalOrder()) {
      const pipeline::TaskSpec* t = spec_.FindTask(id);
      if (spec_.EngineOf(*t) != "spark") continue;
      if (t->kind == "sql") {
        problems += Analyze(*t, t->sql.text, t->sql.file, t->sql.mark.line, t->into, "");
      } else if (t->kind == "check") {
        for (const auto& e : t->check.expect) {
          if (e.kind == "sql") {
            problems +=
                Analyze(*t, e.sql, "", t->mark.line, "", e.name.empty() ? "" : " (" + e.name + ")");
          }
        }
      }
    }
    return problems;
  }

 private:
  void OpenLake() {
    try {
      state_ = state::StateStore::Open(spec_.ResolvePath(spec_.state_dir) + "/state.db");
      lake_ = tasks::OpenLake(spec_, state_.get(), spec_.ResolvePath(spec_.state_dir), false);
    } catch (const Error&) {
      lake_.reset();  // no published schema to fall back on
    }
  }

  // The schema of a dataset: analyzed on Spark earlier in this validation, declared by its
  // csv_import, or that of its last published partition.
  std::optional<std::vector<engine::Column>> SchemaOf(const std::string& dataset) {
    if (auto it = analyzed_.find(dataset); it != analyzed_.end()) return it->second;
    const pipeline::TaskSpec* producer = spec_.FindTask(spec_.ProducerOf(dataset));
    if (producer && producer->kind == "csv_import" && !producer->csv.columns.empty() &&
        producer->into == dataset) {
      std::vector<engine::Column> cols;
      for (const auto& [name, type] : producer->csv.columns) cols.push_back({name, type});
      return cols;
    }
    if (lake_) {
      try {
        auto parts = lake_->ListPartitions(dataset);
        if (!parts.empty()) {
          if (auto m = lake_->ReadManifest(dataset, parts.back())) return m->schema;
        }
      } catch (const Error&) {
      }
    }
    return std::nullopt;
  }

  int Analyze(const pipeline::TaskSpec& t, const std::string& text, const std::string& file,
              int first_line, const std::string& into, const std::string& label) {
    std::vector<std::string> unknown;
    pipeline::TemplateContext tc;
    tc.variables = pipeline::DateVariables(Date::TodayIn(spec_.timezone).ToString());
    tc.vars = spec_.vars;
    tc.ref = [&](const std::string& dataset, const std::string& scope) {
      bool all = scope == "all";
      std::string view = ViewName(dataset, all);
      auto schema = SchemaOf(dataset);
      if (!schema) {
        unknown.push_back(dataset);
        return view;  // Spark reports it missing: the syntax is still checked
      }
      std::vector<std::string> cols;
      for (const auto& c : *schema) {
        cols.push_back("CAST(NULL AS " + SparkType(c.type) + ") AS `" + c.name + "`");
      }
      if (all) cols.push_back("CAST(NULL AS DATE) AS ds");
      session_->Execute("CREATE OR REPLACE TEMPORARY VIEW " + view + " AS SELECT " +
                            Join(cols, ", ") + " WHERE false",
                        nullptr);
      return view;
    };
    std::string where = file.empty() ? spec_.file : file;
    std::string sql;
    try {
      sql = StripSqlTerminator(pipeline::RenderTemplate(text, tc, t.kind + " '" + t.id + "'"));
      auto cols = session_->Analyze(sql);
      if (!into.empty()) analyzed_[into] = cols;
      out_ << "  " << t.id << label << ": ok on Spark (" << cols.size() << " columns)\n";
      return 0;
    } catch (const Error& e) {
      std::string msg = e.what();
      if (!unknown.empty() && msg.find("TABLE_OR_VIEW_NOT_FOUND") != std::string::npos) {
        out_ << "  " << t.id << label << ": syntax checked only: the schema of "
             << Join(unknown, ", ")
             << " is not known yet (declare csv_import columns:, or publish it once)\n";
        return 0;
      }
      int line = SparkLine(msg);
      int at = file.empty() ? first_line + (line > 0 ? line - 1 : 0) : (line > 0 ? line : 1);
      err_ << where << ":" << at << ": " << t.kind << " '" << t.id << "'" << label
           << " on Spark: " << msg << "\n";
      return 1;
    }
  }

  const pipeline::PipelineSpec& spec_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<spark::SparkSession> session_;
  std::unique_ptr<state::StateStore> state_;
  std::unique_ptr<lake::Lake> lake_;
  std::map<std::string, std::vector<engine::Column>> analyzed_;
};

}  // namespace

int ValidateOnSpark(const pipeline::PipelineSpec& spec, std::ostream& out, std::ostream& err) {
  bool any = std::any_of(spec.tasks.begin(), spec.tasks.end(),
                         [&](const pipeline::TaskSpec& t) { return spec.EngineOf(t) == "spark"; });
  if (!any) return 0;
  return SparkValidator(spec, out, err).Run();
}

}  // namespace sluice::cli
