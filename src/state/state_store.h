#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sluice::state {

struct RunRecord {
  int64_t run_id = 0;
  std::string pipeline;
  std::string ds;
  std::string status;  // running | success | failed | cancelled | cleared
  std::string trigger;
  std::string started_at;
  std::string ended_at;
  int64_t pid = 0;
  std::string error;
  std::string run_key;         // ds, or ds and a time for schedules that fire more often
  std::string interval_start;  // the data interval, ISO with offset ("" for old runs)
  std::string interval_end;
  bool interrupted = false;  // its process died before it ended
};

// The latest run of a run key, for the scheduler.
struct RunKeyState {
  int64_t run_id = 0;
  std::string ds;
  std::string status;
  bool live = false;              // 'running' in a process that exists
  bool last_interrupted = false;  // this run was interrupted (its process died)
  int interrupted = 0;            // how many of the key's runs were interrupted
};

// What BeginRun records.
struct RunStart {
  std::string pipeline;
  std::string ds;
  std::string run_key;  // "" = ds
  std::string interval_start;
  std::string interval_end;
  std::string trigger;  // manual | scheduled | backfill
};

struct TaskCounts {
  int64_t rows_read = 0;
  int64_t rows_written = 0;
  int64_t rows_rejected = 0;
  int64_t bytes = 0;
};

struct AttemptRecord {
  int64_t attempt_id = 0;
  int64_t run_id = 0;
  std::string task_id;
  int attempt = 0;
  // running | success | failed | cancelled | timed_out | skipped | upstream_failed
  std::string status;
  std::string started_at;
  std::string ended_at;
  TaskCounts counts;
  std::string error;
  std::string log_path;
};

// One publish in flight: written before the first file system step, advanced after each,
// deleted when done. Rows left after a crash are resolved by lake::Lake::Recover.
struct JournalEntry {
  int64_t journal_id = 0;
  int64_t attempt_id = 0;
  std::string dataset;
  std::string partition;
  std::string staging_path;
  std::string final_path;
  std::string backup_path;
  std::string step;  // begun | moved_aside | renamed
};

// The run state of one pipeline: runs, task attempts, the publish journal and watermarks,
// in one SQLite file (WAL mode, so `sluice runs` can read while a run writes).
// Safe for concurrent use by the threads of one process; several processes may open the same
// file. Every method throws sluice::Error(kIo) naming the file when SQLite fails.
class StateStore {
 public:
  // Opens or creates the file and its schema, and upgrades an older schema.
  static std::unique_ptr<StateStore> Open(const std::string& path);
  ~StateStore();

  const std::string& path() const { return path_; }

  // Starts a run. Throws InvalidInput when a live process already runs pipeline for ds.
  int64_t BeginRun(const RunStart& start);
  int64_t BeginRun(const std::string& pipeline, const std::string& ds, const std::string& trigger);
  void EndRun(int64_t run_id, const std::string& status, const std::string& error);
  // Marks runs and attempts left 'running' by a process that no longer exists as failed (the
  // runs as interrupted). Returns how many runs it closed.
  int CloseDeadRuns();

  int64_t BeginAttempt(int64_t run_id, const std::string& pipeline, const std::string& ds,
                       const std::string& task_id, int attempt, const std::string& log_path);
  // Ends an attempt that is still running; returns false when it was already ended (for
  // example marked timed_out by the runner), in which case nothing changes.
  bool EndAttempt(int64_t attempt_id, const std::string& status, const TaskCounts& counts,
                  const std::string& error);
  // Takes the lease from a running attempt (for a timeout): ends it with status unless it is in
  // the middle of a publish (a journal row exists), which must be allowed to finish, or has
  // begun committing a load (BeginCommit), whose outcome decides its status. Returns kRevoked,
  // kPublishing (try again shortly), kCommitting (stop the attempt and record what it returns)
  // or kNotRunning (it already ended).
  enum class Revoke { kRevoked, kPublishing, kCommitting, kNotRunning };
  Revoke RevokeLease(int64_t attempt_id, const std::string& status, const std::string& error);
  // The newest successful attempt of task for pipeline and run_key (ds for manual runs and
  // daily schedules), in any run; a cleared attempt does not count.
  std::optional<AttemptRecord> LastSuccess(const std::string& pipeline, const std::string& run_key,
                                           const std::string& task_id);
  // The newest run of pipeline for run_key.
  std::optional<RunRecord> LatestRun(const std::string& pipeline, const std::string& run_key);
  // The latest run of every run key of pipeline, in one query.
  std::map<std::string, RunKeyState> RunKeys(const std::string& pipeline);
  // How many runs of pipeline for run_key were interrupted (their process died).
  int InterruptedRuns(const std::string& pipeline, const std::string& run_key);

