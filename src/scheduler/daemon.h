#pragma once

// `sluice scheduler`: runs pipelines on their schedules until stopped.
//
// Every tick it (1) looks at its pipeline files and loads those added or changed (a file that
// does not validate is reported once and the version loaded before keeps running; a removed
// file stops being scheduled), (2) reaps the runs it started, (3) marks the runs of processes
// that died as interrupted, (4) starts the runs that are due (due.h), each as a child process
// (launcher.h), and (5) fires on_late for runs past their deadline.
//
// One scheduler per state folder: it holds a lock file there, and a second scheduler is told
// which process holds it. Killed (even with SIGKILL) and restarted, it loses nothing: its runs
// go on in their own processes and count as active; runs whose process died are interrupted
// and started again (they resume: finished tasks are not redone), at most kMaxInterrupted
// times; due runs that were not started yet are started. The first SIGTERM (or Ctrl-C) drains:
// no new runs, the running ones finish; the second cancels them cleanly; the third kills them.

#include <chrono>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sluice::scheduler {

struct SchedulerOptions {
  std::vector<std::string> paths;  // folders (their *.yaml and *.yml files) and files
  std::map<std::string, std::string> vars;
  std::chrono::milliseconds tick{500};
  std::ostream* out = nullptr;   // the scheduler's log
  std::function<int()> signals;  // how many stop signals arrived so far
};

// A run whose process died this many times is left failed (sluice clear runs it again).
constexpr int kMaxInterrupted = 3;

class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Runs until stopped; returns the exit code (0 after a drain, 1 when it could not start,
  // for example because another scheduler holds the lock of a state folder).
  int Run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::scheduler
