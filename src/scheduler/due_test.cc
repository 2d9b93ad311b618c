#include "scheduler/due.h"

#include <gtest/gtest.h>

#include <map>

namespace sluice::scheduler {
namespace {

struct Fixture {
  Schedule schedule;
  std::map<std::string, KeyState> states;  // run key -> state; missing = not run

  std::function<KeyState(const Interval&)> State() {
    return [this](const Interval& i) {
      auto it = states.find(schedule.RunKey(i));
      return it == states.end() ? KeyState::kNotRun : it->second;
    };
  }
  std::vector<std::string> Keys(const std::vector<Interval>& v) {
    std::vector<std::string> out;
    for (const auto& i : v) out.push_back(schedule.RunKey(i));
    return out;
  }
};

Schedule Daily() {
  std::string e;
  return *Schedule::Parse("0 2 * * *", "Europe/Berlin", Date::Parse("2026-11-01"), &e);
}

Instant At(const Schedule& s, const std::string& t) { return *s.ParseTime(t); }

TEST(DueTest, CatchupRunsMissedIntervalsOldestFirstUpToMaxActiveRuns) {
  Fixture f{Daily(), {}};
  DueInputs in{&f.schedule, Date::Parse("2026-11-01"), std::nullopt, true, 2, {}};
  DuePlanner p(in);
  Instant now = At(f.schedule, "2026-11-05T03:00");  // 11-01 .. 11-04 have ended
  EXPECT_EQ(f.Keys(p.Due(now, f.State(), {}, 0, true)),
            (std::vector<std::string>{"2026-11-01", "2026-11-02"}));
  f.states["2026-11-01"] = KeyState::kFinished;
  f.states["2026-11-02"] = KeyState::kActive;
  EXPECT_EQ(f.Keys(p.Due(now, f.State(), {"2026-11-02"}, 1, false)),
            (std::vector<std::string>{"2026-11-03"}));
  // A slot for each active run is taken: none left.
  EXPECT_TRUE(p.Due(now, f.State(), {"2026-11-02", "2026-11-03"}, 2, false).empty());
}

TEST(DueTest, WithoutCatchupOnlyTheLatestRuns) {
  Fixture f{Daily(), {}};
  DueInputs in{&f.schedule, Date::Parse("2026-11-01"), std::nullopt, false, 4, {}};
  DuePlanner p(in);
  Instant now = At(f.schedule, "2026-11-05T03:00");
  EXPECT_EQ(f.Keys(p.Due(now, f.State(), {}, 0, true)), (std::vector<std::string>{"2026-11-04"}));
  f.states["2026-11-04"] = KeyState::kFinished;
  EXPECT_TRUE(p.Due(now, f.State(), {}, 0, true).empty());
}

TEST(DueTest, EndDateAndClearedRunsBeforeTheCursor) {
  Fixture f{Daily(), {}};
  DueInputs in{&f.schedule, Date::Parse("2026-11-01"), Date::Parse("2026-11-02"), true, 5, {}};
  DuePlanner p(in);
  Instant now = At(f.schedule, "2026-11-09T03:00");
  EXPECT_EQ(f.Keys(p.Due(now, f.State(), {}, 0, true)),
            (std::vector<std::string>{"2026-11-01", "2026-11-02"}));
  f.states["2026-11-01"] = KeyState::kFinished;
  f.states["2026-11-02"] = KeyState::kFinished;
  EXPECT_TRUE(p.Due(now, f.State(), {}, 0, false).empty());
  // Cleared (not run again) behind the cursor: the next full walk finds it.
  f.states.erase("2026-11-01");
  EXPECT_EQ(f.Keys(p.Due(now, f.State(), {}, 0, true)), (std::vector<std::string>{"2026-11-01"}));
}

TEST(DueTest, WithoutStartDateTheLatestIntervalAtFirstSightRunsFirst) {
  std::string e;
  auto s = *Schedule::Parse("0 2 * * *", "UTC", std::nullopt, &e);
  Fixture f{s, {}};
  DueInputs in{
      &f.schedule, std::nullopt, std::nullopt, true, 5, At(f.schedule, "2026-11-10T12:00Z")};
  DuePlanner p(in);
  EXPECT_EQ(f.Keys(p.Due(At(f.schedule, "2026-11-12T03:00Z"), f.State(), {}, 0, true)),
            (std::vector<std::string>{"2026-11-09", "2026-11-10", "2026-11-11"}));
}

TEST(DueTest, NeverTwoRunsOfOneDate) {
  std::string e;
  auto s = *Schedule::Parse("0 */6 * * *", "UTC", Date::Parse("2026-11-01"), &e);
  Fixture f{s, {}};
  DueInputs in{&f.schedule, Date::Parse("2026-11-01"), std::nullopt, true, 3, {}};
  DuePlanner p(in);
  // Four intervals of 11-01 have ended and one of 11-02: one run per date at a time.
  EXPECT_EQ(f.Keys(p.Due(At(f.schedule, "2026-11-02T06:00Z"), f.State(), {}, 0, true)),
            (std::vector<std::string>{"2026-11-01T00:00", "2026-11-02T00:00"}));
}

}  // namespace
}  // namespace sluice::scheduler
