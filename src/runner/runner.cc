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
#include <random>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "runner/hooks.h"
#include "runner/progress.h"
#include "tasks/task.h"

namespace sluice::runner {
namespace {

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

bool Succeeded(const std::string& status) {
  return status == "success" || status == "skipped" || status == "not_selected";
}

// One task of a run.
struct TaskState {
  const pipeline::TaskSpec* spec = nullptr;
  TaskOutcome outcome;
  bool selected = true;
  bool done = false;
  bool running = false;
  bool waiting_for_pool = false;  // told the user once
  double started = 0;
  tasks::Activity activity;
};

// What one attempt's worker thread hands back.
struct AttemptResult {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;  // Guarded by mu
  state::TaskCounts counts;
  std::optional<Error> error;
};

// One run of a pipeline for one date, step by step: select the tasks, skip what succeeded
// before, start every ready task while slots are free (each task: attempts with retries, each
// attempt on its own thread under its timeout), and summarize. Runner::Run drives it.
class Execution {
 public:
  Execution(const pipeline::PipelineSpec& spec, state::StateStore* state, lake::Lake* lake,
            engine::Engine* engine, engine::Engine* spark, std::ostream& out, bool tty,
            const RunOptions& options, CancelToken& cancel)
      : spec_(spec),
        state_(state),
        lake_(lake),
        engine_(engine),
        spark_(spark),
        tty_(tty),
        options_(options),
        cancel_(cancel),
        order_(spec.TopologicalOrder()),
        progress_(out, tty) {
    run_key_ = options_.run_key.empty() ? options_.ds : options_.run_key;
    for (const auto& id : order_) {
      auto ts = std::make_unique<TaskState>();
      ts->spec = spec_.FindTask(id);
      ts->outcome.task_id = id;
      tasks_[id] = std::move(ts);
    }
  }

  RunSummary Run() {
    double run_start = SteadySeconds();
    Select();
    state::RunStart start;
    start.pipeline = spec_.name;
    start.ds = options_.ds;
    start.run_key = run_key_;
    start.interval_start = options_.interval_start_iso;
    start.interval_end = options_.interval_end_iso;
    start.trigger = options_.trigger;
    summary_.run_id = state_->BeginRun(start);
    // Results Spark writes for sluice to read live in the run's staging, cleaned with it.
    if (spark_) spark_->SetScratchDir(lake_->RunStagingDir(summary_.run_id) + "/spark");
    OpenLogFolder();
    progress_.Print("run " + std::to_string(summary_.run_id) + ": pipeline " + spec_.name +
                    ", ds " + options_.ds + ", " + std::to_string(order_.size()) +
                    " tasks (logs: " + log_dir_ + ")");
    SkipSucceeded();
    std::thread reporter([this] { ReportProgress(); });
    Schedule();
    FaultPoint("run.after_tasks");
    stop_progress_ = true;
    reporter.join();
    progress_.Clear();
    Summarize();
    try {
      lake_->CleanupRun(summary_.run_id);
    } catch (const Error&) {
    }
    RunHooks();
    summary_.seconds = SteadySeconds() - run_start;
    return summary_;
  }

 private:
  // --task T [--downstream]: the tasks to run; the others are not_selected.
  void Select() {
    if (options_.tasks.empty()) return;
    for (const auto& id : options_.tasks) {
      if (!tasks_.count(id)) {
        std::string near = ClosestMatch(id, order_);
        throw InvalidInput("--task " + id + ": no such task in " + spec_.file +
                           (near.empty() ? " (tasks: " + Join(order_, ", ") + ")"
                                         : " (did you mean '" + near + "'?)"));
      }
      explicit_.insert(id);
    }
    if (options_.downstream) {
      for (const auto& id : order_) {  // topological: upstream first
        for (const auto& u : tasks_[id]->spec->upstream) {
          if (explicit_.count(u)) explicit_.insert(id);
        }
      }
    }
    for (auto& [id, ts] : tasks_) {
      ts->selected = explicit_.count(id) > 0;
      if (!ts->selected) {
        ts->done = true;
        ts->outcome.status = "not_selected";
      }
    }
  }

