#include "scheduler/zone.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

#include "common/time.h"
#include "scheduler/cron.h"

namespace sluice::scheduler {
namespace {

using date::local_seconds;
using date::sys_seconds;
using std::chrono::seconds;

// The POSIX TZ string at the end of a TZif file of version 2 or later, or "".
std::string FooterOf(const std::string& name) {
  const char* dir = std::getenv("TZDIR");
  std::string path = std::string(dir && *dir ? dir : "/usr/share/zoneinfo") + "/" + name;
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < 44 || data.compare(0, 4, "TZif") != 0 || data[4] < '2') return "";
  if (data.back() != '\n') return "";
  size_t open = data.rfind('\n', data.size() - 2);
  if (open == std::string::npos) return "";
  return data.substr(open + 1, data.size() - open - 2);
}

// A POSIX TZ reader over one string.
struct RuleParser {
  const std::string& s;
  size_t i = 0;

  bool Name(std::string* out) {
    if (i < s.size() && s[i] == '<') {
      size_t close = s.find('>', i);
      if (close == std::string::npos) return false;
      *out = s.substr(i + 1, close - i - 1);
      i = close + 1;
      return true;
    }
    size_t start = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) i++;
    *out = s.substr(start, i - start);
    return i - start >= 3;
  }
  // [+-]hh[:mm[:ss]] as seconds.
  bool Time(seconds* out) {
    int sign = 1;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) sign = s[i++] == '-' ? -1 : 1;
    int64_t parts[3] = {0, 0, 0};
    for (int p = 0; p < 3; p++) {
      size_t start = i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        parts[p] = parts[p] * 10 + (s[i++] - '0');
      }
      if (i == start) return false;
      if (p < 2 && i < s.size() && s[i] == ':') {
        i++;
      } else {
        break;
      }
    }
    *out = seconds{sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])};
    return true;
  }
  bool Number(int* out) {
    size_t start = i;
    int n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
      n = n * 10 + (s[i++] - '0');
    *out = n;
    return i > start;
  }
  bool When(Zone::Rule::When* w) {
    if (i < s.size() && s[i] == 'M') {
      i++;
      w->kind = 'M';
      if (!Number(&w->month) || i >= s.size() || s[i++] != '.' || !Number(&w->week) ||
          i >= s.size() || s[i++] != '.' || !Number(&w->weekday)) {
        return false;
      }
      if (w->month < 1 || w->month > 12 || w->week < 1 || w->week > 5 || w->weekday > 6)
        return false;
    } else if (i < s.size() && s[i] == 'J') {
      i++;
      w->kind = 'J';
      if (!Number(&w->day) || w->day < 1 || w->day > 365) return false;
    } else {
      w->kind = 'n';
      if (!Number(&w->day) || w->day > 365) return false;
    }
    w->time = seconds{7200};
    if (i < s.size() && s[i] == '/') {
      i++;
      return Time(&w->time);
    }
    return true;
  }
};

// The instant of a transition in year, given the offset in force before it.
sys_seconds TransitionOf(const Zone::Rule::When& w, int year, seconds offset_before) {
  int64_t days = 0;
  if (w.kind == 'M') {
    int first_weekday = WeekdayOf(year, w.month, 1);
    int day = 1 + (w.weekday - first_weekday + 7) % 7 + (w.week - 1) * 7;
    while (day > DaysInMonth(year, w.month)) day -= 7;
    days = DaysOf(year, w.month, day);
  } else if (w.kind == 'J') {
    bool leap = DaysInMonth(year, 2) == 29;
    days = DaysOf(year, 1, 1) + w.day - 1 + (leap && w.day >= 60 ? 1 : 0);
  } else {
    days = DaysOf(year, 1, 1) + w.day;
  }
  return sys_seconds{seconds{days * 86400} + w.time - offset_before};
}

}  // namespace

std::optional<Zone::Rule> Zone::ParseRule(const std::string& text) {
  RuleParser p{text};
  Rule r;
  seconds off;
  if (!p.Name(&r.std_abbrev) || !p.Time(&off)) return std::nullopt;
  r.std_offset = -off;
  if (p.i == text.size()) return r;
  if (!p.Name(&r.dst_abbrev)) return std::nullopt;
  r.has_dst = true;
  r.dst_offset = r.std_offset + seconds{3600};
  if (p.i < text.size() && text[p.i] != ',') {
    if (!p.Time(&off)) return std::nullopt;
    r.dst_offset = -off;
  }
  if (p.i == text.size()) {
    // POSIX leaves the dates to the implementation; glibc uses the US rules.
    r.start = {'M', 3, 2, 0, 0, seconds{7200}};
    r.end = {'M', 11, 1, 0, 0, seconds{7200}};
    return r;
  }
  if (text[p.i++] != ',' || !p.When(&r.start) || p.i >= text.size() || text[p.i++] != ',' ||
      !p.When(&r.end) || p.i != text.size()) {
    return std::nullopt;
  }
  return r;
}

