#include "scheduler/schedule.h"

#include <gtest/gtest.h>

namespace sluice::scheduler {
namespace {

Schedule Make(const std::string& text, const std::string& tz, const char* start = nullptr) {
  std::string error;
  std::optional<Date> d;
  if (start) d = Date::Parse(start);
  auto s = Schedule::Parse(text, tz, d, &error);
  EXPECT_TRUE(s) << error;
  return *s;
}

Instant At(const Schedule& s, const std::string& text) {
  auto t = s.ParseTime(text);
  EXPECT_TRUE(t) << text;
  return *t;
}

TEST(ScheduleTest, DailyIntervalAndRunKey) {
  auto s = Make("0 2 * * *", "Europe/Berlin");
  auto fire = s.NextFire(At(s, "2026-11-21T12:00"));
  ASSERT_TRUE(fire);
  EXPECT_EQ(s.Format(*fire), "2026-11-22T02:00:00+01:00");
  auto i = s.IntervalEndingAt(*fire);
  EXPECT_EQ(s.Format(i.start), "2026-11-21T02:00:00+01:00");
  EXPECT_EQ(s.RunKey(i), "2026-11-21");
  auto r = s.Describe(i);
  EXPECT_EQ(r.start_local, "2026-11-21T02:00:00");
  EXPECT_EQ(r.ds.ToString(), "2026-11-21");
}

// Spring: 02:30 does not exist on 2026-03-29 in Berlin; the daily run fires at the gap's end,
// once. Autumn: 02:30 occurs twice on 2026-10-25; it fires at the first, once.
TEST(ScheduleTest, DailyAcrossDaylightSavingFiresOncePerDay) {
  auto s = Make("30 2 * * *", "Europe/Berlin");
  std::vector<std::string> fires;
  auto f = s.NextFire(At(s, "2026-03-27"));
  for (int i = 0; i < 4; i++, f = s.NextFire(*f)) fires.push_back(s.Format(*f));
  EXPECT_EQ(fires,
            (std::vector<std::string>{"2026-03-27T02:30:00+01:00", "2026-03-28T02:30:00+01:00",
                                      "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"}));
  fires.clear();
  f = s.NextFire(At(s, "2026-10-24"));
  for (int i = 0; i < 3; i++, f = s.NextFire(*f)) fires.push_back(s.Format(*f));
  EXPECT_EQ(fires,
            (std::vector<std::string>{"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00",
                                      "2026-10-26T02:30:00+01:00"}));
}

TEST(ScheduleTest, HourlyRunKeysTellRepeatedHoursApart) {
  auto s = Make("30 * * * *", "Europe/Berlin");
  auto f = s.NextFire(At(s, "2026-10-25T01:45"));
  std::vector<std::string> keys;
  for (int i = 0; i < 3; i++, f = s.NextFire(*f)) keys.push_back(s.RunKey(s.IntervalEndingAt(*f)));
  EXPECT_EQ(keys, (std::vector<std::string>{"2026-10-25T01:30", "2026-10-25T02:30",
                                            "2026-10-25T02:30b"}));
  auto i = s.IntervalForKey("2026-10-25T02:30b");
  ASSERT_TRUE(i);
  EXPECT_EQ(s.Format(i->start), "2026-10-25T02:30:00+01:00");
}

TEST(ScheduleTest, EveryIsAnchoredAtStartDate) {
  auto s = Make("every 6h", "UTC", "2026-11-01");
  auto f = s.NextFire(At(s, "2026-11-03T07:00Z"));
  EXPECT_EQ(s.Format(*f), "2026-11-03T12:00:00+00:00");
  EXPECT_EQ(s.Format(*s.PrevFire(*f)), "2026-11-03T06:00:00+00:00");
  EXPECT_EQ(s.RunKey(s.IntervalEndingAt(*f)), "2026-11-03T06:00");
  auto secs = Make("every 10s", "UTC", "2026-11-01");
  auto g = secs.NextFire(At(secs, "2026-11-01T00:00:05Z"));
  EXPECT_EQ(secs.RunKey(secs.IntervalEndingAt(*g)), "2026-11-01T00:00");
  EXPECT_EQ(secs.RunKey(secs.IntervalEndingAt(*secs.NextFire(*g))), "2026-11-01T00:00:10");
}

TEST(ScheduleTest, ParseTimeForms) {
  auto s = Make("@daily", "America/New_York");
  EXPECT_EQ(s.Format(At(s, "2026-03-08")), "2026-03-08T00:00:00-05:00");
  EXPECT_EQ(s.Format(At(s, "2026-03-08T02:30")), "2026-03-08T03:00:00-04:00");  // the gap
  EXPECT_EQ(s.Format(At(s, "2026-11-01T01:30")), "2026-11-01T01:30:00-04:00");  // first
  EXPECT_EQ(s.Format(At(s, "2026-11-01T06:30:00Z")), "2026-11-01T01:30:00-05:00");
  EXPECT_EQ(s.Format(At(s, "2026-11-01T01:30:00-05:00")), "2026-11-01T01:30:00-05:00");
  EXPECT_FALSE(s.ParseTime("2026-11-01T25:00"));
  EXPECT_FALSE(s.ParseTime("yesterday"));
}

TEST(ScheduleTest, LatestEndedByAndWeeklyIntervalOn) {
  auto s = Make("0 6 * * 1", "UTC");                          // Mondays
  auto latest = s.LatestEndedBy(At(s, "2026-12-06T00:00Z"));  // a Sunday
  ASSERT_TRUE(latest);
  EXPECT_EQ(s.RunKey(*latest), "2026-11-23");
  EXPECT_EQ(s.Format(latest->end), "2026-11-30T06:00:00+00:00");
  EXPECT_FALSE(s.IntervalOn(*Date::Parse("2026-11-24")));  // a Tuesday
  EXPECT_TRUE(s.IntervalOn(*Date::Parse("2026-11-30")));
}

}  // namespace
}  // namespace sluice::scheduler
