#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "pipeline/spec.h"
#include "pipeline/template.h"

namespace sluice::pipeline {
namespace {

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice_pipeline_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::vector<Diagnostic> Validate(const std::string& yaml) {
    std::vector<Diagnostic> d;
    LoadPipeline(Write("p.yaml", yaml), {}, &d);
    return d;
  }
  static bool Has(const std::vector<Diagnostic>& ds, int line, const std::string& text) {
    for (const auto& d : ds) {
      if (d.mark.line == line && d.message.find(text) != std::string::npos) return true;
    }
    return false;
  }
  static std::string All(const std::vector<Diagnostic>& ds) {
    std::string s;
    for (const auto& d : ds) s += FormatDiagnostic(d) + "\n";
    return s;
  }
  std::string dir_;
};

constexpr const char* kValid = R"(pipeline: p
schedule: "0 2 * * *"
tasks:
  - id: ingest
    kind: csv_import
    path: in/data_{{ ds_nodash }}.csv
    into: raw.data
    columns: {id: BIGINT, name: VARCHAR}
  - id: model
    kind: sql
    into: staging.data
    sql: SELECT * FROM {{ ref('raw.data') }} WHERE id > {{ var('min_id') }}
  - id: check
    kind: check
    dataset: staging.data
    expect: [{unique: id}, {row_count: {min: 1}}]
vars: {min_id: "0"}
)";

TEST_F(PipelineTest, ParsesAValidFileAndInfersDependencies) {
  std::vector<Diagnostic> d;
  auto spec = LoadPipeline(Write("p.yaml", kValid), {}, &d);
  ASSERT_TRUE(d.empty()) << All(d);
  EXPECT_EQ(spec.name, "p");
  ASSERT_EQ(spec.tasks.size(), 3u);
  EXPECT_EQ(spec.tasks[0].csv.columns.size(), 2u);
  EXPECT_EQ(spec.tasks[0].csv.columns[0].first, "id");
  EXPECT_EQ(spec.tasks[0].csv.rejects_into, "rejects.raw_data");
  EXPECT_EQ(spec.tasks[1].upstream, std::vector<std::string>{"ingest"});
  EXPECT_EQ(spec.tasks[2].upstream, std::vector<std::string>{"model"});
  EXPECT_EQ(spec.TopologicalOrder(), (std::vector<std::string>{"ingest", "model", "check"}));
  EXPECT_EQ(spec.ProducerOf("staging.data"), "model");
}

TEST_F(PipelineTest, ReportsEveryMistakeWithItsLine) {
  auto d = Validate(R"(pipeline: p
shedule: "0 2 * * *"
defaults: {retry_delay: 5 minutes}
tasks:
  - id: a
    kind: csv_import
    path: x.csv
    into: Raw.Data
  - id: b
    kind: sqll
  - id: c
    kind: sql
    into: staging.c
    after: [nope]
    sql: SELECT * FROM {{ ref('raw.missing') }} WHERE d = '{{ dss }}'
)");
  EXPECT_TRUE(Has(d, 2, "did you mean 'schedule'")) << All(d);
  EXPECT_TRUE(Has(d, 3, "not a duration")) << All(d);
  EXPECT_TRUE(Has(d, 8, "not a dataset name")) << All(d);
  EXPECT_TRUE(Has(d, 10, "did you mean 'sql'")) << All(d);
  EXPECT_TRUE(Has(d, 14, "'nope', which is not a task")) << All(d);
  EXPECT_TRUE(Has(d, 15, "raw.missing, which no task produces")) << All(d);
  EXPECT_TRUE(Has(d, 15, "unknown template variable 'dss'")) << All(d);
  EXPECT_GE(d.size(), 7u);
}

TEST_F(PipelineTest, ReportsACycleAsAPath) {
  auto d = Validate(R"(pipeline: p
tasks:
  - {id: a, kind: sql, into: z.a, sql: "SELECT * FROM {{ ref('z.b') }}"}
  - {id: b, kind: sql, into: z.b, sql: "SELECT * FROM {{ ref('z.a') }}"}
)");
  bool found = false;
  for (const auto& x : d) found |= x.message.find("dependency cycle: ") != std::string::npos;
  EXPECT_TRUE(found) << All(d);
}