  void OpenLogFolder() {
    log_dir_ = spec_.ResolvePath(spec_.state_dir) + "/logs/" + spec_.name + "/" + options_.ds +
               "/run-" + std::to_string(summary_.run_id);
    try {
      std::filesystem::create_directories(log_dir_);
    } catch (const std::exception& e) {
      state_->EndRun(summary_.run_id, "failed", e.what());
      throw IoError("cannot create the log folder " + log_dir_ + ": " + e.what(), false);
    }
  }

  // Resume: a task that already succeeded for this date is not redone.
  void SkipSucceeded() {
    for (const auto& id : order_) {
      auto& ts = *tasks_[id];
      if (ts.done || options_.force || explicit_.count(id)) continue;
      if (auto prev = state_->LastSuccess(spec_.name, run_key_, id)) {
        ts.done = true;
        ts.outcome.status = "skipped";
        ts.outcome.counts = prev->counts;
        ts.outcome.error = "succeeded in run " + std::to_string(prev->run_id);
        progress_.Print("  = " + id + " already succeeded for " + run_key_ + " in run " +
                        std::to_string(prev->run_id) + " (use --force to redo)");
      }
    }
  }

  // Starts every ready task while slots are free, until every task is done.
  void Schedule() {
    std::unique_lock<std::mutex> lock(mu_);
    bool waiting_for_pool = false;
    for (;;) {
      bool all_done = true;
      for (const auto& id : order_) {
        auto& ts = *tasks_[id];
        if (ts.done) continue;
        all_done = false;
        if (ts.running) continue;
        std::string failed_upstream;
        bool ready = true;
        for (const auto& u : ts.spec->upstream) {
          auto& us = *tasks_[u];
          if (!us.done) {
            ready = false;
          } else if (!Succeeded(us.outcome.status)) {
            failed_upstream = u;
          }
        }
        if (!failed_upstream.empty() || cancel_.cancelled()) {
          ts.done = true;
          ts.outcome.status = cancel_.cancelled() ? "cancelled" : "upstream_failed";
          if (!cancel_.cancelled()) {
            ts.outcome.error = "upstream task '" + failed_upstream + "' did not succeed";
          }
          continue;
        }
        if (!ready || running_ >= spec_.max_parallel) continue;
        if (!ts.spec->pool.empty() && !TakePoolSlot(ts)) {
          waiting_for_pool = true;
          continue;
        }
        Start(ts);
      }
      if (all_done) break;
      // A slot of a pool frees when a task of any run ends: look again soon.
      cv_.wait_for(lock, std::chrono::milliseconds(waiting_for_pool ? 100 : 500));
      waiting_for_pool = false;
    }
    lock.unlock();
    for (auto& th : threads_) th.join();
  }

  // A slot of the task's pool (pools: of the pipeline file), shared through the state store
  // with every run of every pipeline that uses it, in any process. A task keeps its slot
  // through its retries.
  bool TakePoolSlot(TaskState& ts) {
    auto it = spec_.pools.find(ts.spec->pool);
    if (it == spec_.pools.end()) return true;
    bool taken = state_->TakePoolSlot(ts.spec->pool, it->second, PoolHolder(ts));
    if (!taken && !ts.waiting_for_pool) {
      ts.waiting_for_pool = true;
      progress_.Print("  . " + ts.outcome.task_id + " waits for a slot of pool '" + ts.spec->pool +
                      "' (" + std::to_string(it->second) + " slots, all taken)");
    }
    return taken;
  }

