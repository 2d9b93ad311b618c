#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "engine/engine.h"
#include "lake/lake.h"
#include "pipeline/spec.h"
#include "state/state_store.h"

namespace sluice::runner {

struct RunOptions {
  std::string ds;  // the logical date, YYYY-MM-DD
  // The run's identity and data interval (scheduler/schedule.h). run_key "" = ds; the
  // interval "" = the day ds, midnight to midnight in the pipeline's time zone.
  std::string run_key;
  std::string interval_start;      // local wall time, "2026-11-21T02:00:00" (SQL templates)
  std::string interval_end;        //
  std::string interval_start_iso;  // with its UTC offset, "2026-11-21T02:00:00+01:00" (ts)
  std::string interval_end_iso;    //
  bool force = false;              // redo tasks that already succeeded for the run key
  std::vector<std::string> tasks;  // run only these (always redone); empty = all
  bool downstream = false;         // with tasks: also every task that depends on them
  std::string trigger = "manual";  // manual | scheduled | backfill | cron | airflow | import...
  bool hooks = true;               // run on_failure / on_success at the end
};

struct TaskOutcome {
  std::string task_id;
  // success | skipped (succeeded before) | failed | cancelled | timed_out | upstream_failed |
  // not_selected
  std::string status;
  int attempts = 0;
  state::TaskCounts counts;
  double seconds = 0;
  std::string error;
  std::string log_path;
};

struct RunSummary {
  int64_t run_id = 0;
  std::string status;              // success | failed | cancelled
  std::vector<TaskOutcome> tasks;  // in topological order
  double seconds = 0;
};

// Executes one run of a pipeline for one logical date: tasks in dependency order, up to
// spec.max_parallel at once, retries with exponential backoff for retryable errors and
// timeouts, each attempt stopped for real at its timeout. Records everything in the state
// store and writes one log file per attempt. Progress and the summary go to `out`.
class Runner {
 public:
  Runner(const pipeline::PipelineSpec& spec, state::StateStore* state, lake::Lake* lake,
         engine::Engine* engine, std::ostream& out, bool tty);

  // Runs until done, or until cancel fires (then running attempts are interrupted and the
  // run ends 'cancelled'). Throws Error(kInvalidInput) for an unknown --task.
  RunSummary Run(const RunOptions& options, CancelToken& cancel);
  // The engine of tasks with engine: spark (sql, check); the others run on `engine`.
  void UseSpark(engine::Engine* spark) { spark_ = spark; }

 private:
  const pipeline::PipelineSpec& spec_;
  state::StateStore* state_;
  lake::Lake* lake_;
  engine::Engine* engine_;
  engine::Engine* spark_ = nullptr;
  std::ostream& out_;
  bool tty_;
};

// Prints the end-of-run table: per task status, attempts, time, rows read/loaded/rejected.
void PrintSummary(const RunSummary& summary, std::ostream& out);

}  // namespace sluice::runner
