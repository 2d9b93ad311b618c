#include "scheduler/cron.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <sstream>

#include "common/strings.h"
#include "common/time.h"

namespace sluice::scheduler {

int64_t DaysOf(int year, int month, int day) {
  return DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
}

int WeekdayOf(int year, int month, int day) {
  int64_t d = DaysOf(year, month, day);
  // 1970-01-01 was a Thursday (4).
  return static_cast<int>(((d % 7) + 7 + 4) % 7);
}

int DaysInMonth(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

bool LocalMinute::operator<(const LocalMinute& o) const {
  return std::tie(year, month, day, hour, minute) <
         std::tie(o.year, o.month, o.day, o.hour, o.minute);
}

bool LocalMinute::operator==(const LocalMinute& o) const {
  return std::tie(year, month, day, hour, minute) ==
         std::tie(o.year, o.month, o.day, o.hour, o.minute);
}

std::string LocalMinute::ToString() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d", year, month, day, hour, minute);
  return buf;
}

namespace {

const std::map<std::string, std::string> kPresets = {
    {"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"}};

const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                             "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct FieldSpec {
  const char* name;
  int lo, hi;
  const char** names;  // value lo + i is names[i]
  int name_count;
};

const FieldSpec kFields[] = {{"minute", 0, 59, nullptr, 0},
                             {"hour", 0, 23, nullptr, 0},
                             {"day of month", 1, 31, nullptr, 0},
                             {"month", 1, 12, kMonthNames, 12},
                             {"day of week", 0, 7, kDayNames, 7}};

// A number or a name of the field; -1 when neither.
int Value(const std::string& s, const FieldSpec& f) {
  if (s.empty()) return -1;
  if (std::all_of(s.begin(), s.end(), ::isdigit)) {
    if (s.size() > 4) return -1;
    return std::stoi(s);
  }
  std::string upper;
  for (char c : s) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  for (int i = 0; i < f.name_count; i++) {
    if (upper == f.names[i]) return f.lo + i;
  }
  return -1;
}

// Parses one field's list of ranges into the set of values it allows. Special tokens (L, W, #)
// are left to the caller: returns false with *error for anything else malformed.
bool ParseList(const std::string& field, const FieldSpec& f, std::vector<bool>* allowed,
               std::vector<std::string>* specials, std::string* error) {
  allowed->assign(static_cast<size_t>(f.hi + 1), false);
  for (const auto& part : Split(field, ',')) {
    if (part.empty()) {
      *error = "an empty item in the list";
      return false;
    }
    std::string upper = ToLower(part);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    // L, L-3, LW, 15W (or W15), 5L (or L5), FRIL, 1#2 (names like JUL or WED hold an L or W
    // too: not special).
    bool special = upper == "L" || StartsWith(upper, "L-") || upper == "LW" ||
                   upper.find('#') != std::string::npos ||
                   ((StartsWith(upper, "W") || EndsWith(upper, "W")) && Value(upper, f) < 0) ||
                   ((StartsWith(upper, "L") || EndsWith(upper, "L")) && Value(upper, f) < 0);
    if (special) {
      specials->push_back(upper);
      continue;
    }
    std::string range = part;
    int step = 1;
    if (auto slash = part.find('/'); slash != std::string::npos) {
      std::string s = part.substr(slash + 1);
      if (s.empty() || !std::all_of(s.begin(), s.end(), ::isdigit) || s.size() > 4 ||
          std::stoi(s) == 0) {
        *error = "step '" + s + "' must be a whole number of at least 1";
        return false;
      }
      step = std::stoi(s);
      range = part.substr(0, slash);
    }
    int lo, hi;
    if (range == "*") {
      lo = f.lo;
      hi = f.hi == 7 ? 6 : f.hi;
    } else if (auto dash = range.find('-'); dash != std::string::npos) {
      lo = Value(range.substr(0, dash), f);
      hi = Value(range.substr(dash + 1), f);
      if (lo < 0 || hi < 0) {
        *error = "'" + range + "' is not a range of " + f.name + " values";
        return false;
      }
    } else {
      lo = Value(range, f);
      if (lo < 0) {
        *error = "'" + range + "' is not a " + std::string(f.name) + " value";
        return false;
      }
      // a/n without a range means a to the end.
      hi = part.find('/') != std::string::npos ? (f.hi == 7 ? 6 : f.hi) : lo;
    }
    if (lo < f.lo || hi > f.hi || lo > f.hi || hi < f.lo) {
      *error = "'" + range + "' is outside " + std::to_string(f.lo) + "-" + std::to_string(f.hi);
      return false;
    }
    if (lo > hi) {
      // A range that wraps around, as croniter reads it: 22-2 is 22, 23, 0, 1, 2; SAT-SUN is
      // Saturday and Sunday; a step counts on across the wrap (22-4/2: 22, 0, 2, 4).
      int period = f.hi == 7 ? 7 : f.hi - f.lo + 1;
      for (int v = lo; v <= hi + period; v += step) {
        (*allowed)[static_cast<size_t>((v - f.lo) % period + f.lo)] = true;
      }
      continue;
    }
    for (int v = lo; v <= hi; v += step) (*allowed)[static_cast<size_t>(v)] = true;
  }
  return true;
}

LocalMinute AddMinutes(LocalMinute t, int n) {
  int64_t days = DaysOf(t.year, t.month, t.day);
  int64_t total = days * 1440 + t.hour * 60 + t.minute + n;
  int64_t d = total >= 0 ? total / 1440 : (total - 1439) / 1440;
  int64_t m = total - d * 1440;
  CivilDate c = CivilFromDays(d);
  return {static_cast<int>(c.year), static_cast<int>(c.month), static_cast<int>(c.day),
          static_cast<int>(m / 60), static_cast<int>(m % 60)};
}

}  // namespace

