#pragma once

// When a pipeline runs and what each run covers, as Airflow defines it (docs/scheduling.md):
// a schedule's fire times cut time into data intervals; the run for the interval
// [start, end) starts at `end`, and its logical date is `start` (ds is its date in the
// pipeline's time zone). A daily "0 2 * * *" in Europe/Berlin runs at 2026-11-22 02:00 for
// ds 2026-11-21, the interval [2026-11-21 02:00, 2026-11-22 02:00).
//
// Cron times are wall-clock times in the pipeline's zone. At a daylight-saving change a
// schedule that fires at most once a day fires exactly once on every day: a time in the
// spring gap fires at the end of the gap, a time in the autumn's repeated hour fires at its
// first occurrence. A schedule that fires several times a day fires at every wall-clock time
// that exists, once for each time it occurs (docs/scheduling.md has the table).
//
// Thread-safe: a Schedule is immutable after Parse.

#include <chrono>
#include <optional>
#include <string>

#include "common/time.h"
#include "scheduler/cron.h"
#include "scheduler/zone.h"

namespace sluice::scheduler {

using Instant = std::chrono::sys_seconds;

struct Interval {
  Instant start;
  Instant end;
  bool operator==(const Interval& o) const { return start == o.start && end == o.end; }
};

// One run of a schedule, described for the runner, the state store and people.
struct RunInfo {
  Interval interval;
  Date ds;                  // the logical date: the interval's start, as a date in the zone
  std::string run_key;      // Schedule::RunKey
  std::string start_local;  // "2026-11-21T02:00:00", wall time in the zone (SQL templates)
  std::string end_local;
  std::string start_iso;  // "2026-11-21T02:00:00+01:00"
  std::string end_iso;
};

class Schedule {
 public:
  // Parses a pipeline's schedule: a cron expression or preset ("0 2 * * *", "@daily"), "every
  // <duration>" (a fixed period from start_date's midnight), "@once" (one run, for
  // start_date), or "" / "none" (runs only when asked). Returns nullopt with *error naming
  // the problem (an unknown time zone included).
  static std::optional<Schedule> Parse(const std::string& text, const std::string& timezone,
                                       std::optional<Date> start_date, std::string* error);

  bool Scheduled() const { return kind_ != Kind::kNone; }
  bool SubDaily() const;

  // The first fire time strictly after `after`, or nullopt when there is none.
  std::optional<Instant> NextFire(Instant after) const;
  // The last fire time strictly before `before`, or nullopt.
  std::optional<Instant> PrevFire(Instant before) const;
  // The data interval that ends at fire time `fire`: [the fire before it, fire).
  Interval IntervalEndingAt(Instant fire) const;
  // The first interval whose logical date (start) lies on ds, or nullopt when none does (a
  // weekly schedule on another weekday). Without a schedule: the day itself, midnight to
  // midnight in the zone.
  std::optional<Interval> IntervalOn(Date ds) const;

  // The interval of a run key (RunKey's format; a date alone for the first interval on that
  // date), or nullopt when the schedule has no such run.
  std::optional<Interval> IntervalForKey(const std::string& key) const;
  // The latest interval that has ended by now (its run is due), or nullopt.
  std::optional<Interval> LatestEndedBy(Instant now) const;
  // The first interval that starts at or after from (start_date's midnight for a scheduler).
  std::optional<Interval> FirstIntervalFrom(Instant from) const;
  // The interval after i.
  std::optional<Interval> NextInterval(const Interval& i) const;
  RunInfo Describe(const Interval& i) const;
  // The whole day ds, midnight to midnight in the zone, as a run keyed ds (a manual run on a
  // date that is not one of the schedule's).
  Interval Day(Date ds) const;

  // The logical date: the date of the interval's start in the zone.
  Date LogicalDate(const Interval& i) const;
  // What identifies a run: ds, and for schedules that fire several times a day the local time
  // of the interval's start too ("2026-11-21T06:00", with seconds when they are not 0, and a
  // "b" after the second of a repeated autumn time).
  std::string RunKey(const Interval& i) const;
  // Parses a time for people: "2026-11-21" (midnight in the zone), "2026-11-21T06:00[:SS]"
  // (wall time in the zone; in a spring gap, the gap's end; repeated, the first), or either
  // with "Z" or an offset ("+01:00"). nullopt when malformed.
  std::optional<Instant> ParseTime(const std::string& text) const;
  // An instant as an ISO 8601 local time with its UTC offset: "2026-11-22T02:00:00+01:00".
  std::string Format(Instant t) const;
  // Midnight at the start of a date in the zone (the first instant of that day).
  Instant StartOfDay(Date d) const;

  // start_date's midnight (every:, @once), or the epoch.
  Instant anchor() const { return anchor_; }
  bool Once() const { return kind_ == Kind::kOnce; }
  // The cron expression of a cron schedule, else null; the period of an every: schedule.
  const CronExpr* cron() const { return cron_ ? &*cron_ : nullptr; }
  std::chrono::seconds every() const { return every_; }

  const std::string& timezone() const { return timezone_; }
  const std::string& text() const { return text_; }

 private:
  enum class Kind { kNone, kCron, kEvery, kOnce };

  // The instant a wall-clock minute fires at, given the instant it must come after (see the
  // DST rules above); nullopt when that minute does not fire (a repeated or skipped time).
  std::optional<Instant> FireAt(const LocalMinute& m, Instant after, bool forward) const;
  LocalMinute ToLocal(Instant t) const;

  Kind kind_ = Kind::kNone;
  std::string text_;
  std::string timezone_;
  const Zone* zone_ = nullptr;
  std::optional<CronExpr> cron_;
  std::chrono::seconds every_{0};
  Instant anchor_{};  // kEvery and kOnce: start_date's midnight
};

// Now, as an Instant (whole seconds).
Instant Now();

}  // namespace sluice::scheduler
