#include "scheduler/due.h"

namespace sluice::scheduler {

std::optional<Interval> DuePlanner::First() const {
  const Schedule& s = *in_.schedule;
  if (!s.Scheduled()) return std::nullopt;
  std::optional<Interval> first;
  if (in_.start_date) {
    first = s.FirstIntervalFrom(s.StartOfDay(*in_.start_date));
  } else {
    // No start_date: the latest interval that had ended when the pipeline was first seen runs
    // first (as Airflow's catchup: false does), then every one after it.
    first = s.LatestEndedBy(in_.first_seen);
    if (!first) first = s.FirstIntervalFrom(in_.first_seen);
  }
  if (first && in_.end_date && *in_.end_date < s.LogicalDate(*first)) return std::nullopt;
  return first;
}

bool DuePlanner::InRange(const Interval& i) const {
  auto first = First();
  if (!first || i.start < first->start) return false;
  return !in_.end_date || !(*in_.end_date < in_.schedule->LogicalDate(i));
}

std::vector<Interval> DuePlanner::Due(Instant now,
                                      const std::function<KeyState(const Interval&)>& state,
                                      const std::set<std::string>& active_dates, int active,
                                      bool full) {
  std::vector<Interval> out;
  const Schedule& s = *in_.schedule;
  auto first = First();
  if (!first) return out;
  int slots = in_.max_active_runs - active;
  std::set<std::string> dates = active_dates;
  // Takes i when it has not run and its date is free; false once no slot is left.
  auto consider = [&](const Interval& i, KeyState st) {
    std::string ds = s.LogicalDate(i).ToString();
    if (st == KeyState::kNotRun && !dates.count(ds)) {
      out.push_back(i);
      dates.insert(ds);
      slots--;
    }
    return slots > 0;
  };
  if (slots <= 0) return out;

  if (!in_.catchup) {
    auto latest = s.LatestEndedBy(now);
    if (latest && !(latest->start < first->start) && InRange(*latest)) {
      consider(*latest, state(*latest));
    }
    return out;
  }

  Interval i = full || !cursor_ || cursor_->start < first->start ? *first : *cursor_;
  bool finished_so_far = true;
  for (int n = 0; n < 10'000'000; n++) {
    if (i.end > now) break;  // not due yet
    if (in_.end_date && *in_.end_date < s.LogicalDate(i)) break;
    KeyState st = state(i);
    if (st != KeyState::kFinished && finished_so_far) {
      cursor_ = i;
      finished_so_far = false;
    }
    if (!consider(i, st)) return out;
    auto next = s.NextInterval(i);
    if (!next) break;
    i = *next;
  }
  if (finished_so_far) cursor_ = i;
  return out;
}

}  // namespace sluice::scheduler