  void ReleasePoolSlot(TaskState& ts) {
    if (!spec_.pools.count(ts.spec->pool)) return;
    try {
      state_->ReleasePoolSlot(ts.spec->pool, PoolHolder(ts));
    } catch (const Error&) {
      // The slot is freed when this process ends (its holder is gone).
    }
  }

  std::string PoolHolder(const TaskState& ts) const {
    return "run " + std::to_string(summary_.run_id) + " task " + ts.outcome.task_id;
  }

  // Starts a task on a thread of its own. Called with mu_ held.
  void Start(TaskState& ts) {
    ts.running = true;
    ts.started = SteadySeconds();
    running_++;
    progress_.Print("  > " + ts.outcome.task_id + " started");
    threads_.emplace_back([this, p = &ts] {
      try {
        RunTask(*p);
      } catch (const std::exception& e) {
        // The state store or the log folder failed around the task: the task fails, the run
        // goes on and ends failed.
        p->outcome.status = "failed";
        p->outcome.error = std::string("cannot record the task: ") + e.what();
      }
      if (!p->spec->pool.empty()) ReleasePoolSlot(*p);
      std::lock_guard<std::mutex> l(mu_);
      p->running = false;
      p->done = true;
      running_--;
      progress_.Print(FinishedLine(*p));
      cv_.notify_all();
    });
  }

  std::string FinishedLine(const TaskState& ts) const {
    const auto& o = ts.outcome;
    std::string line = (o.status == "success" ? "  + " : "  x ") + o.task_id + " " + o.status +
                       " in " + HumanSeconds(o.seconds);
    auto count = [](int64_t n) { return HumanCount(static_cast<uint64_t>(n)); };
    if (o.status != "success") return line + ": " + FirstLine(o.error);
    if (ts.spec->kind == "check") return line + ": " + count(o.counts.rows_read) + " rows checked";
    if (o.counts.rows_read || o.counts.rows_written) {
      line += ": " + count(o.counts.rows_written) + " rows";
      if (o.counts.rows_rejected) line += ", " + count(o.counts.rows_rejected) + " rejected";
    }
    return line;
  }

  // One task: attempts with retries, until it is finished for this run.
  void RunTask(TaskState& ts) {
    const auto& t = *ts.spec;
    TaskOutcome& out = ts.outcome;
    double start = SteadySeconds();
    for (int attempt = 1;; attempt++) {
      out.attempts = attempt;
      bool retryable = RunAttempt(ts, attempt);
      if (out.status == "success" || cancel_.cancelled() || out.status == "cancelled") break;
      if (!retryable || attempt > t.retries) break;
      std::chrono::milliseconds delay = t.retry_delay * (int64_t{1} << std::min(attempt - 1, 20));
      delay = std::min(delay, t.max_retry_delay);
      // Jitter: between half and all of the backoff, so that tasks that failed together (a
      // database restart) do not all retry at the same moment.
      {
        static thread_local std::mt19937_64 rng{std::random_device{}()};
        std::uniform_int_distribution<int64_t> half(0, delay.count() / 2);
        delay = std::chrono::milliseconds(delay.count() - half(rng));
        if (delay >= std::chrono::seconds(2)) {
          delay = std::chrono::duration_cast<std::chrono::seconds>(delay);  // readable
        }
      }
      progress_.Print("  ! " + t.id + " attempt " + std::to_string(attempt) + " " + out.status +
                      ": " + FirstLine(out.error) + " (retrying in " + FormatDuration(delay) + ")");
      if (!cancel_.SleepFor(delay)) {
        out.status = "cancelled";
        break;
      }
    }
    out.seconds = SteadySeconds() - start;
  }

