#include "common/time.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace sluice {
namespace {

bool ParseDigits(std::string_view s, int* out) {
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return !s.empty();
}

}  // namespace

std::optional<Date> Date::Parse(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int y, m, d;
  if (!ParseDigits(text.substr(0, 4), &y) || !ParseDigits(text.substr(5, 2), &m) ||
      !ParseDigits(text.substr(8, 2), &d)) {
    return std::nullopt;
  }
  if (m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
  Date date{
      static_cast<int32_t>(DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d)))};
  // Rejects 2026-02-30 and friends: the round trip must give the same day.
  CivilDate c = CivilFromDays(date.days);
  if (c.year != y || static_cast<int>(c.month) != m || static_cast<int>(c.day) != d) {
    return std::nullopt;
  }
  return date;
}

Date Date::TodayUtc() {
  auto now = std::chrono::system_clock::now();
  auto days = std::chrono::duration_cast<std::chrono::hours>(now.time_since_epoch()).count() / 24;
  return Date{static_cast<int32_t>(days)};
}

Date Date::TodayIn(const std::string& timezone) {
  if (timezone.empty() || timezone == "UTC") return TodayUtc();
  const char* old = std::getenv("TZ");
  std::string saved = old ? old : "";
  setenv("TZ", timezone.c_str(), 1);
  tzset();
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  if (old) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
  return Date{static_cast<int32_t>(DaysFromCivil(
      tm.tm_year + 1900, static_cast<unsigned>(tm.tm_mon + 1), static_cast<unsigned>(tm.tm_mday)))};
}

bool Date::IsLogicalDate() const {
  return days > DaysFromCivil(1, 1, 1) && days < DaysFromCivil(9999, 12, 31);
}

std::string Date::ToString() const {
  CivilDate c = CivilFromDays(days);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(c.year), c.month,
                c.day);
  return buf;
}

std::string Date::NoDash() const {
  std::string s = ToString();
  return s.substr(0, 4) + s.substr(5, 2) + s.substr(8, 2);
}

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    size_t start = i;
    int64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i] - '0');
      if (value > 1000000000) return std::nullopt;
      i++;
    }
    if (i == start) return std::nullopt;
    std::string_view unit;
    size_t ustart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) i++;
    unit = text.substr(ustart, i - ustart);
    if (unit.empty()) {
      if (any || i != text.size()) return std::nullopt;
      unit = "s";
    }
    int64_t ms;
    if (unit == "ms") {
      ms = 1;
    } else if (unit == "s") {
      ms = 1000;
    } else if (unit == "m") {
      ms = 60 * 1000;
    } else if (unit == "h") {
      ms = 3600 * 1000;
    } else if (unit == "d") {
      ms = 24 * 3600 * 1000;
    } else {
      return std::nullopt;
    }
    total += value * ms;
    // Ten years is longer than any sensible timeout or delay, and far from overflow.
    if (total > int64_t{3650} * 24 * 3600 * 1000) return std::nullopt;
    any = true;
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  int64_t s = ms / 1000;
  if (s % 3600 == 0 && s > 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0 && s > 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

std::string NowIso() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace sluice
