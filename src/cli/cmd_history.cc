// sluice runs, sluice status, sluice logs: what ran, from the state store.

#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/cli.h"
#include "common/error.h"
#include "common/strings.h"

namespace sluice::cli {
namespace {

int CmdRuns(Args& a) {
  auto w = Workspace::Open(a.positional[0], ParseVars(a), false);
  int limit = std::atoi(a.Get("limit", "20").c_str());
  auto runs = w.state->ListRuns(w.spec.name, DateFlag(a), limit);
  if (runs.empty()) {
    std::cout << "no runs of " << w.spec.name << " yet (start one with: sluice run "
              << a.positional[0] << " --date YYYY-MM-DD)\n";
    return 0;
  }
  char line[640];
  std::snprintf(line, sizeof line, "%-6s %-17s %-10s %-10s %-24s %-24s %s\n", "run", "run key",
                "status", "trigger", "started", "ended", "error");
  std::cout << line;
  for (const auto& r : runs) {
    std::string status = r.status + (r.interrupted ? "*" : "");
    std::snprintf(line, sizeof line, "%-6lld %-17s %-10s %-10s %-24s %-24s %s\n",
                  static_cast<long long>(r.run_id), r.run_key.c_str(), status.c_str(),
                  r.trigger.c_str(), r.started_at.c_str(), r.ended_at.c_str(),
                  r.error.substr(0, 120).c_str());
    std::cout << line;
  }
  bool any_interrupted = false;
  for (const auto& r : runs) any_interrupted |= r.interrupted;
  if (any_interrupted) std::cout << "* interrupted: its process died before the run ended\n";
  return 0;
}

int CmdStatus(Args& a) {
  auto w = Workspace::Open(a.positional[0], ParseVars(a), false);
  std::string ds = DateFlag(a);
  if (ds.empty()) {
    auto runs = w.state->ListRuns(w.spec.name, "", 1);
    if (runs.empty()) {
      std::cout << "no runs of " << w.spec.name << " yet\n";
      return 0;
    }
    ds = runs[0].ds;
  }
  std::cout << "pipeline " << w.spec.name << ", ds " << ds << "\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %-24s %-15s %-4s %-8s %12s %12s %12s  %s\n", "task", "status",
                "run", "attempts", "read", "loaded", "rejected", "ended");
  std::cout << line;
  for (const auto& id : w.spec.TopologicalOrder()) {
    auto history = w.state->TaskHistory(w.spec.name, ds, id);
    if (history.empty()) {
      std::snprintf(line, sizeof line, "  %-24s %-15s\n", id.c_str(), "never run");
      std::cout << line;
      continue;
    }
    const auto& last = history.back();
    int attempts = 0;
    for (const auto& h : history) attempts += h.run_id == last.run_id;
    std::snprintf(line, sizeof line, "  %-24s %-15s %-4lld %-8d %12s %12s %12s  %s\n", id.c_str(),
                  last.status.c_str(), static_cast<long long>(last.run_id), attempts,
                  HumanCount(static_cast<uint64_t>(last.counts.rows_read)).c_str(),
                  HumanCount(static_cast<uint64_t>(last.counts.rows_written)).c_str(),
                  HumanCount(static_cast<uint64_t>(last.counts.rows_rejected)).c_str(),
                  last.ended_at.c_str());
    std::cout << line;
    if (last.status != "success") {
      if (!last.error.empty()) {
        std::cout << "      " << ReplaceAll(last.error, "\n", "\n      ") << "\n";
      }
    }
  }
  return 0;
}

int CmdLogs(Args& a) {
  auto w = Workspace::Open(a.positional[0], ParseVars(a), false);
  std::string ds = DateFlag(a);
  std::string task = a.Get("task");
  if (ds.empty()) {
    auto runs = w.state->ListRuns(w.spec.name, "", 1);
    if (runs.empty()) throw UsageError("no runs yet; nothing to show");
    ds = runs[0].ds;
  }
  std::vector<std::string> ids =
      task.empty() ? w.spec.TopologicalOrder() : std::vector<std::string>{task};
  if (!task.empty() && !w.spec.FindTask(task))
    throw UsageError("--task " + task + ": no such task");
  int attempt_filter = std::atoi(a.Get("attempt", "0").c_str());
  bool any = false;
  for (const auto& id : ids) {
    auto history = w.state->TaskHistory(w.spec.name, ds, id);
    if (history.empty()) continue;
    int64_t last_run = history.back().run_id;
    for (const auto& h : history) {
      if (attempt_filter ? h.attempt != attempt_filter : h.run_id != last_run) continue;
      any = true;
      std::cout << "==> " << id << " attempt " << h.attempt << " (run " << h.run_id << ", "
                << h.status << ") " << h.log_path << "\n";
      std::ifstream in(h.log_path);
      std::cout << in.rdbuf() << "\n";
    }
  }
  if (!any)
    std::cout << "no logs for " << (task.empty() ? "any task" : task) << " on " << ds << "\n";
  return 0;
}

}  // namespace

Command RunsCommand() {
  return {"runs",
          "list the runs of a pipeline, newest first",
          "sluice runs PIPELINE.yaml [--date YYYY-MM-DD] [--limit N]",
          WithPipelineFlags({{"date", true, "only runs for this logical date"},
                             {"limit", true, "how many runs to show (default 20)"}}),
          "  sluice runs examples/citizens/pipeline.yaml --limit 5\n",
          1,
          1,
          CmdRuns};
}

Command StatusCommand() {
  return {"status",
          "show each task's latest state for a date",
          "sluice status PIPELINE.yaml [--date YYYY-MM-DD]",
          WithPipelineFlags({{"date", true, "the logical date (default: that of the newest run)"}}),
          "  sluice status examples/citizens/pipeline.yaml --date 2026-11-21\n",
          1,
          1,
          CmdStatus};
}

Command LogsCommand() {
  return {
      "logs",
      "print the log files of a date's task attempts",
      "sluice logs PIPELINE.yaml [--date YYYY-MM-DD] [--task T] [--attempt N]",
      WithPipelineFlags({{"date", true, "the logical date (default: that of the newest run)"},
                         {"task", true, "only this task"},
                         {"attempt", true,
                          "only this attempt number (default: every attempt of the newest run)"}}),
      "  sluice logs examples/citizens/pipeline.yaml --date 2026-11-21 --task ingest_citizens\n",
      1,
      1,
      CmdLogs};
}

}  // namespace sluice::cli
