#include "scheduler/schedule.h"

#include <date/tz.h>

#include <cstdio>

#include "common/strings.h"

namespace sluice::scheduler {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using LocalSeconds = date::local_seconds;

constexpr minutes kMinute{1};

LocalSeconds ToLocalSeconds(const LocalMinute& m) {
  return LocalSeconds{
      seconds{DaysOf(m.year, m.month, m.day) * 86400 + m.hour * 3600 + m.minute * 60}};
}

LocalMinute FromLocalSeconds(LocalSeconds l) {
  int64_t s = l.time_since_epoch().count();
  int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
  int64_t rest = s - days * 86400;
  CivilDate c = CivilFromDays(days);
  return {static_cast<int>(c.year), static_cast<int>(c.month), static_cast<int>(c.day),
          static_cast<int>(rest / 3600), static_cast<int>(rest / 60 % 60)};
}

LocalMinute AddMinute(const LocalMinute& m, int n) {
  return FromLocalSeconds(ToLocalSeconds(m) + minutes(n));
}

}  // namespace

Instant Now() { return std::chrono::time_point_cast<seconds>(std::chrono::system_clock::now()); }

std::optional<Schedule> Schedule::Parse(const std::string& text, const std::string& timezone,
                                        std::optional<Date> start_date, std::string* error) {
  Schedule s;
  s.text_ = Trim(text);
  s.timezone_ = timezone.empty() ? "UTC" : timezone;
  s.zone_ = Zone::Locate(s.timezone_);
  if (s.zone_ == nullptr) {
    *error =
        "timezone '" + s.timezone_ + "' is unknown (use an IANA name like Europe/Berlin or UTC)";
    return std::nullopt;
  }
  if (start_date) s.anchor_ = s.StartOfDay(*start_date);
  std::string lower = ToLower(s.text_);
  if (lower.empty() || lower == "none") {
    s.kind_ = Kind::kNone;
    return s;
  }
  if (lower == "@once") {
    if (!start_date) {
      *error = "schedule @once runs once, for start_date: set start_date:";
      return std::nullopt;
    }
    s.kind_ = Kind::kOnce;
    return s;
  }
  if (StartsWith(lower, "every ") || StartsWith(lower, "@every ")) {
    std::string d = Trim(lower.substr(lower.find(' ') + 1));
    auto period = ParseDuration(d);
    if (!period || period->count() < 1000) {
      *error = "schedule '" + s.text_ + "': '" + d +
               "' is not a period of at least 1s (write e.g. every 6h, every 30m)";
      return std::nullopt;
    }
    s.kind_ = Kind::kEvery;
    s.every_ = std::chrono::duration_cast<seconds>(*period);
    return s;
  }
  std::string why;
  auto cron = CronExpr::Parse(s.text_, &why);
  if (!cron) {
    *error = "schedule " + why;
    return std::nullopt;
  }
  s.kind_ = Kind::kCron;
  s.cron_ = *cron;
  return s;
}

bool Schedule::SubDaily() const {
  switch (kind_) {
    case Kind::kCron:
      return cron_->SubDaily();
    case Kind::kEvery:
      return every_ < std::chrono::hours(24);
    default:
      return false;
  }
}

LocalMinute Schedule::ToLocal(Instant t) const {
  return FromLocalSeconds(std::chrono::floor<minutes>(zone_->to_local(t)));
}

Instant Schedule::StartOfDay(Date d) const {
  LocalSeconds midnight{seconds{int64_t{d.days} * 86400}};
  auto info = zone_->get_info(midnight);
  if (info.result == date::local_info::nonexistent) return info.second.begin;
  return Instant{midnight.time_since_epoch() - info.first.offset};
}

namespace {

// The instants whose wall-clock time is m in zone: none (a spring gap), one, or two (the
// autumn's repeated hour), earliest first.
std::vector<Instant> InstantsOf(const Zone* zone, const LocalMinute& m) {
  LocalSeconds l = ToLocalSeconds(m);
  auto info = zone->get_info(l);
  auto at = [&](const date::sys_info& i) { return Instant{l.time_since_epoch() - i.offset}; };
  switch (info.result) {
    case date::local_info::unique:
      return {at(info.first)};
    case date::local_info::ambiguous:
      return {at(info.first), at(info.second)};
    default:
      return {};
  }
}

// The end of the spring gap m falls in: the instant the clock jumps.
Instant GapEnd(const Zone* zone, const LocalMinute& m) {
  return zone->get_info(ToLocalSeconds(m)).second.begin;
}

}  // namespace