  // One attempt, on a worker thread of its own so that its timeout can be enforced; records it
  // and fills ts.outcome. Returns whether another attempt may succeed.
  bool RunAttempt(TaskState& ts, int attempt) {
    const auto& t = *ts.spec;
    TaskOutcome& out = ts.outcome;
    std::string log_path = log_dir_ + "/" + t.id + "." + std::to_string(attempt) + ".log";
    int64_t attempt_id =
        state_->BeginAttempt(summary_.run_id, spec_.name, options_.ds, t.id, attempt, log_path);
    out.log_path = log_path;
    auto log = std::make_shared<tasks::TaskLog>(log_path);
    log->Info("attempt " + std::to_string(attempt) + " of " + std::to_string(t.retries + 1) +
              " (attempt id " + std::to_string(attempt_id) + ")");
    auto attempt_cancel = std::make_shared<CancelToken>();
    int parent_id =
        cancel_.OnCancel([attempt_cancel, this] { attempt_cancel->Cancel(cancel_.reason()); });
    auto result = std::make_shared<AttemptResult>();
    std::thread worker([this, &ts, result, attempt_cancel, log, attempt_id, attempt] {
      Work(ts, *result, *attempt_cancel, *log, attempt_id, attempt);
    });
    Watch watch;
    try {
      watch = WatchAttempt(t, *result, *attempt_cancel, *log, attempt_id);
    } catch (...) {
      // The state store failed while watching the attempt: stop it before giving up.
      attempt_cancel->Cancel("the state store failed");
      worker.join();
      cancel_.RemoveOnCancel(parent_id);
      throw;
    }
    worker.join();
    cancel_.RemoveOnCancel(parent_id);
    return Record(ts, *result, watch, *log, attempt_id);
  }

  // The worker: runs the task's code with a context of its own.
  void Work(TaskState& ts, AttemptResult& result, CancelToken& attempt_cancel, tasks::TaskLog& log,
            int64_t attempt_id, int attempt) {
    std::optional<Error> error;
    state::TaskCounts counts, partial;
    CancelScope cancel_scope(&attempt_cancel);  // the lake's transfers stop with the attempt
    try {
      tasks::TaskContext ctx;
      ctx.partial_counts = &partial;
      ctx.spec = &spec_;
      ctx.task = ts.spec;
      ctx.ds = options_.ds;
      ctx.run_id = summary_.run_id;
      ctx.attempt_id = attempt_id;
      ctx.attempt = attempt;
      ctx.lake = lake_;
      ctx.state = state_;
      ctx.local_engine = engine_;
      ctx.engine = engine_;
      if (spec_.EngineOf(*ts.spec) == "spark") {
        if (!spark_) throw Internal("task '" + ts.spec->id + "' runs on spark: no Spark engine");
        ctx.engine = spark_;
      }
      ctx.cancel = &attempt_cancel;
      ctx.log = &log;
      ctx.activity = &ts.activity;
      ctx.rejects_dir = log_dir_;
      ctx.interval_start = options_.interval_start;
      ctx.interval_end = options_.interval_end;
      ctx.ts = options_.interval_start_iso;
      counts = tasks::RunTask(ctx);
    } catch (const Error& e) {
      error = e;
      counts = partial;
    } catch (const std::exception& e) {
      error = Internal(std::string("unexpected error: ") + e.what());
      counts = partial;
    }
    std::lock_guard<std::mutex> lock(result.mu);
    result.finished = true;
    result.counts = counts;
    result.error = error;
    result.cv.notify_all();
  }

  struct Watch {
    bool timed_out = false;  // the lease was taken: the attempt is recorded as timed out
    bool stopped = false;    // the attempt was stopped at its timeout while committing
  };

