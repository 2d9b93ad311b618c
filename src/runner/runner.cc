#include "runner/runner.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "runner/progress.h"
#include "tasks/task.h"

namespace sluice::runner {
namespace {

struct TaskState {
  const pipeline::TaskSpec* spec = nullptr;
  TaskOutcome outcome;
  bool selected = true;
  bool done = false;
  bool running = false;
  double started = 0;
  tasks::Activity activity;
};

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

Runner::Runner(const pipeline::PipelineSpec& spec, state::StateStore* state, lake::Lake* lake,
               engine::Engine* engine, std::ostream& out, bool tty)
    : spec_(spec), state_(state), lake_(lake), engine_(engine), out_(out), tty_(tty) {}

RunSummary Runner::Run(const RunOptions& options, CancelToken& cancel) {
  double run_start = SteadySeconds();
  std::vector<std::string> order = spec_.TopologicalOrder();
  std::map<std::string, std::unique_ptr<TaskState>> tasks;
  for (const auto& id : order) {
    auto ts = std::make_unique<TaskState>();
    ts->spec = spec_.FindTask(id);
    ts->outcome.task_id = id;
    tasks[id] = std::move(ts);
  }

  // Selection: --task T [--downstream].
  std::set<std::string> explicit_tasks;
  if (!options.tasks.empty()) {
    for (const auto& id : options.tasks) {
      if (!tasks.count(id)) {
        std::string near = ClosestMatch(id, order);
        throw InvalidInput("--task " + id + ": no such task in " + spec_.file +
                           (near.empty() ? " (tasks: " + Join(order, ", ") + ")"
                                         : " (did you mean '" + near + "'?)"));
      }
      explicit_tasks.insert(id);
    }
    if (options.downstream) {
      for (const auto& id : order) {  // topological: upstream first
        for (const auto& u : tasks[id]->spec->upstream) {
          if (explicit_tasks.count(u)) explicit_tasks.insert(id);
        }
      }
    }
    for (auto& [id, ts] : tasks) {
      ts->selected = explicit_tasks.count(id) > 0;
      if (!ts->selected) {
        ts->done = true;
        ts->outcome.status = "not_selected";
      }
    }
  }

  RunSummary summary;
  summary.run_id = state_->BeginRun(spec_.name, options.ds, options.trigger);
  std::string log_dir = spec_.ResolvePath(spec_.state_dir) + "/logs/" + spec_.name + "/" +
                        options.ds + "/run-" + std::to_string(summary.run_id);
  try {
    std::filesystem::create_directories(log_dir);
  } catch (const std::exception& e) {
    state_->EndRun(summary.run_id, "failed", e.what());
    throw IoError("cannot create the log folder " + log_dir + ": " + e.what(), false);
  }
  ProgressLine progress(out_, tty_);
  progress.Print("run " + std::to_string(summary.run_id) + ": pipeline " + spec_.name + ", ds " +
                 options.ds + ", " + std::to_string(order.size()) + " tasks (logs: " + log_dir +
                 ")");

  // Resume: a task that already succeeded for this date is not redone.
  for (const auto& id : order) {
    auto& ts = *tasks[id];
    if (ts.done || options.force || explicit_tasks.count(id)) continue;
    if (auto prev = state_->LastSuccess(spec_.name, options.ds, id)) {
      ts.done = true;
      ts.outcome.status = "skipped";
      ts.outcome.counts = prev->counts;
      ts.outcome.error = "succeeded in run " + std::to_string(prev->run_id);
      progress.Print("  = " + id + " already succeeded for " + options.ds + " in run " +
                     std::to_string(prev->run_id) + " (use --force to redo)");
    }
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::thread> threads;
  int running = 0;
  std::atomic<bool> stop_progress{false};

  // One task: attempts with retries; returns when the task is finished for this run.
  auto run_task = [&](TaskState* ts) {
    const auto& t = *ts->spec;
    TaskOutcome& out = ts->outcome;
    double start = SteadySeconds();
    for (int attempt = 1;; attempt++) {
      out.attempts = attempt;
      std::string log_path = log_dir + "/" + t.id + "." + std::to_string(attempt) + ".log";
      int64_t attempt_id =
          state_->BeginAttempt(summary.run_id, spec_.name, options.ds, t.id, attempt, log_path);
      out.log_path = log_path;
      auto log = std::make_shared<tasks::TaskLog>(log_path);
      log->Info("attempt " + std::to_string(attempt) + " of " + std::to_string(t.retries + 1) +
                " (attempt id " + std::to_string(attempt_id) + ")");
      // The attempt runs on its own thread so that its timeout can be enforced: on timeout the
      // attempt loses its lease (no publish after that), and its engine query is interrupted.
      auto attempt_cancel = std::make_shared<CancelToken>();
      int parent_id =
          cancel.OnCancel([attempt_cancel, &cancel] { attempt_cancel->Cancel(cancel.reason()); });
      struct Result {
        std::mutex mu;
        std::condition_variable cv;
        bool finished = false;
        state::TaskCounts counts;
        std::optional<Error> error;
      };
      auto result = std::make_shared<Result>();
      std::thread worker([&, result, attempt_cancel, log, attempt_id, attempt] {
        std::optional<Error> error;
        state::TaskCounts counts;
        state::TaskCounts partial;
        try {
          tasks::TaskContext ctx;
          ctx.partial_counts = &partial;
          ctx.spec = &spec_;
          ctx.task = &t;
          ctx.ds = options.ds;
          ctx.run_id = summary.run_id;
          ctx.attempt_id = attempt_id;
          ctx.attempt = attempt;
          ctx.lake = lake_;
          ctx.state = state_;
          ctx.engine = engine_;
          ctx.cancel = attempt_cancel.get();
          ctx.log = log.get();
          ctx.activity = &ts->activity;
          ctx.rejects_dir = log_dir;
          counts = tasks::RunTask(ctx);
        } catch (const Error& e) {
          error = e;
          counts = partial;
        } catch (const std::exception& e) {
          error = Internal(std::string("unexpected error: ") + e.what());
          counts = partial;
        }
        std::lock_guard<std::mutex> lock(result->mu);
        result->finished = true;
        result->counts = counts;
        result->error = error;
        result->cv.notify_all();
      });
      bool timed_out = false;
      try {
        std::unique_lock<std::mutex> lock(result->mu);
        auto deadline = std::chrono::steady_clock::now() + t.timeout;
        while (!result->cv.wait_until(lock, deadline, [&] { return result->finished; })) {
          // Take the lease first, so the attempt cannot start a publish from here on. A publish
          // already under way is a few renames: it may finish, then the lease is taken.
          lock.unlock();
          auto r = state_->RevokeLease(attempt_id, "timed_out",
                                       "timed out after " + FormatDuration(t.timeout));
          lock.lock();
          if (r == state::StateStore::Revoke::kRevoked) {
            timed_out = true;
            break;
          }
          if (r == state::StateStore::Revoke::kNotRunning) break;
          deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
        }
      } catch (...) {
        // The state store failed while watching the attempt: stop it before giving up.
        attempt_cancel->Cancel("the state store failed");
        worker.join();
        cancel.RemoveOnCancel(parent_id);
        throw;
      }
      if (timed_out) {
        attempt_cancel->Cancel("timed out after " + FormatDuration(t.timeout));
        log->Info("timed out after " + FormatDuration(t.timeout) + "; interrupting");
      }
      worker.join();
      cancel.RemoveOnCancel(parent_id);

      std::string status;
      std::string error_text;
      bool retryable = false;
      if (timed_out) {
        status = "timed_out";
        error_text = t.kind + " '" + t.id + "' timed out after " + FormatDuration(t.timeout) +
                     " and was stopped (raise timeout: if the work is expected to take longer)";
        retryable = true;
      } else if (result->error) {
        const Error& e = *result->error;
        status = e.kind() == ErrorKind::kCancelled ? "cancelled" : "failed";
        error_text = e.what();
        retryable = e.retryable();
        if (!state_->EndAttempt(attempt_id, status, result->counts, error_text)) status = "failed";
      } else {
        status = "success";
        state_->EndAttempt(attempt_id, "success", result->counts, "");
      }
      log->Info("attempt ended: " + status + (error_text.empty() ? "" : ": " + error_text));
      out.counts = result->counts;
      out.status = status;
      out.error = error_text;
      if (status == "success" || cancel.cancelled() || status == "cancelled") break;
      if (!retryable || attempt > t.retries) break;
      std::chrono::milliseconds delay = t.retry_delay * (int64_t{1} << std::min(attempt - 1, 20));
      delay = std::min(delay, t.max_retry_delay);
      progress.Print("  ! " + t.id + " attempt " + std::to_string(attempt) + " " + status + ": " +
                     FirstLine(error_text) + " (retrying in " + FormatDuration(delay) + ")");
      if (!cancel.SleepFor(delay)) {
        out.status = "cancelled";
        break;
      }
    }
    out.seconds = SteadySeconds() - start;
  };

  // Progress of running tasks, from their engine sessions.
  std::thread progress_thread([&] {
    while (!stop_progress) {
      // Short sleeps, so the end of the run is not held up by this thread.
      for (int i = 0; i < (tty_ ? 2 : 100) && !stop_progress; i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::vector<std::string> parts;
      {
        std::lock_guard<std::mutex> lock(mu);
        for (const auto& id : order) {
          auto& ts = *tasks[id];
          if (!ts.running) continue;
          std::lock_guard<std::mutex> alock(ts.activity.mu);
          double elapsed = SteadySeconds() - ts.started;
          if (uint64_t rows = ts.activity.rows.load(); rows > 0) {
            uint64_t expected = ts.activity.expected_rows.load();
            double fraction =
                expected > 0 ? std::min(0.99, static_cast<double>(rows) / expected) : -1;
            parts.push_back(FormatProgress(id, fraction, rows, expected, elapsed, false));
          } else if (ts.activity.session) {
            auto p = ts.activity.session->GetProgress();
            bool bytes = ts.activity.total_bytes > 0;
            parts.push_back(FormatProgress(id, p.fraction, p.rows_processed,
                                           ts.activity.total_bytes, elapsed, bytes));
          } else {
            parts.push_back("[" + id + "] (" + HumanSeconds(elapsed) + ")");
          }
        }
      }
      if (!parts.empty() && !stop_progress) progress.Update(Join(parts, "  "));
    }
  });

  // The scheduling loop: start every ready task while slots are free.
  {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      bool all_done = true;
      for (const auto& id : order) {
        auto& ts = *tasks[id];
        if (ts.done || ts.running) {
          if (!ts.done) all_done = false;
          continue;
        }
        all_done = false;
        bool ready = true;
        bool blocked = false;
        std::string failed_upstream;
        for (const auto& u : ts.spec->upstream) {
          auto& us = *tasks[u];
          if (!us.done) {
            ready = false;
          } else if (us.outcome.status != "success" && us.outcome.status != "skipped" &&
                     us.outcome.status != "not_selected") {
            blocked = true;
            failed_upstream = u;
          }
        }
        if (blocked || (cancel.cancelled() && !ts.running)) {
          ts.done = true;
          ts.outcome.status = cancel.cancelled() ? "cancelled" : "upstream_failed";
          if (!cancel.cancelled())
            ts.outcome.error = "upstream task '" + failed_upstream + "' did not succeed";
          continue;
        }
        if (!ready || running >= spec_.max_parallel) continue;
        ts.running = true;
        ts.started = SteadySeconds();
        running++;
        progress.Print("  > " + id + " started");
        threads.emplace_back([&, p = &ts] {
          try {
            run_task(p);
          } catch (const std::exception& e) {
            // The state store or the log folder failed around the task: the task fails, the
            // run goes on and ends failed.
            p->outcome.status = "failed";
            p->outcome.error = std::string("cannot record the task: ") + e.what();
          }
          std::lock_guard<std::mutex> l(mu);
          p->running = false;
          p->done = true;
          running--;
          const auto& o = p->outcome;
          std::string line = (o.status == "success" ? "  + " : "  x ") + o.task_id + " " +
                             o.status + " in " + HumanSeconds(o.seconds);
          if (o.status == "success" && p->spec->kind == "check") {
            line += ": " + HumanCount(static_cast<uint64_t>(o.counts.rows_read)) + " rows checked";
          } else if (o.status == "success") {
            if (o.counts.rows_read || o.counts.rows_written) {
              line += ": " + HumanCount(static_cast<uint64_t>(o.counts.rows_written)) + " rows";
              if (o.counts.rows_rejected) {
                line +=
                    ", " + HumanCount(static_cast<uint64_t>(o.counts.rows_rejected)) + " rejected";
              }
            }
          } else {
            line += ": " + FirstLine(o.error);
          }
          progress.Print(line);
          cv.notify_all();
        });
        all_done = false;
      }
      if (all_done) break;
      cv.wait_for(lock, std::chrono::milliseconds(500));
    }
  }
  for (auto& th : threads) th.join();
  stop_progress = true;
  progress_thread.join();
  progress.Clear();

  summary.status = "success";
  for (const auto& id : order) {
    const auto& o = tasks[id]->outcome;
    summary.tasks.push_back(o);
    if (o.status == "cancelled" || cancel.cancelled()) {
      summary.status = "cancelled";
    } else if (o.status != "success" && o.status != "skipped" && o.status != "not_selected" &&
               summary.status != "cancelled") {
      summary.status = "failed";
    }
  }
  std::string error;
  for (const auto& o : summary.tasks) {
    if (o.status == "failed" || o.status == "timed_out") {
      error = o.task_id + ": " + FirstLine(o.error);
      break;
    }
  }
  if (summary.status == "cancelled") error = cancel.reason();
  state_->EndRun(summary.run_id, summary.status, error);
  try {
    lake_->CleanupRun(summary.run_id);
  } catch (const Error&) {
  }
  summary.seconds = SteadySeconds() - run_start;
  return summary;
}

void PrintSummary(const RunSummary& s, std::ostream& out) {
  out << "\nrun " << s.run_id << " " << s.status << " in " << HumanSeconds(s.seconds) << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-24s %-15s %8s %9s %14s %14s %12s\n", "task", "status",
                "attempts", "time", "read", "loaded", "rejected");
  out << line;
  for (const auto& t : s.tasks) {
    std::snprintf(line, sizeof line, "  %-24s %-15s %8d %9s %14s %14s %12s\n", t.task_id.c_str(),
                  t.status.c_str(), t.attempts, t.attempts ? HumanSeconds(t.seconds).c_str() : "-",
                  HumanCount(static_cast<uint64_t>(t.counts.rows_read)).c_str(),
                  HumanCount(static_cast<uint64_t>(t.counts.rows_written)).c_str(),
                  HumanCount(static_cast<uint64_t>(t.counts.rows_rejected)).c_str());
    out << line;
  }
  // The reconciliation the rules promise for every ingest: read = loaded + rejected.
  for (const auto& t : s.tasks) {
    if (t.status != "success" || t.counts.rows_rejected == 0) continue;
    out << "  " << t.task_id << ": read " << HumanCount(static_cast<uint64_t>(t.counts.rows_read))
        << " = loaded " << HumanCount(static_cast<uint64_t>(t.counts.rows_written))
        << " + rejected " << HumanCount(static_cast<uint64_t>(t.counts.rows_rejected)) << "\n";
  }
  for (const auto& t : s.tasks) {
    if (t.status == "failed" || t.status == "timed_out" || t.status == "cancelled") {
      out << "\n"
          << t.task_id << " " << t.status << ":\n  " << ReplaceAll(t.error, "\n", "\n  ")
          << "\n  log: " << t.log_path << "\n";
    }
  }
}

}  // namespace sluice::runner