TEST_F(PipelineTest, RejectsBadCronAndUnknownConnection) {
  auto d = Validate(R"(pipeline: p
schedule: "0 25 * * *"
tasks:
  - {id: a, kind: sql, into: z.a, sql: "SELECT 1"}
  - id: l
    kind: db_load
    connection: dwh
    datasets: {z.a: public.a}
)");
  EXPECT_TRUE(Has(d, 2, "hour")) << All(d);
  EXPECT_TRUE(Has(d, 7, "connection 'dwh' is not defined")) << All(d);
}

TEST_F(PipelineTest, ChecksTheHdfsLakeAndItsSection) {
  auto d = Validate(R"(pipeline: p
lake: webhdfs://nn:9870/lake
hdfs:
  user: etl
  https: yes
  replication: 0
  retries: many
  timeout: soon
  cache_size: lots
  delegation_token: abc123
  kerberos: true
tasks:
  - {id: a, kind: sql, into: z.a, sql: "SELECT 1"}
)");
  EXPECT_TRUE(Has(d, 5, "hdfs.https must be true or false")) << All(d);
  EXPECT_TRUE(Has(d, 6, "hdfs.replication must be a whole number from 1")) << All(d);
  EXPECT_TRUE(Has(d, 7, "hdfs.retries must be a whole number")) << All(d);
  EXPECT_TRUE(Has(d, 8, "timeout")) << All(d);
  EXPECT_TRUE(Has(d, 9, "hdfs.cache_size 'lots' is not a size")) << All(d);
  EXPECT_TRUE(Has(d, 10, "${env:NAME}")) << All(d);
  EXPECT_TRUE(Has(d, 11, "hdfs.kerberos is not an option")) << All(d);
  EXPECT_EQ(d.size(), 7u) << All(d);
  EXPECT_TRUE(Has(Validate("pipeline: p\nlake: s3://b/lake\ntasks:\n  - {id: a, kind: sql, "
                           "into: z.a, sql: \"SELECT 1\"}\n"),
                  2, "unknown scheme 's3'"));
  EXPECT_TRUE(Has(Validate("pipeline: p\nlake: webhdfs://nn:9870\ntasks:\n  - {id: a, kind: "
                           "sql, into: z.a, sql: \"SELECT 1\"}\n"),
                  2, "needs a host and a folder"));
}

TEST_F(PipelineTest, RefusesClearTextPasswordsAndOpenSecretFiles) {
  std::string secret = Write("pass", "s3cret\n");
  ::chmod(secret.c_str(), 0644);
  auto d = Validate(R"(pipeline: p
connections:
  a: {type: postgres, host: h, password: hunter2}
  b: {type: mysql, host: h, password: "${file:pass}"}
  c: {type: mysql, host: h, password: "${env:SLUICE_TEST_SURELY_UNSET}"}
tasks:
  - {id: t, kind: sql, into: z.a, sql: "SELECT 1"}
)");
  EXPECT_TRUE(Has(d, 3, "never in the pipeline file")) << All(d);
  EXPECT_TRUE(Has(d, 4, "chmod 600")) << All(d);
  EXPECT_TRUE(Has(d, 5, "SLUICE_TEST_SURELY_UNSET is not set")) << All(d);
  for (const auto& x : d) EXPECT_EQ(x.message.find("s3cret"), std::string::npos);
  ::chmod(secret.c_str(), 0600);
  EXPECT_EQ(ResolveSecret("${file:pass}", dir_, "x"), "s3cret");
}

TEST_F(PipelineTest, SqlFromAFileReportsTemplateErrorsInThatFile) {
  Write("model.sql", "SELECT 1\nFROM {{ ref('z.a') }}\nWHERE x = {{ nope }}\n");
  auto d = Validate(R"(pipeline: p
tasks:
  - {id: a, kind: sql, into: z.a, sql: "SELECT 1"}
  - {id: b, kind: sql, into: z.b, sql: model.sql}
)");
  ASSERT_EQ(d.size(), 1u) << All(d);
  EXPECT_NE(d[0].file.find("model.sql"), std::string::npos);
  EXPECT_EQ(d[0].mark.line, 3);
  EXPECT_EQ(d[0].mark.column, 11);
}

