#pragma once

// What the command line and the web UI do to a pipeline's runs, in one place: which interval a
// run key names, what a clear resets, what a backfill runs.

#include <string>
#include <utility>
#include <vector>

#include "pipeline/spec.h"
#include "scheduler/schedule.h"
#include "state/state_store.h"

namespace sluice::scheduler {

// The schedule of spec; throws Error(kInvalidInput) naming the file when it does not parse.
Schedule ScheduleOf(const pipeline::PipelineSpec& spec);

// The pipeline files named by paths: each file as given, and the .yaml/.yml files directly in
// each folder; absolute, sorted, without duplicates.
std::vector<std::string> PipelineFiles(const std::vector<std::string>& paths);

// The run that `sluice run --date KEY` makes. KEY is a date (the schedule's first interval on
// it, or the whole day when the schedule does not run that day), a run key
// ("2026-11-21T06:00", "...T02:30b"), the start of an interval as an instant
// ("2026-10-25T01:30:00Z"), or "latest" (the latest interval that has ended). Throws
// Error(kInvalidInput) saying what the key does not match.
RunInfo ResolveRun(const pipeline::PipelineSpec& spec, const Schedule& schedule,
                   const std::string& key);

// The runs whose logical date is in [from, to], oldest first (a day each without schedule).
std::vector<RunInfo> RunsBetween(const Schedule& schedule, Date from, Date to);

struct BackfillPlan {
  std::vector<RunInfo> todo;
  std::vector<std::pair<std::string, std::string>> skipped;  // run key, why
};
// Which of the runs between from and to a backfill runs: by default those that never finished;
// rerun "failed" adds the failed ones, "all" every one. Runs live elsewhere are skipped.
BackfillPlan PlanBackfill(const pipeline::PipelineSpec& spec, const Schedule& schedule,
                          state::StateStore& state, Date from, Date to, const std::string& rerun);

struct ClearPlan {
  std::vector<std::string> tasks;  // in dependency order
  Date from, to;
};
// The tasks a clear resets: tasks (all when empty) and, with downstream, what depends on them.
// Throws Error(kInvalidInput) for an unknown task.
ClearPlan PlanClear(const pipeline::PipelineSpec& spec, const std::vector<std::string>& tasks,
                    bool downstream, Date from, Date to);
// Clears the plan's tasks for its dates; returns the attempts cleared. Throws
// Error(kInvalidInput) "is running for" when a date of the range is running.
int Clear(const pipeline::PipelineSpec& spec, state::StateStore& state, const ClearPlan& plan);

}  // namespace sluice::scheduler
