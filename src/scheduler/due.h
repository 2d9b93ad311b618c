#pragma once

// Which runs of a pipeline are due at a moment: the scheduler's decision, kept apart from
// processes and files so that it can be tested with any clock.
//
// The runs of a schedule are its data intervals from the first that starts at or after
// start_date's midnight (without start_date: the latest interval that had ended when a
// scheduler first saw the pipeline), up to end_date. An interval is due once it has ended.
// catchup: true starts every due interval that has not run, oldest first; false starts only
// the latest. At most max_active_runs runs of a pipeline are active at once, and never two of
// the same date (a run writes its date's partitions).

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "scheduler/schedule.h"

namespace sluice::scheduler {

// What the state store says about a run key, as far as scheduling goes.
enum class KeyState {
  kNotRun,   // no run, or one to run again (cleared, cancelled, interrupted)
  kActive,   // a live process runs it
  kFinished  // succeeded, failed, or interrupted too often
};

struct DueInputs {
  const Schedule* schedule = nullptr;
  std::optional<Date> start_date;
  std::optional<Date> end_date;
  bool catchup = false;
  int max_active_runs = 1;
  Instant first_seen{};  // when a scheduler first saw the pipeline (used without start_date)
};

class DuePlanner {
 public:
  explicit DuePlanner(DueInputs in) : in_(std::move(in)) {}

  // The first interval the schedule runs, or nullopt (no schedule, or none before end_date).
  std::optional<Interval> First() const;
  // Whether interval i is one the schedule runs (not before First, not after end_date).
  bool InRange(const Interval& i) const;

  // The intervals to start now, oldest first. state(key) tells each run key's state;
  // active_dates are the dates with an active run (theirs or ours); active is how many runs of
  // the pipeline are active. A full walk from First happens when full is true; otherwise the
  // walk starts at the first interval the last call found not finished.
  std::vector<Interval> Due(Instant now, const std::function<KeyState(const Interval&)>& state,
                            const std::set<std::string>& active_dates, int active, bool full);

 private:
  DueInputs in_;
  std::optional<Interval> cursor_;  // every interval before it has finished
};

}  // namespace sluice::scheduler