TEST_F(PipelineTest, DbImportTablesAllProducesItsZoneForRefs) {
  std::string d = dir_;
  auto spec = LoadPipelineOrThrow(Write("p.yaml", R"(pipeline: shop
connections:
  shop: {type: mysql, host: 127.0.0.1, database: shop, user: etl}
tasks:
  - id: import_shop
    kind: db_import
    connection: shop
    tables: all
    exclude: [audit_log]
    parallel: 4
  - id: import_orders_q
    kind: db_import
    connection: shop
    query: SELECT * FROM orders WHERE $CONDITIONS
    into: staging.orders_q
    split_by: order_id
  - id: daily
    kind: sql
    into: marts.daily
    sql: SELECT * FROM {{ ref('raw.orders') }} JOIN {{ ref('staging.orders_q') }} USING (order_id)
)"));
  const TaskSpec* daily = spec.FindTask("daily");
  ASSERT_NE(daily, nullptr);
  EXPECT_EQ(daily->upstream, (std::vector<std::string>{"import_orders_q", "import_shop"}));
  EXPECT_EQ(spec.ProducerOf("raw.customers"), "import_shop");
  EXPECT_EQ(spec.ProducerOf("raw.audit_log"), "");
  EXPECT_EQ(spec.FindTask("import_shop")->import.parallel, 4);
  EXPECT_EQ(ImportDatasetName("raw", "public.Order-Items"), "raw.order_items");
}

TEST_F(PipelineTest, DbImportReportsEveryMistake) {
  auto d = Validate(R"(pipeline: shop
connections:
  shop: {type: mysql, host: 127.0.0.1, database: shop, user: etl}
  files: {type: sftp, host: 127.0.0.1}
tasks:
  - id: a
    kind: db_import
    connection: shop
    tables: [orders, {name: customers, incremental: sometimes}]
  - id: b
    kind: db_import
    connection: files
    table: orders
    check_column: id
  - id: c
    kind: db_import
    connection: shop
    query: SELECT 1
    parallel: 2
  - id: e
    kind: db_import
    connection: shop
    tables: [orders]
)");
  EXPECT_TRUE(Has(d, 9, "incremental: 'sometimes' is unknown")) << All(d);
  EXPECT_TRUE(Has(d, 12, "db_import reads from a mysql or postgres connection")) << All(d);
  EXPECT_TRUE(Has(d, 14, "check_column: is for incremental imports")) << All(d);
  EXPECT_TRUE(Has(d, 18, "needs into:")) << All(d);
  EXPECT_TRUE(Has(d, 18, "needs split_by:")) << All(d);
  EXPECT_TRUE(Has(d, 20, "writes raw.orders, which task 'a' already writes")) << All(d);
}

TEST_F(PipelineTest, DbImportTablesAllMustNotOverlapAnotherProducer) {
  auto d = Validate(R"(pipeline: shop
connections:
  shop: {type: mysql, host: 127.0.0.1, database: shop, user: etl}
tasks:
  - id: everything
    kind: db_import
    connection: shop
    tables: all
    exclude: [customers]
  - id: orders_delta
    kind: db_import
    connection: shop
    table: orders
    incremental: append
    check_column: order_id
  - id: customers_only
    kind: db_import
    connection: shop
    table: customers
)");
  EXPECT_TRUE(Has(d, 5, "includes raw.orders, written by task 'orders_delta'")) << All(d);
  EXPECT_EQ(d.size(), 1u) << All(d);  // raw.customers is excluded
}

TEST(TemplateTest, RendersDateVariablesRefsAndVars) {
  TemplateContext tc;
  tc.variables = DateVariables("2026-03-01");
  tc.vars = {{"region", "Hessen"}};
  tc.ref = [](const std::string& d, const std::string& scope) {
    return "<" + d + "|" + scope + ">";
  };
  EXPECT_EQ(RenderTemplate("{{ds}} {{ ds_nodash }} {{prev_ds}} {{ next_ds }}", tc, "t"),
            "2026-03-01 20260301 2026-02-28 2026-03-02");
  EXPECT_EQ(RenderTemplate("{{ data_interval_start }}/{{ data_interval_end }}", tc, "t"),
            "2026-03-01T00:00:00/2026-03-02T00:00:00");
  EXPECT_EQ(RenderTemplate("FROM {{ ref('raw.x') }}, {{ ref(\"raw.y\", 'all') }}", tc, "t"),
            "FROM <raw.x|>, <raw.y|all>");
  EXPECT_EQ(RenderTemplate("'{{ var('region') }}'", tc, "t"), "'Hessen'");
  EXPECT_THROW(RenderTemplate("{{ var('other') }}", tc, "t"), Error);
  EXPECT_THROW(RenderTemplate("{{ ds | upper }}", tc, "t"), Error);
  EXPECT_THROW(RenderTemplate("{{ ds ", tc, "t"), Error);
}

TEST_F(PipelineTest, SparkWithAnHdfsLakeNeedsLakePath) {
  const std::string tasks = R"(tasks:
  - id: m
    kind: sql
    into: marts.m
    sql: SELECT 1 AS n
)";
  auto d = Validate(
      "pipeline: p\nlake: webhdfs://nn:9870/lake\n"
      "engine: {type: spark, remote: \"sc://spark:15002\"}\n" +
      tasks);
  EXPECT_TRUE(Has(d, 3,
                  "engine: spark with the lake on webhdfs://nn:9870/lake needs lake_path: the "
                  "same folder as Spark names it, e.g. hdfs://namenode:8020/lake"))
      << All(d);
  d = Validate(
      "pipeline: p\nlake: webhdfs://nn:9870/lake\n"
      "engine: {type: spark, remote: \"sc://spark:15002\", lake_path: "
      "\"hdfs://nn:8020/lake\"}\n" +
      tasks);
  EXPECT_TRUE(d.empty()) << All(d);
  // Spark's own client cannot use webhdfs://, whichever way the lake is named.
  d = Validate(
      "pipeline: p\nlake: webhdfs://nn:9870/lake\n"
      "engine: {type: spark, remote: \"sc://spark:15002\", lake_path: "
      "\"webhdfs://nn:9870/lake\"}\n" +
      tasks);
  EXPECT_TRUE(Has(d, 3, "Spark's own Hadoop client cannot use webhdfs://")) << All(d);
}

