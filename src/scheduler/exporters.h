#pragma once

// For teams that keep their scheduler: crontab lines and an Airflow DAG file that run a
// pipeline through `sluice run`, so the pipeline file stays the one source of truth.

#include <string>

#include "pipeline/spec.h"
#include "scheduler/schedule.h"

namespace sluice::scheduler {

struct ExportOptions {
  std::string sluice;  // the sluice binary, absolute
};

// Crontab lines for spec: comments saying what they do, CRON_TZ for the pipeline's zone, and a
// line calling `sluice run FILE --latest`, which runs the latest interval that has ended (and
// does nothing when it already succeeded). Schedules cron cannot say (L, W, #, every:) get a
// line that fires often enough; --latest decides what is due.
std::string CrontabFor(const pipeline::PipelineSpec& spec, const Schedule& schedule,
                       const ExportOptions& options);

// An Airflow 3 DAG file (Python) for spec: one BashOperator per task calling
// `sluice run FILE --date <run key> --task T`, the dependencies of the pipeline file, and the
// schedule as a timetable with the same data intervals and time zone.
std::string AirflowDagFor(const pipeline::PipelineSpec& spec, const Schedule& schedule,
                          const ExportOptions& options);

}  // namespace sluice::scheduler
