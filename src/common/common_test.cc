#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/cancel.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"

namespace sluice {
namespace {

TEST(DateTest, ParsesAndFormats) {
  auto d = Date::Parse("2026-11-21");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->ToString(), "2026-11-21");
  EXPECT_EQ(d->NoDash(), "20261121");
  EXPECT_EQ(d->AddDays(10).ToString(), "2026-12-01");
  EXPECT_EQ(d->AddDays(-326).ToString(), "2025-12-30");
  EXPECT_EQ(Date::Parse("1970-01-01")->days, 0);
}

TEST(DateTest, RejectsImpossibleDates) {
  EXPECT_FALSE(Date::Parse("2026-02-29"));
  EXPECT_TRUE(Date::Parse("2024-02-29"));
  EXPECT_FALSE(Date::Parse("2026-13-01"));
  EXPECT_FALSE(Date::Parse("2026-1-01"));
  EXPECT_FALSE(Date::Parse("21/11/2026"));
  EXPECT_FALSE(Date::Parse(""));
}

TEST(DurationTest, ParsesUnitsAndCombinations) {
  EXPECT_EQ(ParseDuration("30s")->count(), 30000);
  EXPECT_EQ(ParseDuration("5m")->count(), 300000);
  EXPECT_EQ(ParseDuration("1h30m")->count(), 5400000);
  EXPECT_EQ(ParseDuration("250ms")->count(), 250);
  EXPECT_EQ(ParseDuration("2d")->count(), 2 * 86400000LL);
  EXPECT_EQ(ParseDuration("45")->count(), 45000);
  EXPECT_FALSE(ParseDuration("5 minutes"));
  EXPECT_FALSE(ParseDuration("h"));
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(3600000)), "1h");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(1500)), "1500ms");
}

TEST(StringsTest, QuotesSqlLiteralsAndIdentifiers) {
  EXPECT_EQ(SqlLiteral("it's"), "'it''s'");
  EXPECT_EQ(SqlIdentifier("my \"col\""), "\"my \"\"col\"\"\"");
}

TEST(StringsTest, SplitsTrimsJoins) {
  EXPECT_EQ(Split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(Trim("  x y \r\n"), "x y");
  EXPECT_EQ(Join({"a", "b"}, ", "), "a, b");
  EXPECT_TRUE(IsIdentifier("raw_1"));
  EXPECT_FALSE(IsIdentifier("1raw"));
  EXPECT_FALSE(IsIdentifier("a-b"));
}

TEST(StringsTest, SuggestsTheClosestName) {
  EXPECT_EQ(ClosestMatch("shedule", {"schedule", "timezone"}), "schedule");
  EXPECT_EQ(ClosestMatch("zzzzzz", {"schedule", "timezone"}), "");
}

TEST(StringsTest, FormatsHumanNumbers) {
  EXPECT_EQ(HumanCount(1234567), "1,234,567");
  EXPECT_EQ(HumanCount(12), "12");
  EXPECT_EQ(HumanBytes(1500000), "1.5 MB");
  EXPECT_EQ(HumanSeconds(75), "1m15s");
}

TEST(StringsTest, ParsesSizes) {
  EXPECT_EQ(ParseBytes("500000"), 500000u);
  EXPECT_EQ(ParseBytes("64MB"), 64000000u);
  EXPECT_EQ(ParseBytes("1.5 GB"), 1500000000u);
  EXPECT_EQ(ParseBytes("512KiB"), 524288u);
  EXPECT_EQ(ParseBytes("2gib"), 2147483648u);
  EXPECT_EQ(ParseBytes("MB"), std::nullopt);
  EXPECT_EQ(ParseBytes("1.2.3MB"), std::nullopt);
  EXPECT_EQ(ParseBytes("10 parsecs"), std::nullopt);
  EXPECT_EQ(ParseBytes("99999999999TB"), std::nullopt);  // beyond 64 bits: no wrap
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  // The CRC-32C check value from RFC 3720, appendix B.4.
  EXPECT_EQ(Crc32cExtend(0, "123456789", 9), 0xE3069283u);
  uint32_t split = Crc32cExtend(Crc32cExtend(0, "1234", 4), "56789", 5);
  EXPECT_EQ(split, 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32cExtend(0, zeros.data(), zeros.size()), 0x8A9136AAu);
}

TEST(CancelTokenTest, RunsCallbacksOnceAndWakesSleepers) {
  CancelToken token;
  int calls = 0;
  token.OnCancel([&] { calls++; });
  // Cancelled while the sleeper sleeps: it must wake then, not when its 10s are over.
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    token.Cancel("stop");
  });
  auto start = std::chrono::steady_clock::now();
  bool slept_fully = token.SleepFor(std::chrono::seconds(10));
  auto slept = std::chrono::steady_clock::now() - start;
  t.join();
  EXPECT_FALSE(slept_fully);
  EXPECT_GE(slept, std::chrono::milliseconds(90));
  EXPECT_LT(slept, std::chrono::seconds(2)) << "the sleeper was not woken by Cancel";
  token.Cancel("again");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(token.reason(), "stop");
  EXPECT_THROW(token.ThrowIfCancelled(), Error);
  int late = 0;
  token.OnCancel([&] { late++; });
  EXPECT_EQ(late, 1);
}

TEST(CancelTokenTest, RemovedCallbackDoesNotRun) {
  CancelToken token;
  int calls = 0;
  int id = token.OnCancel([&] { calls++; });
  token.RemoveOnCancel(id);
  token.Cancel("x");
  EXPECT_EQ(calls, 0);
}

// What a callback uses may live on the stack of the thread that removes it (a gRPC request's
// context): RemoveOnCancel returns only once a running callback has returned.
TEST(CancelTokenTest, RemoveWaitsForARunningCallback) {
  CancelToken token;
  std::atomic<bool> started{false}, finished{false};
  int id = token.OnCancel([&] {
    started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    finished = true;
  });
  std::thread canceller([&] { token.Cancel("stop"); });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  token.RemoveOnCancel(id);
  EXPECT_TRUE(finished) << "RemoveOnCancel returned while the callback was still running";
  canceller.join();
}

}  // namespace
}  // namespace sluice
