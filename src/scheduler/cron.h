#pragma once

// Cron expressions: the five fields of Vixie cron (minute hour day-of-month month day-of-week)
// with ranges, steps, lists and names, plus L (last day of the month; 5L the last Friday),
// W (15W the weekday nearest the 15th; LW the last weekday) and # (1#2 the second Monday), and
// the presets @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually.
//
// A CronExpr matches local wall-clock times; turning them into instants in a time zone (and
// what a daylight-saving change does) is the schedule's job (scheduler/schedule.h).

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::scheduler {

// A wall-clock time without a zone, to the minute.
struct LocalMinute {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  int hour = 0;
  int minute = 0;
  bool operator<(const LocalMinute& o) const;
  bool operator==(const LocalMinute& o) const;
  std::string ToString() const;  // "2026-11-21T02:00"
};

class CronExpr {
 public:
  // Parses an expression or preset; nullopt with *error saying which field is wrong and why.
  static std::optional<CronExpr> Parse(const std::string& text, std::string* error);

  // The first wall-clock minute strictly after `after` that matches, or nullopt when none
  // comes within about 50 years (an expression like "0 0 30 2 *").
  std::optional<LocalMinute> Next(const LocalMinute& after) const;
  // The last matching minute strictly before `before`, or nullopt within about 50 years.
  std::optional<LocalMinute> Prev(const LocalMinute& before) const;
  bool Matches(const LocalMinute& t) const;

  // True when the expression fires more than once on some day (its minute or hour field has
  // more than one value).
  bool SubDaily() const;
  // True when the hour field allows every hour.
  bool AllHours() const { return hours_.count() == 24; }
  // True when it uses L, W or # (which Vixie cron and cronie do not know).
  bool Extended() const {
    return last_day_ || !nearest_weekday_.empty() || last_weekday_ || !last_dow_.empty() ||
           !nth_dow_.empty();
  }
  const std::string& text() const { return text_; }

 private:
  bool DayMatches(int year, int month, int day) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<8> weekdays_;  // 0..6, Sunday = 0
  bool dom_star_ = true, dow_star_ = true;
  bool last_day_ = false;                     // L in day-of-month
  int last_day_offset_ = 0;                   // L-3: three days before the last
  std::vector<int> nearest_weekday_;          // 15W: days whose nearest weekday matches
  bool last_weekday_ = false;                 // LW
  std::vector<int> last_dow_;                 // 5L: the last Friday of the month
  std::vector<std::pair<int, int>> nth_dow_;  // 1#2: (weekday, n)
};

// Days since 1970-01-01 of a civil date, and the weekday (0 = Sunday) of a date.
int64_t DaysOf(int year, int month, int day);
int WeekdayOf(int year, int month, int day);
int DaysInMonth(int year, int month);

}  // namespace sluice::scheduler