std::optional<Instant> Schedule::NextFire(Instant after) const {
  switch (kind_) {
    case Kind::kNone:
      return std::nullopt;
    case Kind::kOnce:
      return anchor_ > after ? std::optional<Instant>(anchor_) : std::nullopt;
    case Kind::kEvery: {
      auto n = (after - anchor_) / every_;
      if (after < anchor_) return anchor_;
      Instant next = anchor_ + every_ * (n + 1);
      return next;
    }
    case Kind::kCron:
      break;
  }
  const CronExpr& cron = *cron_;
  auto match_at_or_after = [&](const LocalMinute& w) { return cron.Next(AddMinute(w, -1)); };

  if (!cron.SubDaily()) {
    // Once a day at most: every matching date fires once, at the earlier of a repeated time,
    // at the end of the gap for a time that does not exist.
    LocalMinute w = ToLocal(after);
    w = AddMinute({w.year, w.month, w.day, 0, 0}, -1440);
    for (int i = 0; i < 10000; i++) {
      auto m = match_at_or_after(w);
      if (!m) return std::nullopt;
      auto instants = InstantsOf(zone_, *m);
      Instant fire = instants.empty() ? GapEnd(zone_, *m) : instants.front();
      if (fire > after) return fire;
      w = AddMinute(*m, 1);
    }
    return std::nullopt;
  }

  // Several times a day: croniter's rule, step for step (docs/scheduling.md), so that the
  // schedule agrees with the cron everyone tests against.
  auto resolve = [&](const LocalMinute& w, bool* exists) -> Instant {
    auto c = InstantsOf(zone_, w);
    if (c.empty()) {
      *exists = false;
      return GapEnd(zone_, w);
    }
    *exists = true;
    if (c.size() == 2 && !(c[0] > after)) return c[1];
    return c[0];
  };
  auto offset = [&](Instant t) { return zone_->get_info(t).offset; };
  bool hour_star = cron.AllHours();
  LocalMinute w0 = AddMinute(ToLocal(after), 1);
  auto cw = match_at_or_after(w0);
  if (!cw) return std::nullopt;
  bool ok = false;
  Instant c = resolve(*cw, &ok);
  if (!ok && (!(c > after) || hour_star)) {
    for (int i = 0; i < 100000 && !ok; i++) {  // skip wall times that do not exist
      cw = match_at_or_after(AddMinute(*cw, 1));
      if (!cw) return std::nullopt;
      c = resolve(*cw, &ok);
    }
  }
  auto d = offset(c) - offset(after);
  if (d == seconds{0}) return c;
  LocalSeconds shifted = zone_->to_local(after) + d;
  LocalMinute aw0 = AddMinute(FromLocalSeconds(std::chrono::floor<minutes>(shifted)), 1);
  auto aw = match_at_or_after(aw0);
  if (!aw) return c;
  bool a_ok = false;
  Instant a = resolve(*aw, &a_ok);
  if (!a_ok || !(a > after)) return c;
  return c > a ? a : c;
}

std::optional<Instant> Schedule::PrevFire(Instant before) const {
  if (kind_ == Kind::kNone) return std::nullopt;
  if (kind_ == Kind::kOnce)
    return anchor_ < before ? std::optional<Instant>(anchor_) : std::nullopt;
  if (kind_ == Kind::kEvery) {
    if (!(anchor_ < before)) return std::nullopt;
    auto n = (before - anchor_ - seconds{1}) / every_;  // the last k with anchor + k*every < before
    return anchor_ + every_ * n;
  }
  // The fires are what NextFire gives, chained: found by chaining from a little before.
  for (auto window : {std::chrono::hours(26), std::chrono::hours(24 * 33),
                      std::chrono::hours(24 * 367), std::chrono::hours(24 * 366 * 9)}) {
    std::optional<Instant> last;
    auto f = NextFire(before - window);
    while (f && *f < before) {
      last = f;
      f = NextFire(*f);
    }
    if (last) return last;
  }
  return std::nullopt;
}

Interval Schedule::IntervalEndingAt(Instant fire) const {
  if (kind_ == Kind::kOnce) return {fire, fire};
  auto prev = PrevFire(fire);
  return {prev ? *prev : fire, fire};
}

std::optional<Interval> Schedule::IntervalOn(Date ds) const {
  Instant day = StartOfDay(ds);
  Instant next_day = StartOfDay(ds.AddDays(1));
  if (kind_ == Kind::kNone) return Interval{day, next_day};
  if (kind_ == Kind::kOnce) {
    if (anchor_ < day || !(anchor_ < next_day)) return std::nullopt;
    return Interval{anchor_, anchor_};
  }
  auto start = NextFire(day - seconds{1});
  if (!start || !(*start < next_day)) return std::nullopt;
  auto end = NextFire(*start);
  if (!end) return std::nullopt;
  return Interval{*start, *end};
}

Date Schedule::LogicalDate(const Interval& i) const {
  LocalMinute m = ToLocal(i.start);
  return Date{static_cast<int32_t>(DaysOf(m.year, m.month, m.day))};
}

std::string Schedule::RunKey(const Interval& i) const {
  std::string ds = LogicalDate(i).ToString();
  if (!SubDaily()) return ds;
  LocalMinute m = ToLocal(i.start);
  char buf[16];
  std::snprintf(buf, sizeof buf, "T%02d:%02d", m.hour, m.minute);
  if (auto sec = (zone_->to_local(i.start).time_since_epoch() % minutes{1}).count(); sec != 0) {
    std::snprintf(buf + 6, sizeof buf - 6, ":%02d", static_cast<int>(sec));
  }
  // The repeated hour of an autumn night: the second 02:30 is told apart by its offset.
  auto instants = InstantsOf(zone_, m);
  if (instants.size() == 2 && i.start == instants[1]) return ds + buf + "b";
  return ds + buf;
}