  // A paused pipeline gets no scheduled runs.
  void SetPaused(const std::string& pipeline, bool paused);
  bool IsPaused(const std::string& pipeline);
  // When a scheduler first saw the pipeline (recorded on the first call), ISO UTC.
  std::string FirstSeen(const std::string& pipeline);
  // Marks the successful attempts of tasks for pipeline and ds 'cleared' (so they run again)
  // and the date's finished runs 'cleared' (so the scheduler runs them again). Returns how
  // many attempts it cleared.
  int ClearTasks(const std::string& pipeline, const std::string& ds,
                 const std::vector<std::string>& tasks);
  // Records that a notification of kind (late) was sent for a run; false when it already was.
  bool MarkNotified(const std::string& pipeline, const std::string& run_key,
                    const std::string& kind);

  // Pools (a pipeline file's pools:): takes a slot of pool for holder unless size slots are
  // held already, in any process; slots of processes that are gone are freed first.
  bool TakePoolSlot(const std::string& pool, int size, const std::string& holder);
  void ReleasePoolSlot(const std::string& pool, const std::string& holder);
  int PoolSlotsInUse(const std::string& pool);

  std::optional<AttemptRecord> GetAttempt(int64_t attempt_id);
  std::vector<RunRecord> ListRuns(const std::string& pipeline, const std::string& ds, int limit);
  std::optional<RunRecord> GetRun(int64_t run_id);
  // Runs of pipeline newest first, older than before_run_id (0: from the newest).
  std::vector<RunRecord> RunsPage(const std::string& pipeline, int64_t before_run_id, int limit);
  // The latest run of each run key, newest key first, keys before before_key ("" = all).
  std::vector<RunRecord> LatestRunPerKey(const std::string& pipeline, const std::string& before_key,
                                         int limit);
  std::vector<AttemptRecord> AttemptsOfRuns(const std::vector<int64_t>& run_ids);
  // Just what a grid of runs x tasks shows, for many runs at once: the attempts' ids, runs,
  // tasks and statuses, in attempt order.
  struct AttemptCell {
    int64_t attempt_id;
    int64_t run_id;
    std::string task_id;
    std::string status;
    std::string run_key;
  };
  // Of pipeline's attempts for these run keys, in every run (a task that succeeded in an
  // earlier run of a key is not run again by the later ones).
  std::vector<AttemptCell> AttemptCells(const std::string& pipeline,
                                        const std::vector<std::string>& run_keys);
  // The newest attempt of every task of pipeline.
  std::map<std::string, AttemptRecord> LatestAttemptPerTask(const std::string& pipeline);
  // The pid of a run that is running in a live process.
  std::optional<int64_t> LivePid(int64_t run_id);
  std::vector<AttemptRecord> ListAttempts(int64_t run_id);
  // Every attempt of task for pipeline and ds, oldest first.
  std::vector<AttemptRecord> TaskHistory(const std::string& pipeline, const std::string& ds,
                                         const std::string& task_id);

  // Marks a running attempt as committing a load into target, in the same transaction as the
  // lease check: from then until EndAttempt its lease cannot be taken, so its recorded status
  // is what its commit did. Returns false when the attempt no longer holds its lease.
  bool BeginCommit(int64_t attempt_id, const std::string& target);

  // Records the start of a publish, in the same transaction as the lease check: the attempt
  // must still be 'running', else throws Error(kCancelled) "lost its lease".
  int64_t JournalBegin(const JournalEntry& entry);
  void JournalStep(int64_t journal_id, const std::string& step);
  void JournalDone(int64_t journal_id);
  std::vector<JournalEntry> OpenJournal();

  std::optional<std::string> GetWatermark(const std::string& pipeline, const std::string& task_id,
                                          const std::string& key);
  void SetWatermark(const std::string& pipeline, const std::string& task_id, const std::string& key,
                    const std::string& value);

 private:
  StateStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  void Exec(const std::string& sql);

  std::mutex mu_;
  sqlite3* db_;  // Guarded by mu_
  std::string path_;
};

}  // namespace sluice::state
