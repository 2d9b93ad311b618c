#include "engine/exact_parse.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sluice::engine::exact {
namespace {

constexpr __int128 kBigMin = std::numeric_limits<int64_t>::min();
constexpr __int128 kBigMax = std::numeric_limits<int64_t>::max();

TEST(ExactParseTest, IntegersMustBeWholeAndInRange) {
  EXPECT_EQ(ParseInteger("42", kBigMin, kBigMax), 42);
  EXPECT_EQ(ParseInteger(" -7 ", kBigMin, kBigMax), -7);
  EXPECT_EQ(ParseInteger("+5", kBigMin, kBigMax), 5);
  EXPECT_EQ(ParseInteger("12.000", kBigMin, kBigMax), 12);
  EXPECT_EQ(ParseInteger("1e3", kBigMin, kBigMax), 1000);
  EXPECT_EQ(ParseInteger("-9223372036854775808", kBigMin, kBigMax), kBigMin);
  EXPECT_EQ(ParseInteger("9223372036854775807", kBigMin, kBigMax), kBigMax);
  EXPECT_FALSE(ParseInteger("9223372036854775808", kBigMin, kBigMax));
  EXPECT_FALSE(ParseInteger("1.5", kBigMin, kBigMax)) << "DuckDB rounds it to 2";
  EXPECT_FALSE(ParseInteger("0x10", kBigMin, kBigMax));
  EXPECT_FALSE(ParseInteger("1_000", kBigMin, kBigMax));
  EXPECT_FALSE(ParseInteger("", kBigMin, kBigMax));
  EXPECT_FALSE(ParseInteger("-", kBigMin, kBigMax));
  EXPECT_FALSE(ParseInteger("1e-1", kBigMin, kBigMax));
  EXPECT_FALSE(ParseInteger("128", -128, 127));
  EXPECT_EQ(ParseInteger("-128", -128, 127), -128);
  EXPECT_FALSE(ParseInteger("-1", 0, 255));
  EXPECT_EQ(ParseInteger("-0", 0, 255), 0);
  // HUGEINT's whole range, and 39-digit values beyond 2^128 that must not wrap.
  __int128 hmax = ~(static_cast<__int128>(1) << 127);
  __int128 hmin = -hmax - 1;
  EXPECT_EQ(ParseInteger("170141183460469231731687303715884105727", hmin, hmax), hmax);
  EXPECT_EQ(ParseInteger("-170141183460469231731687303715884105728", hmin, hmax), hmin);
  EXPECT_FALSE(ParseInteger("170141183460469231731687303715884105728", hmin, hmax));
  EXPECT_FALSE(ParseInteger("999999999999999999999999999999999999999", hmin, hmax));
  EXPECT_EQ(ParseUnsigned("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(ParseUnsigned("18446744073709551616"));
  EXPECT_FALSE(ParseUnsigned("-1"));
}

TEST(ExactParseTest, DecimalsAreNeverRounded) {
  EXPECT_EQ(ParseDecimal("1.2", 12, 1), 12);
  EXPECT_EQ(ParseDecimal("1.20000", 12, 1), 12);
  EXPECT_FALSE(ParseDecimal("1.25", 12, 1)) << "DuckDB loads it as 1.3";
  EXPECT_EQ(ParseDecimal("-7.5", 12, 1), -75);
  EXPECT_EQ(ParseDecimal("12345678901.9", 12, 1), 123456789019);
  EXPECT_FALSE(ParseDecimal("123456789012.0", 12, 1)) << "12 integer digits in DECIMAL(12,1)";
  EXPECT_EQ(ParseDecimal("1.5e2", 12, 1), 1500);
  EXPECT_EQ(ParseDecimal("15e-1", 12, 1), 15);
  EXPECT_FALSE(ParseDecimal("15e-2", 12, 1));
  EXPECT_EQ(ParseDecimal("0", 12, 1), 0);
  EXPECT_EQ(ParseDecimal(".5", 4, 2), 50);
  EXPECT_FALSE(ParseDecimal("abc", 12, 1));
  EXPECT_FALSE(ParseDecimal("1.2.3", 12, 1));
  __int128 big = ParseDecimal("9999999999999999999999999999.9999999999", 38, 10).value();
  __int128 want = 0;
  for (int i = 0; i < 38; i++) want = want * 10 + 9;
  EXPECT_TRUE(big == want);
  EXPECT_FALSE(ParseDecimal("1.00000000000000000000000000000000000000001", 38, 10));
}

TEST(ExactParseTest, FloatsMustRoundTrip) {
  EXPECT_EQ(ParseDouble("0.1"), 0.1);
  EXPECT_EQ(ParseDouble("0.30000000000000004"), 0.30000000000000004);
  EXPECT_FALSE(ParseDouble("0.30000000000000001")) << "reads as 0.3, a different number";
  EXPECT_FALSE(ParseDouble("9007199254740993"));
  EXPECT_EQ(ParseDouble("9007199254740992"), 9007199254740992.0);
  EXPECT_FALSE(ParseDouble("1e400"));
  EXPECT_FALSE(ParseDouble("1e-400"));
  EXPECT_EQ(ParseDouble("+2.5e3"), 2500.0);
  EXPECT_EQ(ParseDouble("-0"), 0.0);
  EXPECT_TRUE(std::isinf(ParseDouble("-Infinity").value()));
  EXPECT_TRUE(std::isnan(ParseDouble("NaN").value()));
  EXPECT_FALSE(ParseDouble("0x1p3"));
  EXPECT_EQ(ParseFloat("0.1"), 0.1f);
  EXPECT_EQ(ParseFloat("16777216"), 16777216.0f);
  EXPECT_FALSE(ParseFloat("16777217"));
  EXPECT_EQ(ParseFloat("3.4028235e38"), 3.4028235e38f);
  EXPECT_FALSE(ParseFloat("1e39"));
  EXPECT_FALSE(ParseFloat("1.5e-45")) << "a subnormal whose shortest text is 1e-45";
  EXPECT_EQ(ParseFloat("1.0000001"), 1.0000001f);
}

TEST(ExactParseTest, DatesAndTimesKeepEveryDigitOrAreRefused) {
  EXPECT_EQ(ParseDate("1970-01-02"), 1);
  EXPECT_EQ(ParseDate("2024/02/29"), ParseDate("2024-02-29"));
  EXPECT_FALSE(ParseDate("2023-02-29"));
  EXPECT_FALSE(ParseDate("2024-02-30"));
  EXPECT_FALSE(ParseDate("2024-01-01 10:00:00")) << "the time would be dropped";
  EXPECT_EQ(ParseDate("2024-01-01 00:00:00"), ParseDate("2024-01-01"));
  EXPECT_FALSE(ParseDate("2024-01/01"));
  EXPECT_FALSE(ParseDate("2024-01-011"));
  EXPECT_FALSE(ParseDate("0000-01-01"));
  EXPECT_EQ(ParseDate("2024-1-5"), ParseDate("2024-01-05"));
  EXPECT_EQ(ParseTime("10:00:00.123456"), 36000123456);
  EXPECT_FALSE(ParseTime("10:00:00.1234567"));
  EXPECT_EQ(ParseTime("10:00:00.1234560"), 36000123456);
  EXPECT_EQ(ParseTime("24:00:00"), 86400000000);
  EXPECT_FALSE(ParseTime("24:00:01"));
  EXPECT_EQ(ParseTime("10:30"), 37800000000);
  EXPECT_FALSE(ParseTime("10:30.5"));
  EXPECT_FALSE(ParseTime("10:00:001"));
  EXPECT_FALSE(ParseTime("1:00:00:00"));
  EXPECT_EQ(ParseTime("9:05:01"), 32701000000);
  const int64_t day_us = 86400LL * 1000000;
  EXPECT_EQ(ParseTimestamp("1970-01-02 00:00:00", 6, false), day_us);
  EXPECT_EQ(ParseTimestamp("1970-01-02T00:00:00.5", 6, false), day_us + 500000);
  EXPECT_FALSE(ParseTimestamp("2024-01-01 10:00:00.1234567", 6, false));
  EXPECT_EQ(ParseTimestamp("1970-01-01 00:00:01.5", 3, false), 1500);
  EXPECT_FALSE(ParseTimestamp("1970-01-01 00:00:01.5", 0, false)) << "TIMESTAMP_S would round it";
  EXPECT_EQ(ParseTimestamp("1970-01-01 00:00:01", 0, false), 1);
  EXPECT_EQ(ParseTimestamp("1970-01-02", 6, false), day_us);
  EXPECT_EQ(ParseTimestamp("1970-01-02 00:00:00Z", 6, false), day_us);
  EXPECT_EQ(ParseTimestamp("1970-01-02 00:00:00+00:00", 6, false), day_us);
  EXPECT_FALSE(ParseTimestamp("1970-01-02 02:00:00+02", 6, false)) << "the offset would be lost";
  EXPECT_EQ(ParseTimestamp("1970-01-02 02:00:00+02", 6, true), day_us);
  EXPECT_EQ(ParseTimestamp("1970-01-01 22:00:00-0200", 6, true), day_us);
  EXPECT_FALSE(ParseTimestamp("1970-01-02 00:00:00 Europe/Berlin", 6, true));
  EXPECT_FALSE(ParseTimestamp("yesterday", 6, false));
}

}  // namespace
}  // namespace sluice::engine::exact