std::optional<CronExpr> CronExpr::Parse(const std::string& text, std::string* error) {
  std::string t = Trim(text);
  auto preset = kPresets.find(ToLower(t));
  std::string expr = preset != kPresets.end() ? preset->second : t;
  if (!t.empty() && t[0] == '@' && preset == kPresets.end()) {
    *error = "'" + t + "' is not a preset (use @hourly, @daily, @weekly, @monthly or @yearly)";
    return std::nullopt;
  }
  std::istringstream in(expr);
  std::vector<std::string> fields;
  std::string f;
  while (in >> f) fields.push_back(f == "?" ? "*" : f);
  if (fields.size() != 5) {
    *error =
        "'" + t + "' has " + std::to_string(fields.size()) +
        " fields; cron needs 5: minute hour day-of-month month day-of-week (e.g. \"0 2 * * *\")";
    return std::nullopt;
  }
  CronExpr c;
  c.text_ = t;
  for (int i = 0; i < 5; i++) {
    std::vector<bool> allowed;
    std::vector<std::string> specials;
    std::string why;
    if (!ParseList(fields[i], kFields[i], &allowed, &specials, &why)) {
      *error = "'" + t + "': the " + kFields[i].name + " field '" + fields[i] + "': " + why;
      return std::nullopt;
    }
    if (!specials.empty() && i != 2 && i != 4) {
      *error = "'" + t + "': L, W and # are for the day-of-month and day-of-week fields, not " +
               kFields[i].name;
      return std::nullopt;
    }
    for (std::string s : specials) {
      // croniter's spellings: W15 is 15W, L5 (day of week) is 5L.
      if (s.size() >= 2 && s[0] == 'W' && std::isdigit(static_cast<unsigned char>(s[1]))) {
        s = s.substr(1) + "W";
      }
      if (i == 4 && s.size() >= 2 && s[0] == 'L' && s[1] != '-') s = s.substr(1) + "L";
      std::string bad;
      if (i == 2) {  // day of month: L, L-3, LW, 15W
        if (s == "L") {
          c.last_day_ = true;
        } else if (StartsWith(s, "L-") && s.size() > 2 &&
                   std::all_of(s.begin() + 2, s.end(), ::isdigit) && std::stoi(s.substr(2)) < 31) {
          c.last_day_ = true;
          c.last_day_offset_ = std::stoi(s.substr(2));
        } else if (s == "LW") {
          c.last_weekday_ = true;
        } else if (EndsWith(s, "W") && s.size() >= 2 && s.size() <= 3 &&
                   std::all_of(s.begin(), s.end() - 1, ::isdigit) &&
                   std::stoi(s.substr(0, s.size() - 1)) >= 1 &&
                   std::stoi(s.substr(0, s.size() - 1)) <= 31) {
          c.nearest_weekday_.push_back(std::stoi(s.substr(0, s.size() - 1)));
        } else {
          bad = s;
        }
      } else {  // day of week: 5L, FRIL, 1#2
        if (EndsWith(s, "L") && s.size() >= 2) {
          int v = Value(s.substr(0, s.size() - 1), kFields[4]);
          if (v < 0) {
            bad = s;
          } else {
            c.last_dow_.push_back(v % 7);
          }
        } else if (auto hash = s.find('#'); hash != std::string::npos) {
          int v = Value(s.substr(0, hash), kFields[4]);
          std::string n = s.substr(hash + 1);
          if (v < 0 || n.size() != 1 || n[0] < '1' || n[0] > '5') {
            bad = s;
          } else {
            c.nth_dow_.emplace_back(v % 7, n[0] - '0');
          }
        } else {
          bad = s;
        }
      }
      if (!bad.empty()) {
        *error = "'" + t + "': '" + bad + "' in the " + kFields[i].name +
                 " field is not understood (write L, L-3, LW or 15W for days of the month; 5L "
                 "or 1#2 for days of the week)";
        return std::nullopt;
      }
    }
    for (size_t v = 0; v < allowed.size(); v++) {
      if (!allowed[v]) continue;
      switch (i) {
        case 0:
          c.minutes_.set(v);
          break;
        case 1:
          c.hours_.set(v);
          break;
        case 2:
          c.days_.set(v);
          break;
        case 3:
          c.months_.set(v);
          break;
        case 4:
          c.weekdays_.set(v % 7);
          break;
      }
    }
  }
  // A day field of '*' does not restrict; when both restrict, a day matches either (as
  // croniter and Vixie cron do, */2 restricts).
  c.dom_star_ = fields[2] == "*";
  c.dow_star_ = fields[4] == "*";
  return c;
}

