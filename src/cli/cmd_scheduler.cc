// sluice scheduler, sluice backfill, sluice clear, sluice pause and sluice unpause.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <set>
#include <thread>

#include "cli/cli.h"
#include "common/error.h"
#include "common/strings.h"
#include "scheduler/actions.h"
#include "scheduler/daemon.h"
#include "scheduler/launcher.h"
#include "scheduler/schedule.h"
#include "server/ui_server.h"

namespace sluice::cli {
namespace {

using scheduler::Interval;
using scheduler::Schedule;

// Stop signals, counted; what each means is the command's to decide.
std::atomic<int> stop_signals{0};
void CountSignal(int) { stop_signals.fetch_add(1); }
void CountStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = CountSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

Date DateArg(const Args& a, const std::string& flag) {
  std::string v = a.Get(flag);
  auto d = Date::Parse(v);
  if (!d || !d->IsLogicalDate()) {
    throw UsageError("--" + flag + " " + v + ": write a date, YYYY-MM-DD");
  }
  return *d;
}

int CmdScheduler(Args& a) {
  scheduler::SchedulerOptions o;
  o.paths = a.positional;
  o.vars = ParseVars(a);
  o.out = &std::cout;
  if (a.Has("tick")) {
    auto t = ParseDuration(a.Get("tick"));
    if (!t || t->count() < 10 || t->count() > 60000) {
      throw UsageError("--tick " + a.Get("tick") + ": a duration from 10ms to 1m");
    }
    o.tick = *t;
  }
  CountStopSignals();
  o.signals = [] { return stop_signals.load(); };
  std::unique_ptr<server::UiServer> ui;
  if (a.Has("ui")) {
    server::UiOptions u;
    u.paths = o.paths;
    u.vars = o.vars;
    u.listen = a.Get("listen", "127.0.0.1:8080");
    u.token_file = a.Get("token-file");
    ui = std::make_unique<server::UiServer>(u);
    std::cout << "sluice scheduler: web UI at " << ui->url() << std::endl;
  } else if (a.Has("listen") || a.Has("token-file")) {
    throw UsageError("--listen and --token-file go with --ui");
  }
  scheduler::Scheduler s(o);
  return s.Run();
}

int CmdBackfill(Args& a) {
  for (const char* f : {"from", "to"}) {
    if (!a.Has(f)) throw UsageError(std::string("backfill needs --") + f + " YYYY-MM-DD");
  }
  Date from = DateArg(a, "from"), to = DateArg(a, "to");
  if (to < from) throw UsageError("--to is before --from");
  std::string rerun = a.Get("rerun", "none");
  if (rerun != "none" && rerun != "failed" && rerun != "all") {
    throw UsageError("--rerun " + rerun + ": failed (runs that failed again) or all");
  }
  int parallel = static_cast<int>(a.GetInt("parallel", 1, 1, 64));
  auto w = Workspace::Open(a.positional[0], ParseVars(a), false);
  Schedule schedule = scheduler::ScheduleOf(w.spec);
  const std::string& name = w.spec.name;
  auto plan = scheduler::PlanBackfill(w.spec, schedule, *w.state, from, to, rerun);
  if (plan.todo.empty() && plan.skipped.empty()) {
    std::cout << "backfill " << name << ": schedule '" << schedule.text()
              << "' has no run with a logical date from " << from.ToString() << " to "
              << to.ToString() << "\n";
    return 0;
  }
  for (const auto& [key, why] : plan.skipped) std::cout << "  = " << key << " " << why << "\n";
  const auto& todo = plan.todo;
  int skipped = static_cast<int>(plan.skipped.size());
  std::cout << "backfill " << name << ": " << todo.size() << " run(s) to do, " << skipped
            << " skipped, " << parallel << " at a time\n";
  if (a.Has("dry-run")) {
    for (const auto& r : todo) {
      std::cout << "  would run " << r.run_key << " (data interval " << r.start_iso << " to "
                << r.end_iso << ")\n";
    }
    return 0;
  }

  CountStopSignals();
  scheduler::Launcher launcher;
  std::map<pid_t, scheduler::RunInfo> running;
  std::map<std::string, std::string> outcome;  // run key -> status
  size_t next = 0;
  int seen = 0;
  bool stopping = false;
  std::string dir = w.spec.ResolvePath(w.spec.state_dir);
  while (next < todo.size() || !running.empty()) {
    int signals = stop_signals.load();
    if (signals > seen) {
      seen = signals;
      stopping = true;
      std::cerr << "\nsluice backfill: interrupted; "
                << (seen == 1 ? "cancelling the running runs (Ctrl-C again kills them)"
                              : "killing the running runs")
                << "\n";
      launcher.SignalAll(seen == 1 ? SIGTERM : SIGKILL);
    }
    for (const auto& e : launcher.Reap()) {
      auto r = running[e.pid];
      running.erase(e.pid);
      auto run = w.state->LatestRun(name, r.run_key);
      std::string status = run ? run->status : "did not start";
      outcome[r.run_key] = status;
      std::cout << (status == "success" ? "  + " : "  x ") << r.run_key << " " << status;
      if (run && !run->error.empty())
        std::cout << ": " << run->error.substr(0, run->error.find('\n'));
      if (!e.launch.log_path.empty() && status != "success") {
        std::cout << " (output: " << e.launch.log_path << ")";
      }
      std::cout << "\n" << std::flush;
    }
    std::set<std::string> busy_dates;
    for (const auto& [pid, r] : running) busy_dates.insert(r.ds.ToString());
    while (!stopping && next < todo.size() && static_cast<int>(running.size()) < parallel &&
           !busy_dates.count(todo[next].ds.ToString())) {
      const auto& r = todo[next++];
      scheduler::Launch l;
      l.file = w.spec.file;
      l.run_key = r.run_key;
      l.trigger = "backfill";
      l.force = rerun == "all";
      for (const auto& [k, v] : ParseVars(a)) l.vars.push_back(k + "=" + v);
      if (parallel > 1) {
        l.log_path = dir + "/logs/" + name + "/" + r.ds.ToString() + "/backfill-" +
                     ReplaceAll(r.run_key, ":", "") + ".out";
      }
      pid_t pid = launcher.Start(l);
      running[pid] = r;
      busy_dates.insert(r.ds.ToString());
      if (parallel > 1) std::cout << "  > " << r.run_key << " started\n" << std::flush;
    }
    if (stopping && running.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  int ok = 0, bad = 0;
  for (const auto& [k, s] : outcome) (s == "success" ? ok : bad)++;
  std::cout << "\nbackfill " << name << ": " << ok << " succeeded, " << bad << " did not, "
            << skipped << " skipped" << (stopping ? ", interrupted" : "") << "\n";
  if (stopping) return 130;
  return bad == 0 ? 0 : 1;
}

int CmdClear(Args& a) {
  if (!a.Has("date")) throw UsageError("clear needs --date YYYY-MM-DD");
  Date from = DateArg(a, "date");
  Date to = a.Has("to") ? DateArg(a, "to") : from;
  if (to < from) throw UsageError("--to is before --date");
  if (a.Has("downstream") && !a.Has("task")) throw UsageError("--downstream needs --task T");
  auto w = Workspace::Open(a.positional[0], ParseVars(a), false);
  scheduler::ClearPlan plan;
  try {
    plan = scheduler::PlanClear(w.spec, a.All("task"), a.Has("downstream"), from, to);
  } catch (const Error& e) {
    throw UsageError(std::string("--") + e.what());
  }
  int total = scheduler::Clear(w.spec, *w.state, plan);
  std::cout << "cleared " << total << " succeeded task attempt(s) of " << w.spec.name << " ("
            << Join(plan.tasks, ", ") << ") from " << from.ToString() << " to " << to.ToString()
            << "; the scheduler runs them again, or: sluice run " << a.positional[0] << " --date "
            << from.ToString() << "\n";
  return 0;
}

int CmdPause(Args& a) {
  bool pause = a.command->name == "pause";
  auto w = Workspace::Open(a.positional[0], ParseVars(a), false);
  w.state->SetPaused(w.spec.name, pause);
  std::cout << w.spec.name
            << (pause ? ": paused; the scheduler starts no new runs (runs in progress go on)"
                      : ": unpaused; the scheduler runs it again")
            << "\n";
  return 0;
}

}  // namespace

Command SchedulerCommand() {
  return {
      "scheduler",
      "run pipelines on their schedules until stopped (reloads changed files)",
      "sluice scheduler PIPELINES_FOLDER_OR_FILE... [--tick DURATION] [--ui [--listen HOST:PORT]]",
      WithPipelineFlags(
          {{"tick", true, "how often it looks at files, runs and clocks (default 500ms)"},
           {"ui", false, "also serve the web UI (docs/ui.md)"},
           {"listen", true, "with --ui: the address (default 127.0.0.1:8080)"},
           {"token-file", true, "with --ui: the token file (see sluice ui --help)"}}),
      "  sluice scheduler pipelines/\n"
      "  sluice scheduler pipelines/ >> scheduler.log 2>&1 &   # SIGTERM stops it gently\n",
      1,
      1000,
      CmdScheduler};
}

Command BackfillCommand() {
  return {"backfill",
          "run a pipeline for every logical date in a range (oldest first)",
          "sluice backfill PIPELINE.yaml --from YYYY-MM-DD --to YYYY-MM-DD [--rerun failed|all] "
          "[--parallel N] [--dry-run]",
          WithPipelineFlags(
              {{"from", true, "the first logical date"},
               {"to", true, "the last logical date (included)"},
               {"rerun", true,
                "runs that already ended: failed runs them again if they failed, all redoes "
                "every one (default: only runs that never finished)"},
               {"parallel", true, "runs at once (default 1; then their output is shown)"},
               {"dry-run", false, "print what would run, run nothing"}}),
          "  sluice backfill pipeline.yaml --from 2026-11-01 --to 2026-11-30 --parallel 2\n"
          "  sluice backfill pipeline.yaml --from 2026-11-01 --to 2026-11-07 --rerun failed\n",
          1,
          1,
          CmdBackfill};
}

Command ClearCommand() {
  return {"clear",
          "make tasks run again for a date: their successes no longer count",
          "sluice clear PIPELINE.yaml --date YYYY-MM-DD [--to YYYY-MM-DD] [--task T]... "
          "[--downstream]",
          WithPipelineFlags({{"date", true, "the logical date (the first, with --to)"},
                             {"to", true, "the last logical date to clear (included)"},
                             {"task", true, "clear only this task (repeatable; default: all)"},
                             {"downstream", false, "with --task: also what depends on it"}}),
          "  sluice clear pipeline.yaml --date 2026-11-21 --task clean_citizens --downstream\n",
          1,
          1,
          CmdClear};
}

Command PauseCommand() {
  return {"pause",
          "stop the scheduler from starting new runs of a pipeline",
          "sluice pause PIPELINE.yaml",
          WithPipelineFlags({}),
          "  sluice pause pipeline.yaml\n",
          1,
          1,
          CmdPause};
}

Command UnpauseCommand() {
  return {"unpause",
          "let the scheduler run a paused pipeline again",
          "sluice unpause PIPELINE.yaml",
          WithPipelineFlags({}),
          "  sluice unpause pipeline.yaml\n",
          1,
          1,
          CmdPause};
}

}  // namespace sluice::cli