const Zone* Zone::Locate(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Zone>> zones;
  std::lock_guard<std::mutex> lock(mu);
  auto it = zones.find(name);
  if (it != zones.end()) return it->second.get();
  const date::time_zone* tz = nullptr;
  try {
    tz = date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
  std::string footer = FooterOf(name);
  auto rule = ParseRule(footer);
  if (rule && !rule->has_dst) rule.reset();  // a fixed offset: the listed data says it all
  auto zone = std::unique_ptr<Zone>(new Zone(tz, footer, rule));
  return (zones[name] = std::move(zone)).get();
}

Zone::Zone(const date::time_zone* tz, std::string rule_text, std::optional<Rule> rule)
    : tz_(tz), rule_text_(std::move(rule_text)), rule_(std::move(rule)) {
  // The range the date library keeps forever starts at the last listed transition.
  listed_end_ = tz_->get_info(sys_seconds{seconds{int64_t{DaysOf(2400, 1, 1)} * 86400}}).begin;
}

date::sys_info Zone::RuleInfo(sys_seconds t) const {
  const Rule& r = *rule_;
  int64_t day = (t.time_since_epoch() + r.std_offset).count();
  day = day >= 0 ? day / 86400 : (day - 86399) / 86400;
  int year = static_cast<int>(CivilFromDays(day).year);
  struct Change {
    sys_seconds at;
    bool dst;  // what is in force from `at`
  };
  std::vector<Change> changes;
  for (int y = year - 1; y <= year + 1; y++) {
    changes.push_back({TransitionOf(r.start, y, r.std_offset), true});
    changes.push_back({TransitionOf(r.end, y, r.dst_offset), false});
  }
  std::sort(changes.begin(), changes.end(),
            [](const Change& a, const Change& b) { return a.at < b.at; });
  date::sys_info info;
  size_t k = 0;
  while (k + 1 < changes.size() && !(t < changes[k + 1].at)) k++;
  bool dst = changes[k].dst;
  info.begin = changes[k].at;
  info.end = k + 1 < changes.size() ? changes[k + 1].at : sys_seconds::max();
  info.offset = dst ? r.dst_offset : r.std_offset;
  info.save = std::chrono::duration_cast<std::chrono::minutes>(dst ? r.dst_offset - r.std_offset
                                                                   : seconds{0});
  info.abbrev = dst ? r.dst_abbrev : r.std_abbrev;
  return info;
}

date::sys_info Zone::get_info(sys_seconds t) const {
  if (rule_ && listed_end_ < t) {
    date::sys_info info = RuleInfo(t);
    if (info.begin < listed_end_) info.begin = listed_end_;
    return info;
  }
  return tz_->get_info(t);
}

date::local_info Zone::get_info(local_seconds l) const {
  if (!rule_) return tz_->get_info(l);
  sys_seconds as_std{l.time_since_epoch() - rule_->std_offset};
  sys_seconds as_dst{l.time_since_epoch() - rule_->dst_offset};
  // Near or before the last listed transition the listed data decides.
  if (!(listed_end_ + std::chrono::hours(48) < std::min(as_std, as_dst))) return tz_->get_info(l);
  date::sys_info a = get_info(as_std), b = get_info(as_dst);
  bool a_ok = a.offset == rule_->std_offset, b_ok = b.offset == rule_->dst_offset;
  date::local_info out;
  auto earlier = [](const date::sys_info& x, const date::sys_info& y) { return x.begin < y.begin; };
  if (a_ok && b_ok) {
    out.result = date::local_info::ambiguous;
    out.first = earlier(a, b) ? a : b;
    out.second = earlier(a, b) ? b : a;
  } else if (a_ok || b_ok) {
    out.result = date::local_info::unique;
    out.first = a_ok ? a : b;
  } else {
    out.result = date::local_info::nonexistent;
    out.first = earlier(a, b) ? a : b;
    out.second = earlier(a, b) ? b : a;
  }
  return out;
}

}  // namespace sluice::scheduler
