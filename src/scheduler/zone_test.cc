#include "scheduler/zone.h"

#include <gtest/gtest.h>

#include "scheduler/schedule.h"

namespace sluice::scheduler {
namespace {

TEST(ZoneTest, ParsesPosixRules) {
  auto r = Zone::ParseRule("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->std_offset.count(), 3600);
  EXPECT_EQ(r->dst_offset.count(), 7200);
  EXPECT_EQ(r->start.month, 3);
  EXPECT_EQ(r->end.time.count(), 3 * 3600);
  auto lh = Zone::ParseRule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  ASSERT_TRUE(lh);
  EXPECT_EQ(lh->std_offset.count(), 10 * 3600 + 1800);
  EXPECT_EQ(lh->dst_offset.count(), 11 * 3600);
  auto havana = Zone::ParseRule("CST5CDT,M3.2.0/0,M11.1.0/1");
  ASSERT_TRUE(havana);
  EXPECT_EQ(havana->start.time.count(), 0);
  auto fixed = Zone::ParseRule("<+0530>-5:30");
  ASSERT_TRUE(fixed);
  EXPECT_FALSE(fixed->has_dst);
  EXPECT_FALSE(Zone::ParseRule("CET-1CEST,M13.5.0,M10.5.0"));
  EXPECT_FALSE(Zone::ParseRule(""));
}

std::string Fmt(const std::string& zone, const std::string& instant) {
  std::string e;
  auto s = Schedule::Parse("@daily", zone, std::nullopt, &e);
  return s->Format(*s->ParseTime(instant));
}

// After the transitions a TZif file lists (2037 in Debian's), the file's rule goes on.
TEST(ZoneTest, DaylightSavingContinuesAfter2037) {
  EXPECT_EQ(Fmt("Europe/Berlin", "2038-07-01T12:00:00Z"), "2038-07-01T14:00:00+02:00");
  EXPECT_EQ(Fmt("Europe/Berlin", "2038-12-01T12:00:00Z"), "2038-12-01T13:00:00+01:00");
  EXPECT_EQ(Fmt("Europe/Berlin", "2050-03-27T00:59:59Z"), "2050-03-27T01:59:59+01:00");
  EXPECT_EQ(Fmt("Europe/Berlin", "2050-03-27T01:00:00Z"), "2050-03-27T03:00:00+02:00");
  EXPECT_EQ(Fmt("America/New_York", "2040-07-01T12:00:00Z"), "2040-07-01T08:00:00-04:00");
  EXPECT_EQ(Fmt("Australia/Lord_Howe", "2038-10-02T12:00:00Z"), "2038-10-02T22:30:00+10:30");
  EXPECT_EQ(Fmt("Australia/Lord_Howe", "2039-01-02T12:00:00Z"), "2039-01-02T23:00:00+11:00");
  // Local times: a gap moves to its end, a repeated time is its first occurrence.
  EXPECT_EQ(Fmt("Europe/Berlin", "2038-03-28T02:30"), "2038-03-28T03:00:00+02:00");
  EXPECT_EQ(Fmt("Europe/Berlin", "2038-10-31T02:30"), "2038-10-31T02:30:00+02:00");
  EXPECT_EQ(Fmt("America/Havana", "2038-03-14T00:30"), "2038-03-14T01:00:00-04:00");
}

}  // namespace
}  // namespace sluice::scheduler