bool CronExpr::SubDaily() const { return minutes_.count() > 1 || hours_.count() > 1; }

bool CronExpr::DayMatches(int year, int month, int day) const {
  int last = DaysInMonth(year, month);
  bool dom = days_.test(static_cast<size_t>(day));
  if (last_day_ && day == last - last_day_offset_) dom = true;
  int wd = WeekdayOf(year, month, day);
  if (last_weekday_) {
    int lw = last;
    while (WeekdayOf(year, month, lw) == 0 || WeekdayOf(year, month, lw) == 6) lw--;
    if (day == lw) dom = true;
  }
  for (int target : nearest_weekday_) {
    if (target > last) continue;
    int twd = WeekdayOf(year, month, target);
    int nearest = target;
    if (twd == 6) nearest = target == 1 ? 3 : target - 1;  // Saturday: Friday (or Monday)
    if (twd == 0) nearest = target == last ? target - 2 : target + 1;  // Sunday: Monday
    if (day == nearest) dom = true;
  }
  bool dow = weekdays_.test(static_cast<size_t>(wd));
  for (int target : last_dow_) {
    if (wd == target && day + 7 > last) dow = true;
  }
  for (const auto& [target, n] : nth_dow_) {
    if (wd == target && (day - 1) / 7 + 1 == n) dow = true;
  }
  bool dom_special = last_day_ || last_weekday_ || !nearest_weekday_.empty();
  bool dow_special = !last_dow_.empty() || !nth_dow_.empty();
  bool dom_restricts = !dom_star_ || dom_special;
  bool dow_restricts = !dow_star_ || dow_special;
  if (dom_restricts && dow_restricts) return dom || dow;
  if (dom_restricts) return dom;
  if (dow_restricts) return dow;
  return dom && dow;
}

bool CronExpr::Matches(const LocalMinute& t) const {
  return months_.test(static_cast<size_t>(t.month)) && hours_.test(static_cast<size_t>(t.hour)) &&
         minutes_.test(static_cast<size_t>(t.minute)) && DayMatches(t.year, t.month, t.day);
}

std::optional<LocalMinute> CronExpr::Next(const LocalMinute& after) const {
  LocalMinute t = AddMinutes(after, 1);
  int limit_year = after.year + 50;
  while (t.year <= limit_year) {
    if (!months_.test(static_cast<size_t>(t.month))) {
      t = {t.month == 12 ? t.year + 1 : t.year, t.month == 12 ? 1 : t.month + 1, 1, 0, 0};
      continue;
    }
    if (!DayMatches(t.year, t.month, t.day)) {
      t = AddMinutes({t.year, t.month, t.day, 0, 0}, 1440);
      continue;
    }
    if (!hours_.test(static_cast<size_t>(t.hour))) {
      t = AddMinutes({t.year, t.month, t.day, t.hour, 0}, 60);
      continue;
    }
    while (t.minute < 60 && !minutes_.test(static_cast<size_t>(t.minute))) t.minute++;
    if (t.minute == 60) {
      t = AddMinutes({t.year, t.month, t.day, t.hour, 0}, 60);
      continue;
    }
    return t;
  }
  return std::nullopt;
}

std::optional<LocalMinute> CronExpr::Prev(const LocalMinute& before) const {
  LocalMinute t = AddMinutes(before, -1);
  int limit_year = before.year - 50;
  while (t.year >= limit_year) {
    if (!months_.test(static_cast<size_t>(t.month))) {
      // The last minute of the previous month.
      LocalMinute first = {t.year, t.month, 1, 0, 0};
      t = AddMinutes(first, -1);
      continue;
    }
    if (!DayMatches(t.year, t.month, t.day)) {
      t = AddMinutes({t.year, t.month, t.day, 0, 0}, -1);
      continue;
    }
    if (!hours_.test(static_cast<size_t>(t.hour))) {
      t = AddMinutes({t.year, t.month, t.day, t.hour, 0}, -1);
      continue;
    }
    while (t.minute >= 0 && !minutes_.test(static_cast<size_t>(t.minute))) t.minute--;
    if (t.minute < 0) {
      t = AddMinutes({t.year, t.month, t.day, t.hour, 0}, -1);
      continue;
    }
    return t;
  }
  return std::nullopt;
}

}  // namespace sluice::scheduler