TEST_F(PipelineTest, OrcIsWrittenAndReadOnSparkOnly) {
  const std::string head = R"(pipeline: p
engine: {remote: "sc://127.0.0.1:15002"}
tasks:
  - id: curated
    kind: sql
    engine: spark
    format: orc
    into: curated.nums
    sql: SELECT 1 AS n
)";
  // Spark writes it, Spark reads it: valid.
  auto ok = Validate(head + R"(  - id: summed
    kind: sql
    engine: spark
    into: marts.summed
    sql: SELECT count(*) AS c FROM {{ ref('curated.nums') }}
)");
  EXPECT_TRUE(ok.empty()) << All(ok);

  // The embedded engine cannot write ORC.
  auto d = Validate(R"(pipeline: p
tasks:
  - id: curated
    kind: sql
    format: orc
    into: curated.nums
    sql: SELECT 1 AS n
  - id: other
    kind: sql
    format: avro
    into: curated.other
    sql: SELECT 1 AS n
)");
  EXPECT_TRUE(Has(d, 5, "task 'curated' writes format: orc, which only the spark engine writes"))
      << All(d);
  EXPECT_TRUE(Has(d, 10, "format 'avro' of task 'other' is not a file format (parquet")) << All(d);

  // Nor read it: a model, a check and a load on the embedded engine are each named.
  d = Validate(head + R"(  - id: summed
    kind: sql
    into: marts.summed
    sql: SELECT count(*) AS c FROM {{ ref('curated.nums') }}
  - id: check_nums
    kind: check
    dataset: curated.nums
    expect: [{unique: n}]
  - id: load
    kind: db_load
    datasets: {curated.nums: public.nums}
)");
  EXPECT_TRUE(Has(d, 13,
                  "task 'summed' reads curated.nums, which task 'curated' writes as ORC, and only "
                  "the spark engine reads ORC (DuckDB cannot): add engine: spark to 'summed', or "
                  "make 'curated' write parquet"))
      << All(d);
  EXPECT_TRUE(Has(d, 16, "task 'check_nums' reads curated.nums")) << All(d);
  EXPECT_TRUE(Has(d, 20, "db_load runs on the embedded engine: make 'curated' write parquet"))
      << All(d);
}

}  // namespace
}  // namespace sluice::pipeline
