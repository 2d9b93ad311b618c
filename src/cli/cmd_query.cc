// sluice query: SQL over a pipeline's lake and warehouse.

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "cli/cli.h"
#include "common/error.h"
#include "common/strings.h"
#include "pipeline/template.h"
#include "spark/spark_engine.h"

namespace sluice::cli {
namespace {

bool IsNumericType(const std::string& type) {
  static const std::set<std::string> numeric = {"TINYINT", "SMALLINT", "INTEGER",   "BIGINT",
                                                "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                                                "UBIGINT", "FLOAT",    "DOUBLE"};
  return numeric.count(type) > 0 || StartsWith(type, "DECIMAL");
}

std::string JsonValue(const std::optional<std::string>& v, const std::string& type) {
  if (!v) return "null";
  if (IsNumericType(type)) {
    if (*v == "inf" || *v == "-inf" || *v == "nan") return nlohmann::json(*v).dump();
    return *v;
  }
  if (type == "BOOLEAN") return *v;
  return nlohmann::json(*v).dump();
}

std::string CsvField(const std::optional<std::string>& v) {
  if (!v) return "";
  if (v->find_first_of(",\"\n\r") == std::string::npos) return *v;
  return "\"" + ReplaceAll(*v, "\"", "\"\"") + "\"";
}

void PrintTable(const engine::Table& t, const std::string& format) {
  if (format == "csv") {
    std::vector<std::string> head;
    for (const auto& c : t.columns) head.push_back(CsvField(c.name));
    std::cout << Join(head, ",") << "\n";
    for (const auto& row : t.rows) {
      std::vector<std::string> cells;
      for (const auto& v : row) cells.push_back(CsvField(v));
      std::cout << Join(cells, ",") << "\n";
    }
    return;
  }
  if (format == "json") {
    std::cout << "[";
    for (size_t r = 0; r < t.rows.size(); r++) {
      std::cout << (r ? ",\n " : "\n ") << "{";
      for (size_t c = 0; c < t.columns.size(); c++) {
        std::cout << (c ? ", " : "") << nlohmann::json(t.columns[c].name).dump() << ": "
                  << JsonValue(t.rows[r][c], t.columns[c].type);
      }
      std::cout << "}";
    }
    std::cout << (t.rows.empty() ? "]\n" : "\n]\n");
    return;
  }
  std::vector<size_t> width(t.columns.size());
  auto shown = [](const std::optional<std::string>& v) {
    std::string s = v.value_or("NULL");
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
  };
  auto display_width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (size_t c = 0; c < t.columns.size(); c++) {
    width[c] = display_width(t.columns[c].name);
    for (const auto& row : t.rows) width[c] = std::max(width[c], display_width(shown(row[c])));
  }
  auto pad = [&](const std::string& s, size_t w) {
    return s + std::string(w - display_width(s), ' ');
  };
  std::string sep = "+";
  for (auto w : width) sep += std::string(w + 2, '-') + "+";
  std::cout << sep << "\n|";
  for (size_t c = 0; c < t.columns.size(); c++)
    std::cout << " " << pad(t.columns[c].name, width[c]) << " |";
  std::cout << "\n" << sep << "\n";
  for (const auto& row : t.rows) {
    std::cout << "|";
    for (size_t c = 0; c < t.columns.size(); c++) {
      // Numbers right-aligned, so digits line up.
      std::string v = shown(row[c]);
      std::cout << " "
                << (IsNumericType(t.columns[c].type) && row[c]
                        ? std::string(width[c] - display_width(v), ' ') + v
                        : pad(v, width[c]))
                << " |";
    }
    std::cout << "\n";
  }
  std::cout << sep << "\n" << t.rows.size() << " row" << (t.rows.size() == 1 ? "" : "s") << "\n";
}

// --engine spark: the query runs on the cluster; datasets are read through ref() only (Spark
// has no zone.name views), and the warehouse is not attached.
int QueryOnSpark(Args& a, Workspace& w, const std::string& ds, const std::string& format) {
  auto* spark = dynamic_cast<spark::SparkEngine*>(w.spark.get());
  CancelToken cancel;
  Interrupts interrupts(cancel, "sluice: interrupted; cancelling the Spark job");
  auto session = spark->Connect();
  engine::Session* raw = session.get();
  int id = cancel.OnCancel([raw] { raw->Interrupt(); });
  pipeline::TemplateContext tc;
  if (!ds.empty()) tc.variables = pipeline::DateVariables(ds);
  tc.vars = w.spec.vars;
  tc.ref = [&](const std::string& dataset, const std::string& scope) -> std::string {
    bool all = ds.empty() || scope == "all";
    // Spark reads the lake itself: nothing is downloaded.
    auto selection = w.lake->Select(dataset, all ? "" : ds, /*fetch=*/false);
    if (!selection) {
      throw NotFound("ref('" + dataset + "'): no published partition" +
                     (all ? "" : " for ds=" + ds) + " in the lake " + w.lake->Describe());
    }
    return spark->ScanSql(all ? w.lake->DatasetPath(dataset) : w.lake->PartitionPath(dataset, ds),
                          selection->Format());
  };
  std::string sql = pipeline::RenderTemplate(a.positional[0], tc, "query");
  engine::Table table;
  try {
    table = session->Query(sql);
  } catch (...) {
    cancel.RemoveOnCancel(id);
    throw;
  }
  cancel.RemoveOnCancel(id);
  PrintTable(table, format);
  return 0;
}

int CmdQuery(Args& a) {
  std::string file = a.Get("pipeline");
  if (file.empty())
    throw UsageError("query needs --pipeline FILE (whose lake and warehouse to query)");
  std::string format = a.Get("format", "table");
  if (format != "table" && format != "csv" && format != "json") {
    throw UsageError("--format " + format + ": use table, csv or json");
  }
  std::string ds = DateFlag(a);
  std::string engine = a.Get("engine", "duckdb");
  if (engine != "duckdb" && engine != "spark") {
    throw UsageError("--engine " + engine + ": use duckdb (default) or spark");
  }
  auto w = Workspace::Open(file, ParseVars(a), true);
  if (engine == "spark") {
    if (w.spec.spark.remote.empty()) {
      throw UsageError("--engine spark: " + file +
                       " names no Spark Connect server (engine: {remote: \"sc://host:15002\"})");
    }
    if (!w.spark) w.spark = MakeSparkEngine(w);
    return QueryOnSpark(a, w, ds, format);
  }
  auto session = w.engine->Connect();
  std::string warehouse = w.spec.ResolvePath(w.spec.warehouse);
  if (std::filesystem::exists(warehouse)) {
    session->Execute("ATTACH " + SqlLiteral(warehouse) + " AS warehouse (READ_ONLY)");
  }
  auto ref_sql = [&](const std::string& dataset, const std::string& scope) -> std::string {
    bool all = ds.empty() || scope == "all";
    auto selection = w.lake->Select(dataset, all ? "" : ds);
    if (!selection) {
      throw NotFound("ref('" + dataset + "'): no published partition" +
                     (all ? "" : " for ds=" + ds) + " in the lake " + w.lake->root());
    }
    try {
      return selection->Sql();
    } catch (const Error& e) {
      throw Error(e.kind(),
                  "ref('" + dataset + "'): " + e.what() + " (sluice query --engine spark)");
    }
  };
  // Every dataset is also a view zone.name, so plain SQL works without ref().
  for (const auto& dataset : w.lake->ListDatasets()) {
    auto dot = dataset.find('.');
    std::string zone = dataset.substr(0, dot);
    try {
      std::string src = ref_sql(dataset, "");
      session->Execute("CREATE SCHEMA IF NOT EXISTS " + SqlIdentifier(zone));
      session->Execute("CREATE VIEW " + SqlIdentifier(zone) + "." +
                       SqlIdentifier(dataset.substr(dot + 1)) + " AS SELECT * FROM " + src);
    } catch (const Error&) {
      // No partition for --date: the view is left out and ref() names the problem.
    }
  }
  pipeline::TemplateContext tc;
  if (!ds.empty()) tc.variables = pipeline::DateVariables(ds);
  tc.vars = w.spec.vars;
  tc.ref = ref_sql;
  std::string sql = pipeline::RenderTemplate(a.positional[0], tc, "query");
  auto table = session->Query(sql);
  PrintTable(table, format);
  return 0;
}

}  // namespace

Command QueryCommand() {
  return {
      "query",
      "run SQL over a pipeline's lake and warehouse",
      "sluice query --pipeline PIPELINE.yaml [--date YYYY-MM-DD] [--format table|csv|json] "
      "\"SQL\"",
      WithPipelineFlags(
          {{"pipeline", true, "the pipeline whose lake and warehouse to query"},
           {"date", true,
            "datasets show only this date's partition (default: all, with a ds column)"},
           {"format", true, "table (default), csv or json"},
           {"engine", true,
            "duckdb (default), or spark: run on the pipeline's Spark Connect server (datasets "
            "through ref() only)"}}),
      "  sluice query --pipeline examples/citizens/pipeline.yaml \\\n"
      "      \"SELECT region, count(*) FROM {{ ref('staging.citizens') }} GROUP BY ALL\"\n"
      "  sluice query --pipeline p.yaml --format csv \"SELECT * FROM marts.citizens_by_region\"\n"
      "  sluice query --pipeline p.yaml \"SELECT * FROM warehouse.marts.citizens_by_region\"\n"
      "  sluice query --pipeline p.yaml --engine spark \\\n"
      "      \"SELECT region, count(*) FROM {{ ref('staging.citizens') }} GROUP BY ALL\"\n",
      1,
      1,
      CmdQuery};
}

}  // namespace sluice::cli
