#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

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
