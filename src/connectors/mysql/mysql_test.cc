#include "connectors/mysql/mysql.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "common/error.h"

namespace sluice::connectors::mysql {
namespace {

using engine::ColumnData;
using engine::TypeId;

template <typename T>
ColumnData Fixed(TypeId id, const std::vector<T>& values) {
  ColumnData c;
  c.id = id;
  c.physical_bytes = sizeof(T);
  c.data = values.data();
  return c;
}

std::string Load(const ColumnData& c, size_t row = 0) {
  std::string out;
  AppendValue(c, row, ValueFormat::kLoadData, out);
  return out;
}

std::string Sql(const ColumnData& c, size_t row = 0) {
  std::string out;
  AppendValue(c, row, ValueFormat::kSqlLiteral, out);
  return out;
}

TEST(MySqlValueTest, NullIsBackslashNInLoadDataAndNullInSql) {
  std::vector<int32_t> v = {7, 8};
  uint64_t validity = 0b01;  // row 1 is NULL
  ColumnData c = Fixed(TypeId::kInteger, v);
  c.validity = &validity;
  EXPECT_EQ(Load(c, 0), "7");
  EXPECT_EQ(Load(c, 1), "\\N");
  EXPECT_EQ(Sql(c, 1), "NULL");
}

TEST(MySqlValueTest, TextEscapesOnlyWhatLoadDataInterprets) {
  static const char kRaw[] = "a\tb\nc\\d\re\0f 'g' \\N \xF0\x9F\x98\x80";
  std::string raw(kRaw, sizeof kRaw - 1);
  ColumnData c;
  c.id = TypeId::kVarchar;
  c.text = {raw, std::string_view()};
  EXPECT_EQ(Load(c, 0), std::string("a\\tb\\nc\\\\d\\re\\0f 'g' \\\\N \xF0\x9F\x98\x80"));
  EXPECT_EQ(Load(c, 1), "");  // empty text is an empty field, not NULL
  EXPECT_EQ(Sql(c, 0), std::string("'a\tb\\nc\\\\d\\re\\0f \\'g\\' \\\\N \xF0\x9F\x98\x80'"));
  EXPECT_EQ(Sql(c, 1), "''");
}

TEST(MySqlValueTest, BlobIsBytesInLoadDataAndHexInSql) {
  std::string raw("\x00\xFF\t", 3);
  ColumnData c;
  c.id = TypeId::kBlob;
  c.text = {raw};
  EXPECT_EQ(Load(c), std::string("\\0\xFF\\t", 5));
  EXPECT_EQ(Sql(c), "X'00FF09'");
}

TEST(MySqlValueTest, IntegersAtTheirLimits) {
  std::vector<int64_t> s = {std::numeric_limits<int64_t>::min()};
  EXPECT_EQ(Load(Fixed(TypeId::kBigint, s)), "-9223372036854775808");
  std::vector<uint64_t> u = {std::numeric_limits<uint64_t>::max()};
  EXPECT_EQ(Load(Fixed(TypeId::kUBigint, u)), "18446744073709551615");
  std::vector<uint8_t> b = {1, 0};
  EXPECT_EQ(Load(Fixed(TypeId::kBoolean, b), 0), "1");
  EXPECT_EQ(Load(Fixed(TypeId::kBoolean, b), 1), "0");
}

TEST(MySqlValueTest, DecimalKeepsItsScale) {
  std::vector<int64_t> v = {-5, 123456, 0};
  ColumnData c = Fixed(TypeId::kDecimal, v);
  c.width = 18;
  c.scale = 4;
  EXPECT_EQ(Load(c, 0), "-0.0005");
  EXPECT_EQ(Load(c, 1), "12.3456");
  EXPECT_EQ(Load(c, 2), "0.0000");
}

TEST(MySqlValueTest, FloatsReadBackExactlyAndNanIsRefused) {
  std::vector<double> d = {0.1, 5e-324, std::numeric_limits<double>::quiet_NaN()};
  ColumnData c = Fixed(TypeId::kDouble, d);
  // strtod, not stod: stod refuses the subnormal 5e-324 (ERANGE).
  EXPECT_EQ(std::strtod(Load(c, 0).c_str(), nullptr), 0.1);
  EXPECT_EQ(std::strtod(Load(c, 1).c_str(), nullptr), 5e-324);
  EXPECT_THROW(Load(c, 2), Error);
  std::vector<float> f = {0.1f};
  float back = static_cast<float>(std::strtod(Load(Fixed(TypeId::kFloat, f)).c_str(), nullptr));
  EXPECT_EQ(back, 0.1f);
}

TEST(MySqlValueTest, DatesTimesAndTimestamps) {
  std::vector<int32_t> days = {0, -1, -719162, 2932896, 2932897};
  ColumnData date = Fixed(TypeId::kDate, days);
  EXPECT_EQ(Load(date, 0), "1970-01-01");
  EXPECT_EQ(Load(date, 1), "1969-12-31");
  EXPECT_EQ(Load(date, 2), "0001-01-01");
  EXPECT_EQ(Load(date, 3), "9999-12-31");
  EXPECT_THROW(Load(date, 4), Error);  // year 10000
  EXPECT_EQ(Sql(date, 0), "'1970-01-01'");

  std::vector<int64_t> time = {0, 86399999999};
  EXPECT_EQ(Load(Fixed(TypeId::kTime, time), 0), "00:00:00.000000");
  EXPECT_EQ(Load(Fixed(TypeId::kTime, time), 1), "23:59:59.999999");

  std::vector<int64_t> ts = {-1, 1500000};
  EXPECT_EQ(Load(Fixed(TypeId::kTimestamp, ts), 0), "1969-12-31 23:59:59.999999");
  EXPECT_EQ(Load(Fixed(TypeId::kTimestampTz, ts), 1), "1970-01-01 00:00:01.500000");
}

TEST(MySqlTypeTest, MapsEveryLakeTypeWithoutLoss) {
  auto t = [](const std::string& type, bool key = false) {
    return MySqlType({"c", type}, key, 768, "utf8mb4_nopad_bin");
  };
  EXPECT_EQ(t("BOOLEAN"), "TINYINT(1)");
  EXPECT_EQ(t("UBIGINT"), "BIGINT UNSIGNED");
  EXPECT_EQ(t("HUGEINT"), "DECIMAL(39,0)");
  EXPECT_EQ(t("DECIMAL(12,2)"), "DECIMAL(12,2)");
  EXPECT_EQ(t("TIME"), "TIME(6)");
  EXPECT_EQ(t("TIMESTAMP WITH TIME ZONE"), "DATETIME(6)");
  EXPECT_EQ(t("VARCHAR"), "LONGTEXT");
  EXPECT_EQ(t("VARCHAR", true), "VARCHAR(768) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin");
  EXPECT_EQ(t("BLOB"), "LONGBLOB");
  EXPECT_EQ(t("UUID"), "CHAR(36)");
  EXPECT_EQ(t("JSON"), "JSON");
  EXPECT_EQ(t("INTERVAL"), "VARCHAR(100)");
}

TEST(MySqlQuotingTest, IdentifiersAndLiterals) {
  EXPECT_EQ(Ident("a`b"), "`a``b`");
  EXPECT_EQ(Literal("it's \\"), "'it\\'s \\\\'");
}

TEST(MySqlOptionsTest, ReadsOptionsAndRejectsBadOnes) {
  pipeline::ConnectionSpec spec;
  spec.name = "shop";
  spec.type = "mysql";
  spec.options = {{"host", "db"},   {"database", "shop"},     {"user", "etl"},
                  {"port", "3307"}, {"ssl_mode", "required"}, {"connect_timeout", "5s"}};
  Options o = OptionsFromConnection(spec, "/");
  EXPECT_EQ(o.port, 3307u);
  EXPECT_EQ(o.ssl_mode, "REQUIRED");
  EXPECT_EQ(o.connect_timeout_seconds, 5);
  spec.options["port"] = "99999";
  EXPECT_THROW(OptionsFromConnection(spec, "/"), Error);
  spec.options["port"] = "3306";
  spec.options["ssl_mode"] = "sometimes";
  EXPECT_THROW(OptionsFromConnection(spec, "/"), Error);
}

TEST(MySqlErrorTest, ClassifiesRefusalsAndRowErrors) {
  EXPECT_TRUE(LocalInfileRefused(4166));
  EXPECT_TRUE(LocalInfileRefused(1148));
  EXPECT_FALSE(LocalInfileRefused(1062));
  EXPECT_TRUE(IsRowError(1062));
  EXPECT_TRUE(IsRowError(1048));
  EXPECT_FALSE(IsRowError(1213));
}

}  // namespace
}  // namespace sluice::connectors::mysql
