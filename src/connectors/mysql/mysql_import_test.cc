// PlanImport and RowReader against a real MariaDB/MySQL server: every type at its limits,
// zero dates, values the lake cannot hold, results larger than a chunk, cancel and lost
// connections. tests/servers/test_mysql_reader.py starts a server and runs this binary with
// SLUICE_TEST_MYSQL_{HOST,PORT,USER,PASSWORD,DATABASE}; without them every test fails.
#include "connectors/mysql/mysql_import.h"

#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/cancel.h"
#include "common/error.h"
#include "engine/test_chunk.h"

namespace sluice::connectors::mysql {
namespace {

using engine::SourceColumn;
using engine::TypeId;
using engine::testing::DecimalText;
using engine::testing::Int128Text;
using TestChunk = engine::testing::MemoryChunk;
using Cell = std::optional<std::string>;
using Rows = std::vector<std::vector<Cell>>;

constexpr const char* kEnv[] = {"SLUICE_TEST_MYSQL_HOST", "SLUICE_TEST_MYSQL_PORT",
                                "SLUICE_TEST_MYSQL_USER", "SLUICE_TEST_MYSQL_PASSWORD",
                                "SLUICE_TEST_MYSQL_DATABASE"};

// The server under test, from the environment; the names of the missing variables otherwise.
std::optional<Options> ServerOptions(std::string* missing) {
  for (const char* name : kEnv) {
    if (std::getenv(name) == nullptr) *missing += std::string(*missing == "" ? "" : ", ") + name;
  }
  if (!missing->empty()) return std::nullopt;
  Options o;
  o.host = std::getenv("SLUICE_TEST_MYSQL_HOST");
  o.port = static_cast<unsigned>(std::stoul(std::getenv("SLUICE_TEST_MYSQL_PORT")));
  o.user = std::getenv("SLUICE_TEST_MYSQL_USER");
  o.password = std::getenv("SLUICE_TEST_MYSQL_PASSWORD");
  o.database = std::getenv("SLUICE_TEST_MYSQL_DATABASE");
  o.name = "test";
  return o;
}

template <typename T>
std::string Shortest(T v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string Two(int64_t v) { return (v < 10 ? "0" : "") + std::to_string(v); }

// Days since 1970-01-01 as YYYY-MM-DD (H. Hinnant's civil_from_days), written independently of
// the reader's parser.
std::string DateText(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  std::string year = std::to_string(y);
  return std::string(4 - year.size(), '0') + year + "-" + Two(m) + "-" + Two(d);
}

std::string TimeText(int64_t micros) {
  std::string frac = std::to_string(micros % 1000000);
  return Two(micros / 3600000000) + ":" + Two(micros / 60000000 % 60) + ":" +
         Two(micros / 1000000 % 60) + "." + std::string(6 - frac.size(), '0') + frac;
}

std::string TimestampText(int64_t micros) {
  int64_t days = micros / 86400000000;
  int64_t rest = micros % 86400000000;
  if (rest < 0) {
    rest += 86400000000;
    days--;
  }
  return DateText(days) + " " + TimeText(rest);
}

// One value of the chunk as text, in a form that shows every bit of it.
Cell Render(const TestChunk& chunk, const SourceColumn& col, size_t c, size_t r) {
  if (chunk.IsNull(c, r)) return std::nullopt;
  switch (col.id) {
    case TypeId::kBoolean:
      return chunk.Get<uint8_t>(c, r) ? "true" : "false";
    case TypeId::kTinyint:
      return std::to_string(chunk.Get<int8_t>(c, r));
    case TypeId::kSmallint:
      return std::to_string(chunk.Get<int16_t>(c, r));
    case TypeId::kInteger:
      return std::to_string(chunk.Get<int32_t>(c, r));
    case TypeId::kBigint:
      return std::to_string(chunk.Get<int64_t>(c, r));
    case TypeId::kUTinyint:
      return std::to_string(chunk.Get<uint8_t>(c, r));
    case TypeId::kUSmallint:
      return std::to_string(chunk.Get<uint16_t>(c, r));
    case TypeId::kUInteger:
      return std::to_string(chunk.Get<uint32_t>(c, r));
    case TypeId::kUBigint:
      return std::to_string(chunk.Get<uint64_t>(c, r));
    case TypeId::kDecimal: {
      __int128 v = col.width <= 4    ? chunk.Get<int16_t>(c, r)
                   : col.width <= 9  ? chunk.Get<int32_t>(c, r)
                   : col.width <= 18 ? chunk.Get<int64_t>(c, r)
                                     : chunk.Get<__int128>(c, r);
      return DecimalText(v, col.scale);
    }
    case TypeId::kFloat:
      return Shortest(chunk.Get<float>(c, r));
    case TypeId::kDouble:
      return Shortest(chunk.Get<double>(c, r));
    case TypeId::kDate:
      return DateText(chunk.Get<int32_t>(c, r));
    case TypeId::kTime:
      return TimeText(chunk.Get<int64_t>(c, r));
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      return TimestampText(chunk.Get<int64_t>(c, r));
    case TypeId::kVarchar:
    case TypeId::kBlob:
      return chunk.Text(c, r);
    default:
      ADD_FAILURE() << "no rendering for type " << static_cast<int>(col.id);
      return "?";
  }
}

// Reads every row of the reader's current result, `capacity` rows a chunk.
Rows ReadRest(RowReader& reader, size_t capacity = 7) {
  const auto& cols = reader.plan().columns;
  TestChunk chunk(cols.size(), capacity);
  Rows rows;
  for (;;) {
    chunk.Reset();
    size_t n = reader.Fill(chunk, 0);
    if (n == 0) break;
    for (size_t r = 0; r < n; r++) {
      std::vector<Cell> row;
      for (size_t c = 0; c < cols.size(); c++) row.push_back(Render(chunk, cols[c], c, r));
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

std::vector<TypeId> Ids(const ImportPlan& plan) {
  std::vector<TypeId> ids;
  for (const auto& c : plan.columns) ids.push_back(c.id);
  return ids;
}

// The message of the Error that fn throws, after checking its kind.
template <typename Fn>
std::string ErrorOf(Fn fn, ErrorKind kind) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(ErrorKindName(e.kind()), std::string(ErrorKindName(kind))) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

class MySqlImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string missing;
    auto o = ServerOptions(&missing);
    ASSERT_TRUE(o.has_value())
        << "these tests need a MariaDB/MySQL server: set " << missing
        << " (python3 -m pytest tests/servers/test_mysql_reader.py starts one and sets them)";
    options_ = *o;
    conn_ = Connection::Open(options_);
  }

  void Exec(const std::string& sql) { conn_->Exec(sql); }

  ImportOptions For(const std::string& table, bool zero_dates_null = false) {
    ImportOptions o;
    o.object = "table " + Ident(options_.database) + "." + Ident(table);
    o.zero_dates_null = zero_dates_null;
    // tests/servers runs the suite once per protocol.
    o.text_protocol = std::getenv("SLUICE_TEST_MYSQL_TEXT_PROTOCOL") != nullptr;
    return o;
  }

  // Plans `table` and reads all of it, ordered by its first column.
  Rows ReadTable(const std::string& table, ImportPlan* plan_out = nullptr,
                 const std::vector<std::string>& columns = {}, bool zero_dates_null = false,
                 size_t capacity = 7) {
    ImportOptions o = For(table, zero_dates_null);
    ImportPlan plan = PlanImport(*conn_, Ident(table), columns, o);
    if (plan_out != nullptr) *plan_out = plan;
    RowReader reader(*conn_, plan, o);
    reader.Start("SELECT " + plan.select_list + " FROM " + Ident(table) + " ORDER BY 1");
    return ReadRest(reader, capacity);
  }

  // A table `name` (id INT PRIMARY KEY) with ids 1..n.
  void MakeNumbers(const std::string& name, int n) {
    Exec("DROP TABLE IF EXISTS " + name);
    Exec("CREATE TABLE " + name + " (id INT PRIMARY KEY)");
    Exec("INSERT INTO " + name +
         " WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < 9) "
         "SELECT a.i + 10 * b.i + 100 * c.i + 1000 * e.i + 10000 * f.i + 1 AS id "
         "FROM d a, d b, d c, d e, d f HAVING id <= " +
         std::to_string(n));
  }

  Options options_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(MySqlImportTest, SessionIsUtf8mb4AndUtc) {
  auto rows = conn_->Query(
      "SELECT @@session.time_zone, @@character_set_client, @@character_set_connection, "
      "@@character_set_results");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "+00:00");
  EXPECT_EQ(rows[0][1], "utf8mb4");
  EXPECT_EQ(rows[0][2], "utf8mb4");
  EXPECT_EQ(rows[0][3], "utf8mb4");
}

TEST_F(MySqlImportTest, IntegersAtTheirLimits) {
  Exec("DROP TABLE IF EXISTS imp_ints");
  Exec(
      "CREATE TABLE imp_ints (id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, b1 BOOL, "
      "si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, "
      "iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, y YEAR, z INT(6) ZEROFILL)");
  Exec(
      "INSERT INTO imp_ints VALUES "
      "(1, -128, 0, -128, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, "
      "1901, 0),"
      "(2, 127, 255, 127, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, "
      "9223372036854775807, 18446744073709551615, 2155, 42),"
      "(3, NULL, NULL, 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
  ImportPlan plan;
  Rows rows = ReadTable("imp_ints", &plan);
  EXPECT_EQ(Ids(plan), (std::vector<TypeId>{TypeId::kInteger, TypeId::kTinyint, TypeId::kUTinyint,
                                            TypeId::kTinyint, TypeId::kSmallint, TypeId::kUSmallint,
                                            TypeId::kInteger, TypeId::kUInteger, TypeId::kInteger,
                                            TypeId::kUInteger, TypeId::kBigint, TypeId::kUBigint,
                                            TypeId::kSmallint, TypeId::kUInteger}));
  EXPECT_EQ(plan.server_types[3], "tinyint(1)");
  EXPECT_EQ(plan.server_types[7], "mediumint unsigned");
  EXPECT_EQ(plan.server_types[11], "bigint unsigned");
  EXPECT_EQ(plan.server_types[12], "year");
  EXPECT_EQ(plan.select_list,
            "`id`, `ti`, `tu`, `b1`, `si`, `su`, `mi`, `mu`, `i`, `iu`, `bi`, `bu`, `y`, `z`");
  Rows want = {
      {"1", "-128", "0", "-128", "-32768", "0", "-8388608", "0", "-2147483648", "0",
       "-9223372036854775808", "0", "1901", "0"},
      {"2", "127", "255", "127", "32767", "65535", "8388607", "16777215", "2147483647",
       "4294967295", "9223372036854775807", "18446744073709551615", "2155", "42"},
      {"3", std::nullopt, std::nullopt, "2", std::nullopt, std::nullopt, std::nullopt, std::nullopt,
       std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt},
  };
  EXPECT_EQ(rows, want);
}

TEST_F(MySqlImportTest, DecimalsKeepEveryDigit) {
  Exec("DROP TABLE IF EXISTS imp_decimals");
  Exec(
      "CREATE TABLE imp_decimals (id INT PRIMARY KEY, d38 DECIMAL(38,10), "
      "d10u DECIMAL(10,0) UNSIGNED, d55 DECIMAL(5,5), d4 DECIMAL(4,2), d9 DECIMAL(9,3), "
      "d18 DECIMAL(18,6), d19 DECIMAL(19,0), d65 DECIMAL(65,30), dz DECIMAL(6,2) ZEROFILL)");
  const std::string nines38 = "9999999999999999999999999999.9999999999";
  const std::string nines65 = std::string(35, '9') + "." + std::string(30, '9');
  Exec("INSERT INTO imp_decimals VALUES (1, " + nines38 +
       ", 9999999999, 0.99999, 99.99, 999999.999, 999999999999.999999, "
       "9999999999999999999, " +
       nines65 + ", 1234.5)");
  Exec("INSERT INTO imp_decimals VALUES (2, -" + nines38 +
       ", 0, -0.99999, -99.99, -999999.999, -999999999999.999999, -9999999999999999999, -" +
       nines65 + ", 0)");
  Exec(
      "INSERT INTO imp_decimals VALUES (3, 0.0000000001, 1, 0.00001, 0.01, -0.001, 0.000001, "
      "1, 0.000000000000000000000000000001, 7)");
  Exec("INSERT INTO imp_decimals (id) VALUES (4)");
  ImportPlan plan;
  Rows rows = ReadTable("imp_decimals", &plan);
  EXPECT_EQ(Ids(plan), (std::vector<TypeId>{TypeId::kInteger, TypeId::kDecimal, TypeId::kDecimal,
                                            TypeId::kDecimal, TypeId::kDecimal, TypeId::kDecimal,
                                            TypeId::kDecimal, TypeId::kDecimal, TypeId::kVarchar,
                                            TypeId::kDecimal}));
  std::vector<std::pair<int, int>> widths;
  for (const auto& c : plan.columns) widths.emplace_back(c.width, c.scale);
  EXPECT_EQ(
      widths,
      (std::vector<std::pair<int, int>>{
          {0, 0}, {38, 10}, {10, 0}, {5, 5}, {4, 2}, {9, 3}, {18, 6}, {19, 0}, {0, 0}, {6, 2}}));
  EXPECT_EQ(plan.server_types[1], "decimal(38,10)");
  EXPECT_EQ(plan.server_types[2], "decimal(10,0) unsigned");
  EXPECT_EQ(plan.server_types[3], "decimal(5,5)");
  EXPECT_EQ(plan.server_types[8], "decimal(65,30)");
  Rows want = {
      {"1", nines38, "9999999999", "0.99999", "99.99", "999999.999", "999999999999.999999",
       "9999999999999999999", nines65, "1234.50"},
      {"2", "-" + nines38, "0", "-0.99999", "-99.99", "-999999.999", "-999999999999.999999",
       "-9999999999999999999", "-" + nines65, "0.00"},
      {"3", "0.0000000001", "1", "0.00001", "0.01", "-0.001", "0.000001", "1",
       "0.000000000000000000000000000001", "7.00"},
      {"4", std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
       std::nullopt, std::nullopt, std::nullopt},
  };
  EXPECT_EQ(rows, want);
  // The ZEROFILL column arrives as "1234.50"/"0000.00": leading zeros are only padding.
}

TEST_F(MySqlImportTest, FloatsAndDoublesAreExact) {
  Exec("DROP TABLE IF EXISTS imp_floats");
  Exec(
      "CREATE TABLE imp_floats (id INT PRIMARY KEY, f FLOAT, d DOUBLE, f2 FLOAT(7,4), "
      "d2 DOUBLE(20,2))");
  Exec(
      "INSERT INTO imp_floats VALUES "
      "(1, 1.2345678, 0.1e0 + 0.2e0, 1.2346, 123456789012345678.12),"
      "(2, 3.4028234663852886e38, 1.7976931348623157e308, -999.9999, 1.1),"
      "(3, 1.401298464324817e-45, 4.9406564584124654e-324, 0, 0),"
      "(4, -1.1754943508222875e-38, -2.2250738585072014e-308, NULL, NULL),"
      "(5, -0e0, -0e0, NULL, NULL),"
      "(6, NULL, NULL, NULL, NULL)");
  ImportPlan plan;
  Rows rows = ReadTable("imp_floats", &plan);
  EXPECT_EQ(Ids(plan), (std::vector<TypeId>{TypeId::kInteger, TypeId::kFloat, TypeId::kDouble,
                                            TypeId::kFloat, TypeId::kDouble}));
  // The server's own text for FLOAT has 6 digits ("1.23457"): FLOAT is read as DOUBLE.
  EXPECT_EQ(plan.select_list,
            "`id`, CAST(`f` AS DOUBLE) AS `f`, `d`, CAST(`f2` AS DOUBLE) AS `f2`, "
            "CAST(`d2` AS DOUBLE) AS `d2`");
  Rows want = {
      {"1", Shortest(1.2345678f), Shortest(0.1 + 0.2), Shortest(1.2346f),
       Shortest(123456789012345678.12)},
      {"2", Shortest(std::numeric_limits<float>::max()),
       Shortest(std::numeric_limits<double>::max()), Shortest(-999.9999f), Shortest(1.1)},
      {"3", Shortest(std::numeric_limits<float>::denorm_min()),
       Shortest(std::numeric_limits<double>::denorm_min()), "0", "0"},
      {"4", Shortest(-std::numeric_limits<float>::min()),
       Shortest(-std::numeric_limits<double>::min()), std::nullopt, std::nullopt},
      // MariaDB stores -0 as 0; a server that keeps -0 sends "-0", which reads as -0.
      {"5", "0", "0", std::nullopt, std::nullopt},
      {"6", std::nullopt, std::nullopt, std::nullopt, std::nullopt},
  };
  EXPECT_EQ(rows[0], want[0]);
  EXPECT_EQ(rows[1], want[1]);
  EXPECT_EQ(rows[2], want[2]);
  EXPECT_EQ(rows[3], want[3]);
  ASSERT_TRUE(rows[4][1] && rows[4][2]);
  EXPECT_TRUE(*rows[4][1] == "0" || *rows[4][1] == "-0") << *rows[4][1];
  EXPECT_TRUE(*rows[4][2] == "0" || *rows[4][2] == "-0") << *rows[4][2];
  EXPECT_EQ(rows[5], want[5]);
}

TEST_F(MySqlImportTest, BitsAreBooleanOrUnsignedBigint) {
  Exec("DROP TABLE IF EXISTS imp_bits");
  Exec("CREATE TABLE imp_bits (id INT PRIMARY KEY, b1 BIT(1), b5 BIT(5), b64 BIT(64))");
  Exec(
      "INSERT INTO imp_bits VALUES (1, b'1', b'10101', 18446744073709551615), "
      "(2, b'0', b'0', 0), (3, NULL, b'1', 9223372036854775808), (4, b'1', NULL, 258)");
  ImportPlan plan;
  Rows rows = ReadTable("imp_bits", &plan);
  EXPECT_EQ(Ids(plan), (std::vector<TypeId>{TypeId::kInteger, TypeId::kBoolean, TypeId::kUBigint,
                                            TypeId::kUBigint}));
  EXPECT_EQ(plan.server_types[3], "bit(64)");
  Rows want = {
      {"1", "true", "21", "18446744073709551615"},
      {"2", "false", "0", "0"},
      {"3", std::nullopt, "1", "9223372036854775808"},
      {"4", "true", std::nullopt, "258"},
  };
  EXPECT_EQ(rows, want);
}

TEST_F(MySqlImportTest, DatesTimesAndTimestamps) {
  Exec("DROP TABLE IF EXISTS imp_dates");
  Exec(
      "CREATE TABLE imp_dates (id INT PRIMARY KEY, d DATE, dt DATETIME, dt6 DATETIME(6), "
      "ts TIMESTAMP(6) NULL, t TIME, t6 TIME(6), y YEAR)");
  Exec(
      "INSERT INTO imp_dates VALUES "
      "(1, '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000001', "
      "'1970-01-01 00:00:01', '00:00:00', '00:00:00.000001', 1901),"
      "(2, '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999', "
      "'2038-01-19 03:14:07.999999', '23:59:59', '23:59:59.999999', 2155),"
      "(3, '1970-01-01', '2024-02-29 12:34:56', '2024-02-29 12:34:56.5', "
      "'2024-02-29 12:34:56.123456', '12:34:56', '12:34:56.5', 2024),"
      "(4, '0000-01-01', '0000-01-01 00:00:00', '0000-12-31 23:59:59.999999', NULL, NULL, NULL, "
      "NULL),"
      "(5, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
  // A TIMESTAMP is an instant: written at 12:00 in UTC+2, it reads as 10:00 UTC.
  Exec("SET SESSION time_zone = '+02:00'");
  Exec(
      "INSERT INTO imp_dates VALUES (6, '2020-06-01', '2020-06-01 12:00:00', "
      "'2020-06-01 12:00:00', '2020-06-01 12:00:00', NULL, NULL, NULL)");
  Exec("SET SESSION time_zone = '+00:00'");

  ImportPlan plan;
  Rows rows = ReadTable("imp_dates", &plan);
  EXPECT_EQ(Ids(plan), (std::vector<TypeId>{TypeId::kInteger, TypeId::kDate, TypeId::kTimestamp,
                                            TypeId::kTimestamp, TypeId::kTimestampTz, TypeId::kTime,
                                            TypeId::kTime, TypeId::kSmallint}));
  EXPECT_EQ(plan.server_types[1], "date");
  EXPECT_EQ(plan.server_types[2], "datetime");
  EXPECT_EQ(plan.server_types[3], "datetime(6)");
  EXPECT_EQ(plan.server_types[4], "timestamp(6)");
  EXPECT_EQ(plan.server_types[6], "time(6)");
  Rows want = {
      {"1", "1000-01-01", "1000-01-01 00:00:00.000000", "1000-01-01 00:00:00.000001",
       "1970-01-01 00:00:01.000000", "00:00:00.000000", "00:00:00.000001", "1901"},
      {"2", "9999-12-31", "9999-12-31 23:59:59.000000", "9999-12-31 23:59:59.999999",
       "2038-01-19 03:14:07.999999", "23:59:59.000000", "23:59:59.999999", "2155"},
      {"3", "1970-01-01", "2024-02-29 12:34:56.000000", "2024-02-29 12:34:56.500000",
       "2024-02-29 12:34:56.123456", "12:34:56.000000", "12:34:56.500000", "2024"},
      // Year 0 is the proleptic Gregorian year 0 (1 BC), DuckDB's DATE '0000-01-01'.
      {"4", "0000-01-01", "0000-01-01 00:00:00.000000", "0000-12-31 23:59:59.999999", std::nullopt,
       std::nullopt, std::nullopt, std::nullopt},
      {"5", std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
       std::nullopt},
      {"6", "2020-06-01", "2020-06-01 12:00:00.000000", "2020-06-01 12:00:00.000000",
       "2020-06-01 10:00:00.000000", std::nullopt, std::nullopt, std::nullopt},
  };
  EXPECT_EQ(rows, want);

  // The physical values themselves: days and microseconds since 1970-01-01.
  ImportOptions o = For("imp_dates");
  RowReader reader(*conn_, PlanImport(*conn_, "`imp_dates`", {"d", "dt6", "ts"}, o), o);
  reader.Start("SELECT d, dt6, ts FROM imp_dates WHERE id IN (1, 2, 4) ORDER BY id");
  TestChunk chunk(3, 8);
  ASSERT_EQ(reader.Fill(chunk, 0), 3u);
  EXPECT_EQ(chunk.Get<int32_t>(0, 0), -354285);
  EXPECT_EQ(chunk.Get<int32_t>(0, 1), 2932896);
  EXPECT_EQ(chunk.Get<int32_t>(0, 2), -719528);
  EXPECT_EQ(chunk.Get<int64_t>(1, 1), 253402300799999999);
  EXPECT_EQ(chunk.Get<int64_t>(2, 0), 1000000);
  EXPECT_EQ(chunk.Get<int64_t>(2, 1), 2147483647999999);
  EXPECT_EQ(reader.Fill(chunk, 0), 0u);
}

TEST_F(MySqlImportTest, TwoDigitYearsReadAsFullYears) {
  // MariaDB still has YEAR(2) (MySQL 8 dropped it); it sends 70..99 and 00..69.
  Exec("DROP TABLE IF EXISTS imp_year2");
  Exec("CREATE TABLE imp_year2 (id INT PRIMARY KEY, y YEAR(2))");
  Exec("INSERT INTO imp_year2 VALUES (1, 1970), (2, 1999), (3, 2000), (4, 2069), (5, NULL)");
  ImportPlan plan;
  Rows rows = ReadTable("imp_year2", &plan);
  EXPECT_EQ(plan.columns[1].id, TypeId::kSmallint);
  EXPECT_EQ(plan.server_types[1], "year(2)");
  EXPECT_EQ(
      rows,
      (Rows{{"1", "1970"}, {"2", "1999"}, {"3", "2000"}, {"4", "2069"}, {"5", std::nullopt}}));
}

TEST_F(MySqlImportTest, ZeroDatesAreNullOnRequestAndAnErrorOtherwise) {
  Exec("DROP TABLE IF EXISTS imp_zero");
  Exec("CREATE TABLE imp_zero (id INT PRIMARY KEY, d DATE, dt DATETIME(6), ts TIMESTAMP NULL)");
  Exec("SET SESSION sql_mode = ''");
  Exec(
      "INSERT INTO imp_zero VALUES "
      "(1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'),"
      "(2, '2020-00-10', '2020-05-00 10:00:00.5', NULL),"
      "(3, '2020-01-02', '2020-01-02 03:04:05', '2020-01-02 03:04:05')");
  conn_.reset();
  conn_ = Connection::Open(options_);  // back to the connector's strict sql_mode

  Rows rows = ReadTable("imp_zero", nullptr, {}, /*zero_dates_null=*/true);
  Rows want = {
      {"1", std::nullopt, std::nullopt, std::nullopt},
      {"2", std::nullopt, std::nullopt, std::nullopt},
      {"3", "2020-01-02", "2020-01-02 03:04:05.000000", "2020-01-02 03:04:05.000000"},
  };
  EXPECT_EQ(rows, want);

  std::string msg = ErrorOf([&] { ReadTable("imp_zero"); }, ErrorKind::kInvalidInput);
  EXPECT_NE(msg.find(For("imp_zero").object + " column `d`"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'0000-00-00'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("zero_dates: null"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--zero-dates null"), std::string::npos) << msg;

  // A zero month or day is a zero date too; so is a zero DATETIME and TIMESTAMP.
  conn_ = Connection::Open(options_);  // the failed read closed the connection
  ImportOptions o = For("imp_zero");
  ImportPlan plan = PlanImport(*conn_, "`imp_zero`", {}, o);
  RowReader reader(*conn_, plan, o);
  TestChunk chunk(4, 4);
  for (auto [sql, value] : std::vector<std::pair<std::string, std::string>>{
           {"SELECT id, d, NULL, NULL FROM imp_zero WHERE id = 2", "'2020-00-10'"},
           {"SELECT id, NULL, dt, NULL FROM imp_zero WHERE id = 2", "'2020-05-00 10:00:00.500000'"},
           {"SELECT id, NULL, NULL, ts FROM imp_zero WHERE id = 1", "'0000-00-00 00:00:00'"}}) {
    reader.Start(sql);
    msg = ErrorOf([&] { reader.Fill(chunk, 0); }, ErrorKind::kInvalidInput);
    EXPECT_NE(msg.find(value), std::string::npos) << msg;
    EXPECT_NE(msg.find("zero date"), std::string::npos) << msg;
  }

  // A date that does not exist (ALLOW_INVALID_DATES) fails whatever zero_dates says.
  // (Through another connection: the reader's is still in the failed result until Start.)
  auto writer = Connection::Open(options_);
  writer->Exec("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'");
  writer->Exec("INSERT INTO imp_zero VALUES (4, '2021-02-30', NULL, NULL)");
  reader.Start("SELECT id, d, dt, ts FROM imp_zero WHERE id = 4");
  msg = ErrorOf([&] { reader.Fill(chunk, 0); }, ErrorKind::kInvalidInput);
  EXPECT_NE(msg.find("'2021-02-30'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("CAST(`d` AS CHAR)"), std::string::npos) << msg;
}

TEST_F(MySqlImportTest, TimeOutsideOneDayFailsAndNamesTheFix) {
  Exec("DROP TABLE IF EXISTS imp_time");
  Exec("CREATE TABLE imp_time (id INT PRIMARY KEY, t TIME(6))");
  Exec(
      "INSERT INTO imp_time VALUES (1, '-00:00:00.000001'), (2, '24:00:00'), "
      "(3, '838:59:59'), (4, '-838:59:59'), (5, '23:59:59.999999')");
  ImportOptions o = For("imp_time");
  ImportPlan plan = PlanImport(*conn_, "`imp_time`", {}, o);
  RowReader reader(*conn_, plan, o);
  TestChunk chunk(2, 4);
  for (auto [id, value] : std::vector<std::pair<int, std::string>>{{1, "'-00:00:00.000001'"},
                                                                   {2, "'24:00:00.000000'"},
                                                                   {3, "'838:59:59.000000'"},
                                                                   {4, "'-838:59:59.000000'"}}) {
    reader.Start("SELECT id, t FROM imp_time WHERE id >= " + std::to_string(id) + " ORDER BY id");
    std::string msg = ErrorOf([&] { reader.Fill(chunk, 0); }, ErrorKind::kInvalidInput);
    EXPECT_NE(msg.find(For("imp_time").object + " column `t`"), std::string::npos) << msg;
    EXPECT_NE(msg.find(value), std::string::npos) << msg;
    EXPECT_NE(msg.find("CAST(`t` AS CHAR)"), std::string::npos) << msg;
  }
  // Start again after a failed Fill reads the new result (the rest of the old one is dropped).
  reader.Start("SELECT id, t FROM imp_time WHERE id = 5");
  EXPECT_EQ(ReadRest(reader), (Rows{{"5", "23:59:59.999999"}}));
}

TEST_F(MySqlImportTest, TextAndBytesRoundTrip) {
  Exec("DROP TABLE IF EXISTS imp_text");
  Exec(
      "CREATE TABLE imp_text (id INT PRIMARY KEY, c CHAR(4), vc VARCHAR(20), tx TEXT, "
      "e ENUM('a','b'), s SET('x','y'), j JSON, latin VARCHAR(10) CHARACTER SET latin1, "
      "bn BINARY(4), vb VARBINARY(10), bl BLOB, lb LONGBLOB)");
  // Binary values are written in hex; text in UTF-8, converted by the server where the column
  // has another character set (latin1).
  const std::string emoji = "\xF0\x9F\x98\x80";  // U+1F600, 4 bytes in UTF-8
  const std::string clef = "\xF0\x9D\x84\x9E";   // U+1D11E
  Exec(
      "INSERT INTO imp_text VALUES "
      "(1, 'ab', '', '', 'a', 'x,y', '{\"a\": [1, \"\xF0\x9F\x98\x80\"]}', 'caf\xC3\xA9', "
      "'ab', x'00FF00', x'000102', '')");
  Exec(
      "INSERT INTO imp_text VALUES (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
      "NULL, NULL)");
  Exec("INSERT INTO imp_text VALUES (3, '" + emoji + "', '" + clef + " ok " + emoji +
       "\t\\n', REPEAT('" + emoji +
       "', 5000), 'b', '', '[]', '', x'00000000', '', "
       "x'5C00275C4E', REPEAT(x'00FF', 100000))");
  ImportPlan plan;
  Rows rows = ReadTable("imp_text", &plan);
  EXPECT_EQ(Ids(plan), (std::vector<TypeId>{TypeId::kInteger, TypeId::kVarchar, TypeId::kVarchar,
                                            TypeId::kVarchar, TypeId::kVarchar, TypeId::kVarchar,
                                            TypeId::kVarchar, TypeId::kVarchar, TypeId::kBlob,
                                            TypeId::kBlob, TypeId::kBlob, TypeId::kBlob}));
  EXPECT_EQ(
      plan.server_types,
      (std::vector<std::string>{"int", "char(4)", "varchar(20)", "text", "enum", "set", "json",
                                "varchar(10)", "binary(4)", "varbinary(10)", "blob", "longblob"}));
  std::string long_text;
  for (int i = 0; i < 5000; i++) long_text += emoji;
  std::string long_blob;
  for (int i = 0; i < 100000; i++) long_blob += std::string("\x00\xFF", 2);
  Rows want = {
      {"1", "ab", "", "", "a", "x,y", "{\"a\": [1, \"" + emoji + "\"]}", "caf\xC3\xA9",
       std::string("ab\0\0", 4), std::string("\x00\xFF\x00", 3), std::string("\x00\x01\x02", 3),
       ""},
      {"2", std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
       std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt},
      {"3", emoji, clef + " ok " + emoji + "\t\n", long_text, "b", "", "[]", "",
       std::string(4, '\0'), "", std::string("\\\0'\\N", 5), long_blob},
  };
  ASSERT_EQ(rows.size(), want.size());
  for (size_t r = 0; r < want.size(); r++) {
    for (size_t c = 0; c < want[r].size(); c++) {
      EXPECT_EQ(rows[r][c], want[r][c]) << "row " << r << " column " << plan.columns[c].name;
    }
  }
}

TEST_F(MySqlImportTest, QueriesArePlannedFromTheirResult) {
  ImportOptions o;
  o.object = "query 'expressions'";
  ImportPlan plan = PlanImport(*conn_,
                               "(SELECT 1.50 AS price, CAST(2 AS UNSIGNED) AS n, 'x' AS s, "
                               "x'00' AS b, CAST(1 AS DOUBLE) AS d) q",
                               {}, o);
  EXPECT_EQ(Ids(plan), (std::vector<TypeId>{TypeId::kDecimal, TypeId::kUInteger, TypeId::kVarchar,
                                            TypeId::kBlob, TypeId::kDouble}));
  EXPECT_EQ(plan.columns[0].width, 3);
  EXPECT_EQ(plan.columns[0].scale, 2);
  RowReader reader(*conn_, plan, o);
  reader.Start("SELECT " + plan.select_list +
               " FROM (SELECT 1.50 AS price, CAST(2 AS UNSIGNED) "
               "AS n, 'x' AS s, x'00' AS b, CAST(1 AS DOUBLE) AS d) q");
  EXPECT_EQ(ReadRest(reader), (Rows{{"1.50", "2", "x", std::string(1, '\0'), "1"}}));
}

TEST_F(MySqlImportTest, GeometryHasNoLakeTypeAndSaysHowToReadIt) {
  Exec("DROP TABLE IF EXISTS places");
  Exec("CREATE TABLE places (id INT PRIMARY KEY, loc GEOMETRY, name VARCHAR(10))");
  ImportOptions o = For("places");
  std::string msg =
      ErrorOf([&] { PlanImport(*conn_, "`places`", {}, o); }, ErrorKind::kInvalidInput);
  EXPECT_EQ(msg, For("places").object +
                     " column `loc`: type geometry has no lake type; import it "
                     "through a query: with ST_AsText(`loc`) or CAST(`loc` AS CHAR)");
  // Without that column the table imports.
  ImportPlan plan = PlanImport(*conn_, "`places`", {"id", "name"}, o);
  EXPECT_EQ(plan.select_list, "`id`, `name`");
}

TEST_F(MySqlImportTest, ColumnsArePickedByNameAndUnknownNamesListTheTable) {
  Exec("DROP TABLE IF EXISTS imp_pick");
  Exec("CREATE TABLE imp_pick (id INT PRIMARY KEY, Name VARCHAR(10), `odd``name` INT)");
  Exec("INSERT INTO imp_pick VALUES (1, 'one', 7)");
  ImportOptions o = For("imp_pick");
  ImportPlan plan = PlanImport(*conn_, "`imp_pick`", {"NAME", "ODD`NAME", "Id"}, o);
  ASSERT_EQ(plan.columns.size(), 3u);
  EXPECT_EQ(plan.columns[0].name, "Name");  // the table's spelling
  EXPECT_EQ(plan.columns[1].name, "odd`name");
  EXPECT_EQ(plan.select_list, "`Name`, `odd``name`, `id`");
  RowReader reader(*conn_, plan, o);
  reader.Start("SELECT " + plan.select_list + " FROM imp_pick");
  EXPECT_EQ(ReadRest(reader), (Rows{{"one", "7", "1"}}));

  std::string msg = ErrorOf(
      [&] {
        PlanImport(*conn_, "`imp_pick`", {"id", "nmae"}, o);
      },
      ErrorKind::kNotFound);
  EXPECT_EQ(msg, For("imp_pick").object +
                     " has no column `nmae` (did you mean `Name`?); its columns "
                     "are `id`, `Name`, `odd``name`");
  msg = ErrorOf(
      [&] {
        PlanImport(*conn_, "`imp_pick`", {"id", "ID"}, o);
      },
      ErrorKind::kInvalidInput);
  EXPECT_NE(msg.find("listed twice"), std::string::npos) << msg;
  ErrorOf([&] { PlanImport(*conn_, "`imp_no_such_table`", {}, o); }, ErrorKind::kNotFound);
}

TEST_F(MySqlImportTest, ResultsLargerThanAChunkFillAtAnyOffset) {
  MakeNumbers("imp_many_ids", 10007);
  Exec("DROP TABLE IF EXISTS imp_many");
  Exec("CREATE TABLE imp_many (id INT PRIMARY KEY, s VARCHAR(20), d DECIMAL(12,2))");
  Exec(
      "INSERT INTO imp_many SELECT id, IF(id % 3 = 0, NULL, CONCAT('row ', id)), id / 100 "
      "FROM imp_many_ids");
  auto expected_bytes = conn_->Query(
      std::string("SELECT SUM(") +
      (std::getenv("SLUICE_TEST_MYSQL_TEXT_PROTOCOL") ? "LENGTH(CAST(id AS CHAR))"
                                                      : "4" /* the binary protocol's INT */) +
      " + COALESCE(LENGTH(s), 0) + LENGTH(CAST(d AS CHAR))) FROM imp_many");
  ImportOptions o = For("imp_many");
  ImportPlan plan = PlanImport(*conn_, "`imp_many`", {}, o);
  RowReader reader(*conn_, plan, o);
  reader.Start("SELECT " + plan.select_list + " FROM imp_many ORDER BY id");
  TestChunk chunk(3, 1000);
  int64_t next = 1;
  size_t fills = 0;
  for (size_t offset = 0;; offset = (offset + 377) % 1000) {
    chunk.Reset();
    size_t n = reader.Fill(chunk, offset);
    if (n == 0) break;
    fills++;
    ASSERT_LE(offset + n, 1000u);
    if (next + static_cast<int64_t>(n) <= 10007) {
      ASSERT_EQ(offset + n, 1000u);  // the chunk is full unless the result ended
    }
    for (size_t r = offset; r < offset + n; r++, next++) {
      ASSERT_EQ(chunk.Get<int32_t>(0, r), next);
      if (next % 3 == 0) {
        ASSERT_TRUE(chunk.IsNull(1, r)) << next;
      } else {
        ASSERT_FALSE(chunk.IsNull(1, r));
        ASSERT_EQ(chunk.Text(1, r), "row " + std::to_string(next));
      }
      ASSERT_EQ(chunk.Get<int64_t>(2, r), next);  // DECIMAL(12,2): id / 100 unscaled is id
    }
  }
  EXPECT_EQ(next, 10008);
  EXPECT_GT(fills, 10u);
  EXPECT_EQ(reader.rows(), 10007u);
  EXPECT_EQ(std::to_string(reader.bytes()), expected_bytes[0][0].value());
  EXPECT_EQ(reader.Fill(chunk, 0), 0u);  // done stays done

  // The same reader runs the next query once a result has ended.
  reader.Start("SELECT " + plan.select_list + " FROM imp_many WHERE id <= 3 ORDER BY id");
  EXPECT_EQ(ReadRest(reader),
            (Rows{{"1", "row 1", "0.01"}, {"2", "row 2", "0.02"}, {"3", std::nullopt, "0.03"}}));
  EXPECT_EQ(reader.rows(), 10010u);
  // And the connection is free for other statements.
  EXPECT_EQ(conn_->Query("SELECT COUNT(*) FROM imp_many")[0][0], "10007");
}

// A query on `table` (ids 1..8000) that sends several thousand rows, then stops for `seconds`
// in the middle: a reader is blocked in mysql_fetch_row, past Start, when the pause begins.
std::string PausingQuery(const std::string& table, int seconds) {
  return "SELECT id, SLEEP(IF(id = 6000, " + std::to_string(seconds) + ", 0)) AS s FROM " + table +
         " ORDER BY id";
}

TEST_F(MySqlImportTest, CancelAbortsABlockedRead) {
  MakeNumbers("imp_pause_cancel", 8000);
  CancelToken token;
  auto conn = Connection::Open(options_, &token);
  std::string id = conn->Query("SELECT CONNECTION_ID()")[0][0].value();
  ImportOptions o;
  o.object = "query 'pause'";
  ImportPlan plan =
      PlanImport(*conn, "(SELECT CAST(0 AS SIGNED) AS id, CAST(0 AS SIGNED) AS s) q", {}, o);
  RowReader reader(*conn, plan, o);
  reader.Start(PausingQuery("imp_pause_cancel", 30));
  std::atomic<int64_t> cancelled_at{0};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    cancelled_at = std::chrono::steady_clock::now().time_since_epoch().count();
    token.Cancel("test cancel");
  });
  TestChunk chunk(2, 256);
  std::string msg = ErrorOf(
      [&] {
        while (reader.Fill(chunk, 0) > 0) {
        }
      },
      ErrorKind::kCancelled);
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  canceller.join();
  EXPECT_NE(msg.find("test cancel"), std::string::npos) << msg;
  EXPECT_GE(reader.rows(), 1000u);  // it was blocked reading, not in Start
  EXPECT_LT(reader.rows(), 6000u);
  EXPECT_LT(std::chrono::steady_clock::duration(now - cancelled_at.load()),
            std::chrono::seconds(3));
  // The server may still be sleeping on the cancelled statement's behalf.
  try {
    conn_->Exec("KILL " + id);
  } catch (const Error&) {
    // already gone
  }
}

TEST_F(MySqlImportTest, LostConnectionIsARetryableConnectionError) {
  MakeNumbers("imp_pause_kill", 8000);
  auto conn = Connection::Open(options_);
  std::string id = conn->Query("SELECT CONNECTION_ID()")[0][0].value();
  ImportOptions o;
  o.object = "query 'pause'";
  ImportPlan plan =
      PlanImport(*conn, "(SELECT CAST(0 AS SIGNED) AS id, CAST(0 AS SIGNED) AS s) q", {}, o);
  RowReader reader(*conn, plan, o);
  reader.Start(PausingQuery("imp_pause_kill", 30));
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    conn_->Exec("KILL CONNECTION " + id);
  });
  TestChunk chunk(2, 256);
  auto started = std::chrono::steady_clock::now();
  try {
    while (reader.Fill(chunk, 0) > 0) {
    }
    ADD_FAILURE() << "the read did not fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConnection) << e.what();
    EXPECT_TRUE(e.retryable()) << e.what();
    EXPECT_NE(std::string(e.what()).find("query 'pause'"), std::string::npos) << e.what();
  }
  killer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  EXPECT_GE(reader.rows(), 1000u);
}

TEST_F(MySqlImportTest, AStatementThatFailsMidResultIsAnError) {
  MakeNumbers("imp_fail", 8000);
  ImportOptions o;
  o.object = "query 'fails'";
  ImportPlan plan =
      PlanImport(*conn_, "(SELECT CAST(0 AS SIGNED) AS id, CAST(0 AS SIGNED) AS s) q", {}, o);
  RowReader reader(*conn_, plan, o);
  // The subquery returns two rows for id 6000 only: the server fails after sending rows.
  reader.Start(
      "SELECT q.id, (SELECT n.id FROM imp_fail n WHERE n.id IN (1, 2) AND q.id = 6000) AS s "
      "FROM imp_fail q ORDER BY q.id");
  TestChunk chunk(2, 256);
  try {
    while (reader.Fill(chunk, 0) > 0) {
    }
    ADD_FAILURE() << "the read ended without the server's error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Subquery returns more than 1 row"), std::string::npos)
        << e.what();
  }
  EXPECT_GE(reader.rows(), 1000u);
  EXPECT_LT(reader.rows(), 6000u);
  // The connection is still usable.
  EXPECT_EQ(conn_->Query("SELECT 1")[0][0], "1");
}

}  // namespace
}  // namespace sluice::connectors::mysql