std::optional<Interval> Schedule::IntervalForKey(const std::string& key) const {
  auto d = Date::Parse(key.substr(0, 10));
  if (!d) return std::nullopt;
  if (key.size() == 10) return IntervalOn(*d);
  if (!SubDaily()) return std::nullopt;
  Instant next_day = StartOfDay(d->AddDays(1));
  auto i = IntervalOn(*d);
  for (int n = 0; i && i->start < next_day && n < 100000; n++) {
    if (RunKey(*i) == key) return i;
    i = NextInterval(*i);
  }
  return std::nullopt;
}

std::optional<Interval> Schedule::LatestEndedBy(Instant now) const {
  if (kind_ == Kind::kOnce) {
    if (now < anchor_) return std::nullopt;
    return Interval{anchor_, anchor_};
  }
  auto fire = PrevFire(now + seconds{1});
  if (!fire) return std::nullopt;
  return IntervalEndingAt(*fire);
}

std::optional<Interval> Schedule::FirstIntervalFrom(Instant from) const {
  if (kind_ == Kind::kNone) return std::nullopt;
  if (kind_ == Kind::kOnce) return Interval{anchor_, anchor_};
  auto start = NextFire(from - seconds{1});
  if (!start) return std::nullopt;
  auto end = NextFire(*start);
  if (!end) return std::nullopt;
  return Interval{*start, *end};
}

std::optional<Interval> Schedule::NextInterval(const Interval& i) const {
  if (kind_ == Kind::kOnce || kind_ == Kind::kNone) return std::nullopt;
  auto end = NextFire(i.end);
  if (!end) return std::nullopt;
  return Interval{i.end, *end};
}

Interval Schedule::Day(Date ds) const { return {StartOfDay(ds), StartOfDay(ds.AddDays(1))}; }

RunInfo Schedule::Describe(const Interval& i) const {
  RunInfo r;
  r.interval = i;
  r.ds = LogicalDate(i);
  r.run_key = RunKey(i);
  r.start_iso = Format(i.start);
  r.end_iso = Format(i.end);
  r.start_local = r.start_iso.substr(0, 19);
  r.end_local = r.end_iso.substr(0, 19);
  return r;
}

std::optional<Instant> Schedule::ParseTime(const std::string& text) const {
  auto d = Date::Parse(text.substr(0, 10));
  if (!d) return std::nullopt;
  if (text.size() == 10) return StartOfDay(*d);
  int h = 0, mi = 0, sec = 0, used = 0;
  std::string rest = text.substr(10);
  if (std::sscanf(rest.c_str(), "T%2d:%2d%n", &h, &mi, &used) != 2) return std::nullopt;
  if (rest.size() > static_cast<size_t>(used) && rest[used] == ':') {
    int more = 0;
    if (std::sscanf(rest.c_str() + used, ":%2d%n", &sec, &more) != 1) return std::nullopt;
    used += more;
  }
  if (h > 23 || mi > 59 || sec > 59) return std::nullopt;
  std::string zone = rest.substr(static_cast<size_t>(used));
  int64_t wall = int64_t{d->days} * 86400 + h * 3600 + mi * 60 + sec;
  if (zone.empty()) {
    LocalSeconds l{seconds{wall}};
    auto info = zone_->get_info(l);
    if (info.result == date::local_info::nonexistent) return info.second.begin;
    return Instant{seconds{wall} - info.first.offset};
  }
  if (zone == "Z" || zone == "z") return Instant{seconds{wall}};
  int oh = 0, om = 0;
  char sign = zone[0];
  if ((sign != '+' && sign != '-') || std::sscanf(zone.c_str() + 1, "%2d:%2d", &oh, &om) != 2 ||
      zone.size() != 6) {
    return std::nullopt;
  }
  int64_t off = (oh * 3600 + om * 60) * (sign == '-' ? -1 : 1);
  return Instant{seconds{wall - off}};
}

std::string Schedule::Format(Instant t) const {
  auto info = zone_->get_info(t);
  LocalSeconds l = zone_->to_local(t);
  int64_t s = l.time_since_epoch().count();
  int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
  int64_t rest = s - days * 86400;
  CivilDate c = CivilFromDays(days);
  int64_t off = info.offset.count();
  char sign = off < 0 ? '-' : '+';
  off = off < 0 ? -off : off;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld%c%02lld:%02lld",
                static_cast<long long>(c.year), c.month, c.day, static_cast<long long>(rest / 3600),
                static_cast<long long>(rest / 60 % 60), static_cast<long long>(rest % 60), sign,
                static_cast<long long>(off / 3600), static_cast<long long>(off / 60 % 60));
  return buf;
}

}  // namespace sluice::scheduler