  // Waits for the worker; at the timeout, takes the attempt's lease (no publish after that)
  // and interrupts it. An attempt that is publishing finishes its few renames first; one that
  // is committing a load is interrupted but keeps its lease, so that its record says what its
  // commit did.
  Watch WatchAttempt(const pipeline::TaskSpec& t, AttemptResult& result, CancelToken& cancel,
                     tasks::TaskLog& log, int64_t attempt_id) {
    Watch w;
    std::unique_lock<std::mutex> lock(result.mu);
    auto deadline = std::chrono::steady_clock::now() + t.timeout;
    while (!result.cv.wait_until(lock, deadline, [&] { return result.finished; })) {
      lock.unlock();
      auto r = state_->RevokeLease(attempt_id, "timed_out",
                                   "timed out after " + FormatDuration(t.timeout));
      lock.lock();
      if (r == state::StateStore::Revoke::kRevoked) {
        w.timed_out = true;
        break;
      }
      if (r == state::StateStore::Revoke::kNotRunning) break;
      if (r == state::StateStore::Revoke::kCommitting && !w.stopped) {
        w.stopped = true;
        lock.unlock();
        log.Info("timed out after " + FormatDuration(t.timeout) +
                 " while committing; stopping it and recording what the commit did");
        cancel.Cancel("timed out after " + FormatDuration(t.timeout));
        lock.lock();
      }
      deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    }
    lock.unlock();
    if (w.timed_out) {
      cancel.Cancel("timed out after " + FormatDuration(t.timeout));
      log.Info("timed out after " + FormatDuration(t.timeout) + "; interrupting");
    }
    return w;
  }

  // Records the attempt's end in the state store and in ts.outcome; returns whether another
  // attempt may succeed.
  bool Record(TaskState& ts, AttemptResult& result, const Watch& watch, tasks::TaskLog& log,
              int64_t attempt_id) {
    const auto& t = *ts.spec;
    std::string status, error_text;
    bool retryable = false;
    std::string timeout_text = t.kind + " '" + t.id + "' timed out after " +
                               FormatDuration(t.timeout) +
                               " and was stopped (raise timeout: if the work is expected to take "
                               "longer)";
    if (watch.timed_out) {
      status = "timed_out";
      error_text = timeout_text;
      retryable = true;
    } else if (result.error) {
      const Error& e = *result.error;
      // Stopped at its timeout while committing: what the commit did is the error's to say.
      bool stopped_by_timeout = watch.stopped;
      status = stopped_by_timeout                  ? "timed_out"
               : e.kind() == ErrorKind::kCancelled ? "cancelled"
                                                   : "failed";
      error_text = stopped_by_timeout ? timeout_text + ": " + e.what() : e.what();
      retryable = stopped_by_timeout || e.retryable();
      if (!state_->EndAttempt(attempt_id, status, result.counts, error_text)) status = "failed";
    } else {
      status = "success";
      state_->EndAttempt(attempt_id, "success", result.counts, "");
    }
    log.Info("attempt ended: " + status + (error_text.empty() ? "" : ": " + error_text));
    ts.outcome.counts = result.counts;
    ts.outcome.status = status;
    ts.outcome.error = error_text;
    return retryable;
  }

  // Progress of running tasks, from their engine sessions or row counters.
  void ReportProgress() {
    while (!stop_progress_) {
      // Short sleeps, so the end of the run is not held up by this thread.
      for (int i = 0; i < (tty_ ? 2 : 100) && !stop_progress_; i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::vector<std::string> parts;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& id : order_) {
          auto& ts = *tasks_[id];
          if (ts.running) parts.push_back(ProgressOf(id, ts));
        }
      }
      if (!parts.empty() && !stop_progress_) progress_.Update(Join(parts, "  "));
    }
  }

  std::string ProgressOf(const std::string& id, TaskState& ts) {
    std::lock_guard<std::mutex> alock(ts.activity.mu);
    double elapsed = SteadySeconds() - ts.started;
    if (uint64_t rows = ts.activity.rows.load(); rows > 0) {
      uint64_t expected = ts.activity.expected_rows.load();
      double fraction = expected > 0 ? std::min(0.99, static_cast<double>(rows) / expected) : -1;
      return FormatProgress(id, fraction, rows, expected, elapsed, ts.activity.counts_bytes);
    }
    if (ts.activity.session) {
      auto p = ts.activity.session->GetProgress();
      bool bytes = ts.activity.total_bytes > 0;
      return FormatProgress(id, p.fraction, p.rows_processed, ts.activity.total_bytes, elapsed,
                            bytes, p.detail);
    }
    if (!ts.activity.what.empty()) {
      return "[" + id + "] " + ts.activity.what + " (" + HumanSeconds(elapsed) + ")";
    }
    return "[" + id + "] (" + HumanSeconds(elapsed) + ")";
  }

