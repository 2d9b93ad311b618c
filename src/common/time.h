#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// The proleptic Gregorian calendar (Howard Hinnant's days_from_civil / civil_from_days), for
// every year DuckDB, MySQL and PostgreSQL can hold, year 0 included.
struct CivilDate {
  int64_t year;
  unsigned month;
  unsigned day;
};

// Days since 1970-01-01 of a date.
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// The date `z` days after 1970-01-01.
constexpr CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(0, 1, 1) == -719528);
static_assert(CivilFromDays(DaysFromCivil(2024, 2, 29)).day == 29);

// A calendar date (proleptic Gregorian), stored as days since 1970-01-01.
struct Date {
  int32_t days = 0;

  // Parses "YYYY-MM-DD"; returns nullopt when malformed or not a real date.
  static std::optional<Date> Parse(std::string_view text);
  // Today's date in UTC.
  static Date TodayUtc();
  // Today's date in an IANA time zone such as Europe/Berlin. Changes the process's TZ for the
  // duration of the call: call it before starting threads.
  static Date TodayIn(const std::string& timezone);

  std::string ToString() const;  // "2026-11-21"
  std::string NoDash() const;    // "20261121"
  Date AddDays(int32_t n) const { return Date{days + n}; }
  // True for the dates a run can be for: 0001-01-02 to 9999-12-30, so that the day before and
  // the day after (prev_ds, next_ds) are dates of four-digit years too.
  bool IsLogicalDate() const;
  bool operator==(const Date& o) const { return days == o.days; }
  bool operator<(const Date& o) const { return days < o.days; }
};

// Parses a duration: "500ms", "30s", "5m", "1h", "1h30m", "2d", or a bare number of seconds.
// Returns nullopt when malformed.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);
std::string FormatDuration(std::chrono::milliseconds d);

// The current UTC time as "2026-11-21T05:01:36.123Z".
std::string NowIso();
// Seconds since an arbitrary steady epoch, for measuring elapsed time.
double SteadySeconds();

}  // namespace sluice
