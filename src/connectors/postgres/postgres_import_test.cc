// PlanImport and RowReader against a real PostgreSQL server (tests/servers/test_postgres_reader.py
// starts one and runs this binary). The server comes from SLUICE_TEST_PG_HOST, _PORT, _USER,
// _PASSWORD and _DATABASE; without them every test fails.
#include "connectors/postgres/postgres_import.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/strings.h"
#include "engine/test_chunk.h"

namespace sluice::connectors::postgres {
namespace {

using engine::SourceColumn;
using engine::TypeId;
using engine::testing::DecimalText;
using engine::testing::Int128Text;
using TestChunk = engine::testing::MemoryChunk;
using Cell = std::optional<std::string>;
using Rows = std::vector<std::vector<Cell>>;

constexpr int32_t kDateInfinity = std::numeric_limits<int32_t>::max();
constexpr int64_t kTimestampInfinity = std::numeric_limits<int64_t>::max();

std::string Hex128(__int128 v) {
  auto u = static_cast<unsigned __int128>(v);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(u >> 64),
                static_cast<unsigned long long>(u));
  return buf;
}

// One value as text: integers (dates, times and timestamps as their raw day or microsecond
// counts) in decimal, DECIMAL as PostgreSQL prints it, UUID as 32 hex digits, bytes as they are.
Cell Render(const SourceColumn& col, const TestChunk& chunk, size_t c, size_t r) {
  if (chunk.IsNull(c, r)) return std::nullopt;
  switch (col.id) {
    case TypeId::kBoolean:
      return chunk.Get<uint8_t>(c, r) ? "true" : "false";
    case TypeId::kSmallint:
      return std::to_string(chunk.Get<int16_t>(c, r));
    case TypeId::kInteger:
    case TypeId::kDate:
      return std::to_string(chunk.Get<int32_t>(c, r));
    case TypeId::kUInteger:
      return std::to_string(chunk.Get<uint32_t>(c, r));
    case TypeId::kBigint:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      return std::to_string(chunk.Get<int64_t>(c, r));
    case TypeId::kFloat: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(chunk.Get<float>(c, r)));
      return buf;
    }
    case TypeId::kDouble: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", chunk.Get<double>(c, r));
      return buf;
    }
    case TypeId::kDecimal: {
      __int128 v = col.width <= 4    ? chunk.Get<int16_t>(c, r)
                   : col.width <= 9  ? chunk.Get<int32_t>(c, r)
                   : col.width <= 18 ? chunk.Get<int64_t>(c, r)
                                     : chunk.Get<__int128>(c, r);
      return DecimalText(v, col.scale);
    }
    case TypeId::kUuid:
      return Hex128(chunk.Get<__int128>(c, r));
    default:
      return chunk.Text(c, r);
  }
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class PgImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.host = Env("SLUICE_TEST_PG_HOST");
    o.port = Env("SLUICE_TEST_PG_PORT");
    o.user = Env("SLUICE_TEST_PG_USER");
    o.password = Env("SLUICE_TEST_PG_PASSWORD");
    o.database = Env("SLUICE_TEST_PG_DATABASE");
    o.name = "test";
    if (o.host.empty() || o.port.empty() || o.user.empty() || o.database.empty()) {
      GTEST_FAIL() << "set SLUICE_TEST_PG_HOST, SLUICE_TEST_PG_PORT, SLUICE_TEST_PG_USER, "
                      "SLUICE_TEST_PG_PASSWORD and SLUICE_TEST_PG_DATABASE to a PostgreSQL "
                      "server (python3 -m pytest tests/servers/test_postgres_reader.py does)";
    }
    options_ = o;
    conn_ = Connection::Open(o);
    conn_->Exec(
        "SET client_min_messages = warning; DROP SCHEMA IF EXISTS pgimp CASCADE; "
        "CREATE SCHEMA pgimp; SET search_path = pgimp, public");
  }

  ImportPlan Plan(const std::string& from, const std::vector<std::string>& columns = {}) {
    return PlanImport(*conn_, from, columns, Object(from));
  }
  static ImportOptions Object(const std::string& from) { return {"table " + from}; }

  // Reads every row of `SELECT plan.select_list FROM from <rest>`, `capacity` rows per chunk.
  Rows ReadAll(const ImportPlan& plan, const std::string& from, const std::string& rest = "",
               size_t capacity = 1024) {
    RowReader reader(*conn_, plan, Object(from));
    reader.Start("SELECT " + plan.select_list + " FROM " + from + " " + rest);
    return Drain(reader, capacity);
  }

  static Rows Drain(RowReader& reader, size_t capacity = 1024) {
    const auto& cols = reader.plan().columns;
    TestChunk chunk(cols.size(), capacity);
    Rows rows;
    for (;;) {
      chunk.Reset();
      size_t n = reader.Fill(chunk, 0);
      if (n == 0) break;
      for (size_t r = 0; r < n; r++) {
        std::vector<Cell> row;
        for (size_t c = 0; c < cols.size(); c++) row.push_back(Render(cols[c], chunk, c, r));
        rows.push_back(std::move(row));
      }
    }
    return rows;
  }

  // The server's own rows for a query, as text.
  Rows Server(const std::string& sql) {
    Rows rows;
    for (auto& r : conn_->Query(sql)) rows.push_back(std::vector<Cell>(r.begin(), r.end()));
    return rows;
  }

  std::vector<TypeId> Types(const ImportPlan& plan) {
    std::vector<TypeId> ids;
    for (const auto& c : plan.columns) ids.push_back(c.id);
    return ids;
  }

  Options options_;
  std::unique_ptr<Connection> conn_;
};

