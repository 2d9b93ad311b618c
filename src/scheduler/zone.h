#pragma once

// An IANA time zone from the system's zoneinfo files, for schedules.
//
// Howard Hinnant's date library (with USE_OS_TZDB) reads the transitions a TZif file lists and
// keeps the last offset forever after them; Debian's files list transitions up to 2037 and
// leave the rest to the POSIX TZ rule at the file's end ("CET-1CEST,M3.5.0,M10.5.0/3"). Zone
// answers from the date library up to the last listed transition and from that rule after it,
// as the C library and Python's zoneinfo do, so a schedule keeps its daylight-saving changes
// in 2038 and later.
//
// Thread-safe: zones are immutable and live for the process.

#include <date/tz.h>

#include <optional>
#include <string>

namespace sluice::scheduler {

class Zone {
 public:
  // The zone named name, or nullptr when the system does not know it.
  static const Zone* Locate(const std::string& name);

  date::sys_info get_info(date::sys_seconds t) const;
  date::local_info get_info(date::local_seconds l) const;
  date::local_seconds to_local(date::sys_seconds t) const {
    return date::local_seconds{t.time_since_epoch() + get_info(t).offset};
  }

  // The POSIX TZ rule after the last listed transition ("" when the file has none).
  const std::string& rule_text() const { return rule_text_; }

  // The rule of a POSIX TZ string, as used after the listed transitions. Public for tests.
  struct Rule {
    std::string std_abbrev, dst_abbrev;
    std::chrono::seconds std_offset{0};  // east of UTC, as in sys_info
    std::chrono::seconds dst_offset{0};
    bool has_dst = false;
    // A transition date: Mm.w.d (kind 'M'), Jn (kind 'J', 1-365 without Feb 29), n (kind 'n',
    // 0-365), and the local time of day it happens at (may be negative or past 24h).
    struct When {
      char kind = 'M';
      int month = 0, week = 0, weekday = 0, day = 0;
      std::chrono::seconds time{7200};
    } start, end;
  };
  static std::optional<Rule> ParseRule(const std::string& text);

 private:
  Zone(const date::time_zone* tz, std::string rule_text, std::optional<Rule> rule);
  // The range of the rule holding t (t after the listed transitions).
  date::sys_info RuleInfo(date::sys_seconds t) const;

  const date::time_zone* tz_;
  std::string rule_text_;
  std::optional<Rule> rule_;
  date::sys_seconds listed_end_;  // the last listed transition; the rule applies after it
};

}  // namespace sluice::scheduler