  // The run's status: cancelled when Ctrl-C stopped a task or kept one from running, failed
  // when a task did not succeed, else success (a Ctrl-C after the last task is too late to
  // change anything).
  void Summarize() {
    summary_.status = "success";
    bool stopped = false, failed = false;
    std::string error;
    for (const auto& id : order_) {
      const auto& o = tasks_[id]->outcome;
      summary_.tasks.push_back(o);
      if (o.status == "cancelled") stopped = true;
      if (!Succeeded(o.status) && o.status != "cancelled") failed = true;
      if (error.empty() && (o.status == "failed" || o.status == "timed_out")) {
        error = o.task_id + ": " + FirstLine(o.error);
      }
    }
    if (stopped) {
      summary_.status = "cancelled";
      error = cancel_.reason();
    } else if (failed) {
      summary_.status = "failed";
    }
    state_->EndRun(summary_.run_id, summary_.status, error);
  }

  // on_failure / on_success of the pipeline file, with the run's context.
  void RunHooks() {
    if (!options_.hooks) return;
    const pipeline::HookSpec* h = summary_.status == "success"  ? &spec_.on_success
                                  : summary_.status == "failed" ? &spec_.on_failure
                                                                : nullptr;
    if (h == nullptr || h->empty()) return;
    HookSpec hook{h->command, h->webhook, h->timeout};
    HookContext ctx;
    ctx.event = summary_.status == "success" ? "success" : "failure";
    ctx.pipeline = spec_.name;
    ctx.file = spec_.file;
    ctx.run_id = summary_.run_id;
    ctx.ds = options_.ds;
    ctx.run_key = run_key_;
    ctx.interval_start = options_.interval_start_iso;
    ctx.interval_end = options_.interval_end_iso;
    ctx.status = summary_.status;
    for (const auto& t : summary_.tasks) {
      ctx.tasks.emplace_back(t.task_id, t.status);
      if (ctx.error.empty() && (t.status == "failed" || t.status == "timed_out")) {
        ctx.error = t.task_id + ": " + FirstLine(t.error);
      }
    }
    std::string problem = RunHook(hook, ctx);
    progress_.Print("  hook on_" + ctx.event + (problem.empty() ? " ran" : " failed: " + problem));
  }

  const pipeline::PipelineSpec& spec_;
  state::StateStore* state_;
  lake::Lake* lake_;
  engine::Engine* engine_;
  engine::Engine* spark_;  // or null
  bool tty_;
  const RunOptions& options_;
  std::string run_key_;
  CancelToken& cancel_;
  std::vector<std::string> order_;
  ProgressLine progress_;
  std::map<std::string, std::unique_ptr<TaskState>> tasks_;
  std::set<std::string> explicit_;  // --task and, with --downstream, what depends on them
  RunSummary summary_;
  std::string log_dir_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;  // Guarded by mu_ while scheduling
  int running_ = 0;                   // Guarded by mu_
  std::atomic<bool> stop_progress_{false};
};

}  // namespace

Runner::Runner(const pipeline::PipelineSpec& spec, state::StateStore* state, lake::Lake* lake,
               engine::Engine* engine, std::ostream& out, bool tty)
    : spec_(spec), state_(state), lake_(lake), engine_(engine), out_(out), tty_(tty) {}

RunSummary Runner::Run(const RunOptions& options, CancelToken& cancel) {
  Execution execution(spec_, state_, lake_, engine_, spark_, out_, tty_, options, cancel);
  return execution.Run();
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