// Runs fn, expecting sluice::Error of `kind`; returns its message.
template <typename Fn>
std::string ErrorOf(ErrorKind kind, Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

TEST_F(PgImportTest, IntegersAndBooleansAtTheirLimits) {
  conn_->Exec(
      "CREATE TABLE ints (id int, b bool, s int2, i int4, l int8, o oid);"
      "INSERT INTO ints VALUES (1, true, -32768, -2147483648, -9223372036854775808, 0),"
      "(2, false, 32767, 2147483647, 9223372036854775807, 4294967295),"
      "(3, NULL, NULL, NULL, NULL, NULL), (4, true, 0, -1, -1, 1)");
  ImportPlan plan = Plan("ints", {"b", "s", "i", "l", "o"});
  EXPECT_EQ(Types(plan), (std::vector<TypeId>{TypeId::kBoolean, TypeId::kSmallint, TypeId::kInteger,
                                              TypeId::kBigint, TypeId::kUInteger}));
  EXPECT_EQ(plan.server_types,
            (std::vector<std::string>{"boolean", "smallint", "integer", "bigint", "oid"}));
  EXPECT_EQ(plan.select_list, R"("b", "s", "i", "l", "o")");
  Rows rows = ReadAll(plan, "ints", "ORDER BY id");
  Rows want = {{"true", "-32768", "-2147483648", "-9223372036854775808", "0"},
               {"false", "32767", "2147483647", "9223372036854775807", "4294967295"},
               {std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt},
               {"true", "0", "-1", "-1", "1"}};
  EXPECT_EQ(rows, want);
}

TEST_F(PgImportTest, FloatsKeepSpecialsExtremesAndNegativeZero) {
  conn_->Exec(
      "CREATE TABLE floats (id int, f float4, d float8);"
      "INSERT INTO floats VALUES (1, 'NaN', 'NaN'), (2, 'Infinity', 'Infinity'),"
      "(3, '-Infinity', '-Infinity'), (4, '3.4028235e38', '1.7976931348623157e308'),"
      "(5, '1.4e-45', '4.9406564584124654e-324'), (6, '-0', '-0'), (7, 0.1, 0.1), (8, NULL, NULL)");
  ImportPlan plan = Plan("floats", {"f", "d"});
  EXPECT_EQ(Types(plan), (std::vector<TypeId>{TypeId::kFloat, TypeId::kDouble}));
  RowReader reader(*conn_, plan, Object("floats"));
  reader.Start("SELECT " + plan.select_list + " FROM floats ORDER BY id");
  TestChunk chunk(2, 16);
  ASSERT_EQ(reader.Fill(chunk, 0), 8u);
  EXPECT_TRUE(std::isnan(chunk.Get<float>(0, 0)));
  EXPECT_TRUE(std::isnan(chunk.Get<double>(1, 0)));
  EXPECT_EQ(chunk.Get<float>(0, 1), std::numeric_limits<float>::infinity());
  EXPECT_EQ(chunk.Get<double>(1, 1), std::numeric_limits<double>::infinity());
  EXPECT_EQ(chunk.Get<float>(0, 2), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(chunk.Get<double>(1, 2), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(chunk.Get<float>(0, 3), std::numeric_limits<float>::max());
  EXPECT_EQ(chunk.Get<double>(1, 3), std::numeric_limits<double>::max());
  EXPECT_EQ(chunk.Get<float>(0, 4), std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(chunk.Get<double>(1, 4), std::numeric_limits<double>::denorm_min());
  EXPECT_TRUE(std::signbit(chunk.Get<float>(0, 5)) && chunk.Get<float>(0, 5) == 0);
  EXPECT_TRUE(std::signbit(chunk.Get<double>(1, 5)) && chunk.Get<double>(1, 5) == 0);
  EXPECT_EQ(chunk.Get<float>(0, 6), 0.1f);
  EXPECT_EQ(chunk.Get<double>(1, 6), 0.1);
  EXPECT_TRUE(chunk.IsNull(0, 7) && chunk.IsNull(1, 7));
  EXPECT_EQ(reader.Fill(chunk, 0), 0u);
}

TEST_F(PgImportTest, NumericWithTypmodIsExactDecimal) {
  conn_->Exec(
      "CREATE TABLE nums (id int, a numeric(38,0), b numeric(38,10), c numeric(4,2),"
      " d numeric(9,3), e numeric(18,6), f numeric(38,38), g numeric(38,30), h numeric(20,19),"
      " k numeric(12,2));"
      "INSERT INTO nums VALUES"
      "(1, 99999999999999999999999999999999999999, 9999999999999999999999999999.9999999999,"
      " 99.99, 999999.999, 999999999999.999999, 0.99999999999999999999999999999999999999,"
      " 12345678.123456789012345678901234567890, 9.9999999999999999999, 1234567890.12),"
      "(2, -99999999999999999999999999999999999999, -9999999999999999999999999999.9999999999,"
      " -99.99, -999999.999, -999999999999.999999, -0.99999999999999999999999999999999999999,"
      " -12345678.123456789012345678901234567890, -9.9999999999999999999, -0.01),"
      "(3, 0, 0.0000000001, 0.01, 0.001, 0.000001, 0.00000000000000000000000000000000000001,"
      " 0.000000000000000000000000000001, 0.0000000000000000001, 0),"
      "(4, 1, -1.5, 0, 12.5, -0.5, 0, 1, 1, 10000),"
      "(5, 10000000000000000, 100000000.0001, -0.1, -1000, 100000000, 0.1, 10000000, -0.1,"
      " 100000000.01),"
      "(6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
  ImportPlan plan = Plan("nums", {"a", "b", "c", "d", "e", "f", "g", "h", "k"});
  std::vector<std::pair<int, int>> want_types = {{38, 0},  {38, 10}, {4, 2},   {9, 3}, {18, 6},
                                                 {38, 38}, {38, 30}, {20, 19}, {12, 2}};
  ASSERT_EQ(plan.columns.size(), want_types.size());
  for (size_t i = 0; i < want_types.size(); i++) {
    EXPECT_EQ(plan.columns[i].id, TypeId::kDecimal);
    EXPECT_EQ(plan.columns[i].width, want_types[i].first) << plan.columns[i].name;
    EXPECT_EQ(plan.columns[i].scale, want_types[i].second) << plan.columns[i].name;
  }
  EXPECT_EQ(plan.server_types[0], "numeric(38,0)");
  EXPECT_EQ(plan.server_types[8], "numeric(12,2)");
  Rows rows = ReadAll(plan, "nums", "ORDER BY id");
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0][0], "99999999999999999999999999999999999999");
  EXPECT_EQ(rows[1][0], "-99999999999999999999999999999999999999");
  EXPECT_EQ(rows[1][5], "-0.99999999999999999999999999999999999999");
  EXPECT_EQ(rows[2][5], "0.00000000000000000000000000000000000001");
  EXPECT_EQ(rows[0][6], "12345678.123456789012345678901234567890");
  // Every value is what the server prints.
  EXPECT_EQ(rows, Server("SELECT a::text, b::text, c::text, d::text, e::text, f::text, g::text,"
                         " h::text, k::text FROM nums ORDER BY id"));
}

TEST_F(PgImportTest, NumericOutsideDecimalIsExactText) {
  std::string big =
      "1234567890123456789012345678901234567890123456789012345678901234567890"
      "123456789012345678901234567890.12345678901234567890123456789012345678901234"
      "5678901234567890";
  conn_->Exec(
      "CREATE TABLE wide (id int, u numeric, w numeric(40,2));"
      "INSERT INTO wide VALUES (1, " +
      big +
      ", 12345678901234567890123456789012345678.99),"
      "(2, 'NaN', -0.01), (3, 'Infinity', NULL), (4, '-Infinity', 0), (5, NULL, 1),"
      "(6, 0.000000000000000000000000000000000000000000000001, 2)");
  ImportPlan plan = Plan("wide", {"u", "w"});
  EXPECT_EQ(Types(plan), (std::vector<TypeId>{TypeId::kVarchar, TypeId::kVarchar}));
  EXPECT_EQ(plan.server_types, (std::vector<std::string>{"numeric", "numeric(40,2)"}));
  EXPECT_EQ(plan.select_list, R"("u"::text AS "u", "w"::text AS "w")");
  Rows rows = ReadAll(plan, "wide", "ORDER BY id");
  Rows want = {{big, "12345678901234567890123456789012345678.99"},
               {"NaN", "-0.01"},
               {"Infinity", std::nullopt},
               {"-Infinity", "0.00"},
               {std::nullopt, "1.00"},
               {"0.000000000000000000000000000000000000000000000001", "2.00"}};
  EXPECT_EQ(rows, want);
}

TEST_F(PgImportTest, NumericWithNegativeScaleOrScaleAbovePrecision) {
  if (conn_->ServerVersion() < 150000) GTEST_SKIP() << "numeric(p,-s) needs PostgreSQL 15";
  conn_->Exec(
      "CREATE TABLE odd (id int, n numeric(3,-2), m numeric(3,5));"
      "INSERT INTO odd VALUES (1, 99900, 0.00999), (2, -12345, -0.00001), (3, 0, 0)");
  ImportPlan plan = Plan("odd", {"n", "m"});
  ASSERT_EQ(plan.columns.size(), 2u);
  EXPECT_EQ(plan.columns[0].id, TypeId::kDecimal);
  EXPECT_EQ(plan.columns[0].width, 5);
  EXPECT_EQ(plan.columns[0].scale, 0);
  EXPECT_EQ(plan.columns[1].width, 5);
  EXPECT_EQ(plan.columns[1].scale, 5);
  Rows want = {{"99900", "0.00999"}, {"-12300", "-0.00001"}, {"0", "0.00000"}};
  EXPECT_EQ(ReadAll(plan, "odd", "ORDER BY id"), want);
}

TEST_F(PgImportTest, NumericNanFailsNamingObjectColumnValueAndFix) {
  conn_->Exec(
      "CREATE TABLE prices (id int, x numeric(10,2));"
      "INSERT INTO prices SELECT g, g FROM generate_series(1, 5000) g;"
      "INSERT INTO prices VALUES (5001, 'NaN')");
  ImportPlan plan = Plan("prices", {"x"});
  RowReader reader(*conn_, plan, Object("prices"));
  reader.Start("SELECT " + plan.select_list + " FROM prices ORDER BY id");
  std::string msg = ErrorOf(ErrorKind::kInvalidInput, [&] { Drain(reader, 1000); });
  EXPECT_NE(msg.find(R"(table prices column "x": value NaN has no DECIMAL(10,2) form)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(R"(CASE WHEN "x" IN ('NaN', 'Infinity', '-Infinity') THEN NULL)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(R"("x"::text)"), std::string::npos) << msg;
  // The connection is usable again, and so is the reader.
  EXPECT_EQ(conn_->Query("SELECT 1")[0][0], "1");
  reader.Start("SELECT " + plan.select_list + " FROM prices WHERE id <= 3 ORDER BY id");
  EXPECT_EQ(Drain(reader), (Rows{{"1.00"}, {"2.00"}, {"3.00"}}));
}

TEST_F(PgImportTest, TextTypesKeepEmptyVersusNullPaddingAndEmoji) {
  std::string tricky = "emoji 😀🚀 👨‍👩‍👧 Grüße 東京\nline\ttab \\ 'q' \"dq\"";
  conn_->Exec(
      "CREATE TABLE texts (id int, t text, v varchar(10), c char(5), n name, ch \"char\","
      " j json, jb jsonb);"
      "INSERT INTO texts VALUES (1, '', '', '', '', '', '\"\"', '\"\"'),"
      "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
      "(3, " +
      SqlLiteral(tricky) +
      ", 'ab😀', 'ab', 'nm', 'x',"
      " '{\"b\": [1, 2.50], \"a\": \"😀\"}', '{\"b\": [1, 2.50], \"a\": \"😀\"}')");
  ImportPlan plan = Plan("texts", {"t", "v", "c", "n", "ch", "j", "jb"});
  for (const auto& c : plan.columns) EXPECT_EQ(c.id, TypeId::kVarchar) << c.name;
  EXPECT_EQ(plan.server_types,
            (std::vector<std::string>{"text", "character varying(10)", "character(5)", "name",
                                      "\"char\"", "json", "jsonb"}));
  EXPECT_EQ(plan.select_list, R"("t", "v", "c", "n", "ch"::text AS "ch", "j", "jb"::text AS "jb")");
  Rows rows = ReadAll(plan, "texts", "ORDER BY id");
  Rows want = {{"", "", "     ", "", "", "\"\"", "\"\""},
               {std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                std::nullopt},
               {tricky, "ab😀", "ab   ", "nm", "x", R"({"b": [1, 2.50], "a": "😀"})",
                R"({"a": "😀", "b": [1, 2.50]})"}};
  EXPECT_EQ(rows, want);
}

TEST_F(PgImportTest, ByteaIsExactBytesAndUuidIsBigEndian) {
  conn_->Exec(
      "CREATE TABLE bin (id int, b bytea, u uuid);"
      "INSERT INTO bin VALUES (1, '\\x00ff0000', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),"
      "(2, '', '00000000-0000-0000-0000-000000000000'),"
      "(3, NULL, 'ffffffff-ffff-ffff-ffff-ffffffffffff'), (4, '\\x', NULL)");
  ImportPlan plan = Plan("bin", {"b", "u"});
  EXPECT_EQ(Types(plan), (std::vector<TypeId>{TypeId::kBlob, TypeId::kUuid}));
  Rows rows = ReadAll(plan, "bin", "ORDER BY id");
  Rows want = {{std::string("\0\xff\0\0", 4), "a0eebc999c0b4ef8bb6d6bb9bd380a11"},
               {"", "00000000000000000000000000000000"},
               {std::nullopt, "ffffffffffffffffffffffffffffffff"},
               {"", std::nullopt}};
  EXPECT_EQ(rows, want);
}

TEST_F(PgImportTest, DatesAndTimestampsAtTheEdgesAndInfinity) {
  conn_->Exec(
      "CREATE TABLE times (id int, d date, ts timestamp, tz timestamptz, t time);"
      "INSERT INTO times VALUES"
      "(1, '4714-11-24 BC', '4714-11-24 00:00:00 BC', '4714-11-24 00:00:00+00 BC', '00:00:00'),"
      "(2, '5874897-12-31', '294247-01-10 04:00:54.775806', '294247-01-10 04:00:54.775806+00',"
      " '23:59:59.999999'),"
      "(3, '2000-01-01', '1970-01-01 00:00:00.000001', '2024-06-01 12:00:00.123456+02',"
      " '24:00:00'),"
      "(4, '1970-01-01', '1969-12-31 23:59:59.999999', '1969-12-31 23:59:59.999999-01',"
      " '12:34:56.789012'),"
      "(5, '1969-12-31', '2024-02-29 12:34:56.789012', '2000-01-01 00:00:00+14', NULL),"
      "(6, 'infinity', 'infinity', 'infinity', NULL),"
      "(7, '-infinity', '-infinity', '-infinity', NULL), (8, NULL, NULL, NULL, NULL)");
  ImportPlan plan = Plan("times", {"d", "ts", "tz", "t"});
  EXPECT_EQ(Types(plan), (std::vector<TypeId>{TypeId::kDate, TypeId::kTimestamp,
                                              TypeId::kTimestampTz, TypeId::kTime}));
  EXPECT_EQ(plan.server_types,
            (std::vector<std::string>{"date", "timestamp without time zone",
                                      "timestamp with time zone", "time without time zone"}));
  Rows rows = ReadAll(plan, "times", "ORDER BY id");
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(rows[2], (Rows::value_type{"10957", "1", "1717236000123456", "86400000000"}));
  EXPECT_EQ(rows[1][1], std::to_string(kTimestampInfinity - 1));  // DuckDB's last timestamp
  EXPECT_EQ(rows[5],
            (Rows::value_type{std::to_string(kDateInfinity), std::to_string(kTimestampInfinity),
                              std::to_string(kTimestampInfinity), std::nullopt}));
  EXPECT_EQ(rows[6],
            (Rows::value_type{std::to_string(-kDateInfinity), std::to_string(-kTimestampInfinity),
                              std::to_string(-kTimestampInfinity), std::nullopt}));
  // Finite values as the server counts them: days and microseconds since 1970-01-01 UTC.
  Rows server = Server(
      "SELECT (d - '1970-01-01'::date)::text, (extract(epoch FROM ts) * 1000000)::int8::text,"
      " (extract(epoch FROM tz) * 1000000)::int8::text,"
      " (extract(epoch FROM t) * 1000000)::int8::text FROM times WHERE id <= 5 ORDER BY id");
  EXPECT_EQ(Rows(rows.begin(), rows.begin() + 5), server);
  EXPECT_EQ(rows[7], (Rows::value_type{std::nullopt, std::nullopt, std::nullopt, std::nullopt}));
}

TEST_F(PgImportTest, TimestampAfterTheLakesLastFailsWithValue) {
  conn_->Exec(
      "CREATE TABLE late (ts timestamp);"
      "INSERT INTO late VALUES ('2020-01-01'), ('294276-12-31 23:59:59.999999')");
  ImportPlan plan = Plan("late");
  std::string msg = ErrorOf(ErrorKind::kInvalidInput, [&] { ReadAll(plan, "late"); });
  EXPECT_NE(msg.find(R"(table late column "ts": value 294276-12-31 23:59:59.999999 is after)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(R"("ts"::text)"), std::string::npos) << msg;
}

TEST_F(PgImportTest, OtherTypesAreReadAsTheirText) {
  conn_->Exec(
      "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy 😀');"
      "CREATE TYPE pair AS (a int, b text);"
      "CREATE DOMAIN price AS numeric(5,2) CHECK (VALUE >= 0);"
      "CREATE DOMAIN posint AS int CHECK (VALUE > 0);"
      "CREATE TABLE other (id int, tz timetz, iv interval, m money, ip inet, cd cidr,"
      " mac macaddr, mac8 macaddr8, x xml, bt bit(3), vb varbit, tv tsvector, tq tsquery,"
      " pt point, bx box, r int4range, tr tstzrange, arr int4[], tarr text[], en mood, comp pair,"
      " dom price, domarr posint[], ch \"char\", ts2 timestamptz[]);"
      "INSERT INTO other VALUES (1, '12:34:56.789+05:30', '1 year 2 months 3 days 04:05:06.789',"
      " '-92233720368547758.08', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',"
      " '08:00:2b:01:02:03:04:05', '<a>😀</a>', B'101', B'1', 'a fat cat', 'fat & rat',"
      " '(1.5,2)', '((0,0),(1,1))', '[1,10)', '[2024-01-01 00:00+02,infinity)',"
      " '{1,NULL,3}', ARRAY['a b', NULL, '😀', ''], 'happy 😀', ROW(1, 'x,y'), 12.5,"
      " '{1,2}', 'z', ARRAY['2024-01-01 00:00:00+02'::timestamptz]),"
      "(2, NULL, NULL, 92233720368547758.07, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
      " NULL, NULL, NULL, 'empty', NULL, '{}', '{}', 'sad', ROW(NULL, ''), 0, NULL, NULL, NULL)");
  std::vector<std::string> names = {"tz",  "iv",   "m",  "ip",   "cd",  "mac",    "mac8", "x",
                                    "bt",  "vb",   "tv", "tq",   "pt",  "bx",     "r",    "tr",
                                    "arr", "tarr", "en", "comp", "dom", "domarr", "ch",   "ts2"};
  ImportPlan plan = Plan("other", names);
  ASSERT_EQ(plan.columns.size(), names.size());
  for (size_t i = 0; i < names.size(); i++) {
    if (names[i] == "dom") {
      // A domain arrives as its base type.
      EXPECT_EQ(plan.columns[i].id, TypeId::kDecimal);
      EXPECT_EQ(plan.columns[i].width, 5);
      EXPECT_EQ(plan.columns[i].scale, 2);
    } else {
      EXPECT_EQ(plan.columns[i].id, TypeId::kVarchar) << names[i];
    }
  }
  EXPECT_EQ(plan.server_types[0], "time with time zone");
  EXPECT_EQ(plan.server_types[19], "pair");
  EXPECT_NE(plan.select_list.find(R"("m"::numeric::text AS "m")"), std::string::npos);
  EXPECT_NE(plan.select_list.find(R"("iv"::text AS "iv")"), std::string::npos);
  EXPECT_NE(plan.select_list.find(R"(, "dom", )"), std::string::npos);
  Rows rows = ReadAll(plan, "other", "ORDER BY id");
  ASSERT_EQ(rows.size(), 2u);
  auto at = [&](size_t row, const std::string& name) {
    for (size_t i = 0; i < names.size(); i++) {
      if (names[i] == name) return rows[row][i];
    }
    return Cell("no such column");
  };
  EXPECT_EQ(at(0, "tz"), "12:34:56.789+05:30");
  EXPECT_EQ(at(0, "iv"), "1 year 2 mons 3 days 04:05:06.789");
  EXPECT_EQ(at(0, "m"), "-92233720368547758.08");
  EXPECT_EQ(at(1, "m"), "92233720368547758.07");
  EXPECT_EQ(at(0, "tarr"), R"({"a b",NULL,😀,""})");
  EXPECT_EQ(at(0, "en"), "happy 😀");
  EXPECT_EQ(at(0, "comp"), R"((1,"x,y"))");
  EXPECT_EQ(at(1, "comp"), R"((,""))");
  EXPECT_EQ(at(0, "dom"), "12.50");
  EXPECT_EQ(at(0, "tr"), R"(["2023-12-31 22:00:00+00",infinity))");
  EXPECT_EQ(at(0, "ts2"), R"({"2023-12-31 22:00:00+00"})");
  EXPECT_EQ(at(1, "arr"), "{}");
  EXPECT_EQ(at(1, "r"), "empty");
  EXPECT_EQ(at(1, "ip"), std::nullopt);
  // Everything else is the server's own text.
  std::vector<std::string> exprs;
  for (const auto& n : names) {
    exprs.push_back(n == "m" ? "m::numeric::text" : n == "dom" ? "dom::text" : n + "::text");
  }
  EXPECT_EQ(rows, Server("SELECT " + Join(exprs, ", ") + " FROM other ORDER BY id"));
}

TEST_F(PgImportTest, MultirangeIsText) {
  if (conn_->ServerVersion() < 140000) GTEST_SKIP() << "multiranges need PostgreSQL 14";
  conn_->Exec("CREATE TABLE mr (m int4multirange); INSERT INTO mr VALUES ('{[1,3), [5,7)}')");
  ImportPlan plan = Plan("mr");
  EXPECT_EQ(plan.columns[0].id, TypeId::kVarchar);
  EXPECT_EQ(ReadAll(plan, "mr"), (Rows{{"{[1,3),[5,7)}"}}));
}

TEST_F(PgImportTest, ExtensionTypeFailsNamingObjectColumnTypeAndFix) {
  conn_->Exec(
      "CREATE EXTENSION citext SCHEMA pgimp;"
      "CREATE TABLE places (id int, loc citext, locs citext[])");
  std::string msg = ErrorOf(ErrorKind::kInvalidInput, [&] {
    PlanImport(*conn_, R"("pgimp"."places")", {}, {R"(table "pgimp"."places")"});
  });
  EXPECT_EQ(msg, R"(table "pgimp"."places" column "loc": type citext has no lake type; )"
                 R"(import it through a query: with "loc"::text (or a cast you choose))");
  // Arrays of it have a text form built in; leaving the column out works too.
  ImportPlan plan = Plan("places", {"id", "locs"});
  EXPECT_EQ(Types(plan), (std::vector<TypeId>{TypeId::kInteger, TypeId::kVarchar}));
  // And the fix the message gives works.
  ImportPlan fixed = Plan("(SELECT id, loc::text AS loc FROM places) q");
  EXPECT_EQ(Types(fixed), (std::vector<TypeId>{TypeId::kInteger, TypeId::kVarchar}));
}

TEST_F(PgImportTest, UnknownColumnFailsWithTheNamesThatExist) {
  conn_->Exec("CREATE TABLE people (id int, name text, \"Email\" text)");
  std::string msg = ErrorOf(ErrorKind::kNotFound, [&] { Plan("people", {"id", "nmae"}); });
  EXPECT_EQ(msg, R"(table people has no column "nmae" (did you mean "name"?); )"
                 R"(its columns are "id", "name", "Email")");
  msg = ErrorOf(ErrorKind::kNotFound, [&] { Plan("people", {"zzzzzz"}); });
  EXPECT_EQ(msg.find("did you mean"), std::string::npos) << msg;
}

TEST_F(PgImportTest, ColumnsArePickedInOrderExactThenIgnoringCase) {
  conn_->Exec(
      "CREATE TABLE mixed (id int, \"Name\" text, name text, \"Email\" text);"
      "INSERT INTO mixed VALUES (1, 'upper', 'lower', 'e')");
  ImportPlan plan = Plan("mixed", {"email", "name", "Name", "ID"});
  std::vector<std::string> got;
  for (const auto& c : plan.columns) got.push_back(c.name);
  EXPECT_EQ(got, (std::vector<std::string>{"Email", "name", "Name", "id"}));
  EXPECT_EQ(plan.select_list, R"("Email", "name", "Name", "id")");
  EXPECT_EQ(ReadAll(plan, "mixed"), (Rows{{"e", "lower", "upper", "1"}}));
  std::string msg = ErrorOf(ErrorKind::kInvalidInput, [&] { Plan("mixed", {"NAME"}); });
  EXPECT_NE(msg.find("exact case"), std::string::npos) << msg;
  msg = ErrorOf(ErrorKind::kInvalidInput, [&] { Plan("mixed", {"id", "ID"}); });
  EXPECT_NE(msg.find("listed twice"), std::string::npos) << msg;
}

TEST_F(PgImportTest, QueryWithDuplicateColumnNamesFails) {
  std::string msg =
      ErrorOf(ErrorKind::kInvalidInput, [&] { Plan("(SELECT 1 AS a, 2 AS a, 3 AS b) q"); });
  EXPECT_NE(msg.find(R"(2 columns named "a"; give them distinct names)"), std::string::npos) << msg;
  // Picking only the distinct one is fine.
  ImportPlan plan = Plan("(SELECT 1 AS a, 2 AS a, 3 AS b) q", {"b"});
  EXPECT_EQ(ReadAll(plan, "(SELECT 1 AS a, 2 AS a, 3 AS b) q"), (Rows{{"3"}}));
}

TEST_F(PgImportTest, ChunksFillFromTheirOffsetAcrossManyRows) {
  ImportPlan plan = Plan("(SELECT 1::int8 AS n, 'x'::text AS s) q");
  RowReader reader(*conn_, plan, Object("series"));
  reader.Start(
      "SELECT g::int8, CASE WHEN g % 3 = 0 THEN NULL ELSE 'row ' || g END "
      "FROM generate_series(1, 10007) g ORDER BY g");
  TestChunk chunk(2, 1000);
  int64_t next = 1;
  size_t offsets[] = {0, 500, 999, 3};
  for (int round = 0;; round++) {
    chunk.Reset();
    size_t offset = offsets[round % 4];
    size_t n = reader.Fill(chunk, offset);
    if (n == 0) break;
    ASSERT_LE(offset + n, 1000u);
    for (size_t r = offset; r < offset + n; r++, next++) {
      ASSERT_EQ(chunk.Get<int64_t>(0, r), next);
      if (next % 3 == 0) {
        ASSERT_TRUE(chunk.IsNull(1, r));
      } else {
        ASSERT_FALSE(chunk.IsNull(1, r));
        ASSERT_EQ(chunk.Text(1, r), "row " + std::to_string(next));
      }
    }
    // Rows before the offset are left alone.
    for (size_t r = 0; r < offset; r++) ASSERT_FALSE(chunk.IsNull(1, r));
  }
  EXPECT_EQ(next, 10008);
  EXPECT_EQ(reader.rows(), 10007u);
  EXPECT_GT(reader.bytes(), 10007u * 8);
  EXPECT_EQ(reader.Fill(chunk, 0), 0u);
}

TEST_F(PgImportTest, StartAgainAfterAResultEnds) {
  ImportPlan plan = Plan("(SELECT 1::int4 AS n) q");
  RowReader reader(*conn_, plan, Object("q"));
  reader.Start("SELECT g FROM generate_series(1, 3) g");
  EXPECT_EQ(Drain(reader), (Rows{{"1"}, {"2"}, {"3"}}));
  reader.Start("SELECT g FROM generate_series(1, 0) g");  // no rows
  EXPECT_EQ(Drain(reader), Rows{});
  reader.Start("SELECT 42;");
  EXPECT_EQ(Drain(reader), (Rows{{"42"}}));
  EXPECT_EQ(reader.rows(), 4u);
  // A query that fails reports the server's error for the object, and the reader recovers.
  std::string msg = ErrorOf(ErrorKind::kInvalidInput, [&] {
    reader.Start("SELECT 1 / 0");
    Drain(reader);
  });
  EXPECT_NE(msg.find("table q: connection 'test'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("division by zero"), std::string::npos) << msg;
  msg = ErrorOf(ErrorKind::kInvalidInput, [&] {
    reader.Start("SELECT 1 / (g - 5) FROM generate_series(1, 10) g");
    Drain(reader, 2);
  });
  EXPECT_NE(msg.find("division by zero"), std::string::npos) << msg;
  reader.Start("SELECT 7");
  EXPECT_EQ(Drain(reader), (Rows{{"7"}}));
}

TEST_F(PgImportTest, ReaderDroppedMidwayLeavesTheConnectionUsable) {
  ImportPlan plan = Plan("(SELECT 1::int8 AS n) q");
  {
    RowReader reader(*conn_, plan, Object("q"));
    reader.Start("SELECT g::int8 FROM generate_series(1, 5000000) g");
    TestChunk chunk(1, 10);
    ASSERT_EQ(reader.Fill(chunk, 0), 10u);
  }
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(conn_->Query("SELECT 'still here'")[0][0], "still here");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST_F(PgImportTest, CancelFromAnotherThreadStopsAReadQuickly) {
  ImportPlan plan = Plan("(SELECT 1::int4 AS n) q");
  RowReader reader(*conn_, plan, Object("q"));
  TestChunk chunk(1, 10);
  // The server sends nothing, not even the COPY's start, before the first row: the cancel
  // lands in Start or in Fill.
  auto t0 = std::chrono::steady_clock::now();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    conn_->Cancel();
  });
  std::string msg = ErrorOf(ErrorKind::kCancelled, [&] {
    reader.Start("SELECT 1 FROM pg_sleep(30)");
    reader.Fill(chunk, 0);
  });
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_NE(msg.find("table q: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("canceling statement"), std::string::npos) << msg;
  EXPECT_EQ(conn_->Query("SELECT 1")[0][0], "1");
  reader.Start("SELECT 5");
  EXPECT_EQ(Drain(reader), (Rows{{"5"}}));

  // And in the middle of a result: rows came (more than the server buffers), then it sleeps.
  reader.Start("SELECT g FROM generate_series(1, 20000) g UNION ALL SELECT 0 FROM pg_sleep(30)");
  uint64_t before = reader.rows();
  t0 = std::chrono::steady_clock::now();
  std::thread canceller2([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    conn_->Cancel();
  });
  msg = ErrorOf(ErrorKind::kCancelled, [&] { Drain(reader, 1); });
  canceller2.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_EQ(reader.rows() - before, 20000u);  // the cancel came while Fill waited
  EXPECT_EQ(conn_->Query("SELECT 2")[0][0], "2");
}

TEST_F(PgImportTest, LostConnectionIsARetryableConnectionError) {
  std::string pid = *conn_->Query("SELECT pg_backend_pid()")[0][0];
  ImportPlan plan = Plan("(SELECT 1::int4 AS n) q");
  RowReader reader(*conn_, plan, Object("q"));
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto other = Connection::Open(options_);
    other->Query("SELECT pg_terminate_backend($1::int)", {pid});
  });
  TestChunk chunk(1, 10);
  auto t0 = std::chrono::steady_clock::now();
  try {
    reader.Start("SELECT g FROM generate_series(1, 20000) g UNION ALL SELECT 0 FROM pg_sleep(30)");
    Drain(reader, 1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(ErrorKind::kConnection)) << e.what();
    EXPECT_TRUE(e.retryable()) << e.what();
    EXPECT_NE(std::string(e.what()).find("table q: "), std::string::npos) << e.what();
  }
  killer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

}  // namespace
}  // namespace sluice::connectors::postgres
