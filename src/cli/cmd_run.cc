// sluice run and sluice validate.

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>

#include "cli/cli.h"
#include "cli/spark_validate.h"
#include "common/error.h"
#include "common/strings.h"
#include "runner/runner.h"
#include "scheduler/actions.h"
#include "scheduler/schedule.h"

namespace sluice::cli {
namespace {

// The run that `sluice run` makes: --date (a date, a run key or an instant), --latest, or
// today in the pipeline's zone.
runner::RunOptions ChooseRun(const pipeline::PipelineSpec& spec, const Args& a) {
  auto schedule = scheduler::ScheduleOf(spec);
  std::string key = a.Get("date");
  if (a.Has("latest") && !key.empty()) throw UsageError("--latest and --date: pass one");
  if (a.Has("latest")) key = "latest";
  if (key.empty()) key = schedule.LogicalDate({scheduler::Now(), scheduler::Now()}).ToString();
  scheduler::RunInfo run;
  try {
    run = scheduler::ResolveRun(spec, schedule, key);
  } catch (const Error& e) {
    throw UsageError(std::string(StartsWith(e.what(), "date ") ? "--" : "") + e.what());
  }
  runner::RunOptions opts;
  opts.ds = run.ds.ToString();
  opts.run_key = run.run_key;
  opts.interval_start = run.start_local;
  opts.interval_end = run.end_local;
  opts.interval_start_iso = run.start_iso;
  opts.interval_end_iso = run.end_iso;
  return opts;
}

int CmdRun(Args& a) {
  if (a.Get("date").size() <= 10) DateFlag(a);  // checked before the file is read
  std::optional<std::string> snapshot;
  if (a.Has("snapshot")) {
    // The copy of the file the scheduler validated: a later edit that breaks the file does not
    // stop the runs of the version before it.
    std::ifstream in(a.Get("snapshot"), std::ios::binary);
    if (!in) throw UsageError("--snapshot " + a.Get("snapshot") + ": cannot read it");
    snapshot.emplace((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  auto spec =
      pipeline::LoadPipelineOrThrow(a.positional[0], ParseVars(a), snapshot ? &*snapshot : nullptr);
  runner::RunOptions opts = ChooseRun(spec, a);
  opts.force = a.Has("force");
  opts.tasks = a.All("task");
  opts.downstream = a.Has("downstream");
  opts.trigger = a.Get("trigger", "manual");
  if (opts.trigger != "manual" && opts.trigger != "scheduled" && opts.trigger != "backfill" &&
      opts.trigger != "cron" && opts.trigger != "airflow" && opts.trigger != "ui") {
    throw UsageError("--trigger " + opts.trigger +
                     ": use manual, scheduled, backfill, cron, airflow or ui");
  }
  if (opts.downstream && opts.tasks.empty()) throw UsageError("--downstream needs --task T");
  if (a.Has("latest") && !opts.force && opts.tasks.empty()) {
    // What cron calls every time it fires: nothing to do when the run already succeeded or
    // is running.
    auto w = Workspace::FromSpec(spec, false);
    if (auto run = w.state->LatestRun(spec.name, opts.run_key)) {
      if (run->status == "success" || run->status == "running") {
        std::cout << spec.name << " " << opts.run_key << ": "
                  << (run->status == "success" ? "already succeeded" : "running") << " (run "
                  << run->run_id << "); nothing to do\n";
        return 0;
      }
    }
  }
  auto w = Workspace::FromSpec(std::move(spec), true);
  auto summary = RunInterruptible(w, opts);
  if (summary.status == "success") return 0;
  if (summary.status == "cancelled") return 130;
  return 1;
}

int CmdValidate(Args& a) {
  std::vector<pipeline::Diagnostic> diagnostics;
  auto spec = pipeline::LoadPipeline(a.positional[0], ParseVars(a), &diagnostics);
  if (!diagnostics.empty()) {
    for (const auto& d : diagnostics) std::cerr << pipeline::FormatDiagnostic(d) << "\n";
    std::cerr << diagnostics.size() << " problem" << (diagnostics.size() == 1 ? "" : "s")
              << " found\n";
    return 2;
  }
  std::cout << a.positional[0] << ": ok, pipeline " << spec.name << " with " << spec.tasks.size()
            << " tasks\n";
  for (const auto& id : spec.TopologicalOrder()) {
    const auto* t = spec.FindTask(id);
    std::cout << "  " << id << " (" << t->kind << ")";
    if (!t->upstream.empty()) std::cout << " after " << Join(t->upstream, ", ");
    std::cout << "\n";
  }
  // Models that run on Spark are analyzed by the server too.
  if (a.Has("offline")) return 0;
  int problems = ValidateOnSpark(spec, std::cout, std::cerr);
  if (problems > 0) {
    std::cerr << problems << " problem" << (problems == 1 ? "" : "s") << " found on Spark\n";
    return 2;
  }
  return 0;
}

}  // namespace

Command RunCommand() {
  return {"run",
          "run a pipeline for one logical date (resumes: finished tasks are not redone)",
          "sluice run PIPELINE.yaml [--date YYYY-MM-DD | --latest] [--force] [--task T]... "
          "[--downstream]",
          WithPipelineFlags(
              {{"date", true,
                "the logical date ds (default: today in the pipeline's timezone), a run key of a "
                "schedule that fires several times a day (2026-11-21T06:00), or the instant an "
                "interval starts (2026-11-21T05:00:00Z)"},
               {"latest", false, "the latest interval of the schedule that has ended (for cron)"},
               {"force", false, "redo tasks that already succeeded for this run"},
               {"task", true, "run only this task (repeatable); it is always redone"},
               {"downstream", false, "with --task: also run every task that depends on it"},
               {"snapshot", true,
                "read the pipeline from this copy of the file, resolving paths as if it were "
                "the file (the scheduler passes the version it validated)"},
               {"trigger", true,
                "what started the run, kept in its history: manual (default), scheduled, "
                "backfill, cron, airflow or ui"}}),
          "  sluice run examples/citizens/pipeline.yaml --date 2026-11-21\n"
          "  sluice run pipeline.yaml --date 2026-11-21 --task clean_citizens --downstream\n"
          "  sluice run pipeline.yaml --latest        # what cron calls (sluice crontab)\n",
          1,
          1,
          CmdRun};
}

Command ValidateCommand() {
  return {"validate",
          "check a pipeline file and report every mistake with file:line:column",
          "sluice validate PIPELINE.yaml [--offline]",
          WithPipelineFlags({{"offline", false,
                              "check the file only: do not ask the Spark Connect server to "
                              "analyze the models that run on Spark"}}),
          "  sluice validate examples/citizens/pipeline.yaml\n"
          "  sluice validate pipeline.yaml --offline   # no Spark server at hand\n",
          1,
          1,
          CmdValidate};
}

}  // namespace sluice::cli
