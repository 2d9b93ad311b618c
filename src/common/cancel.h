#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace sluice {

// A one-way flag that stops work: set by Ctrl-C, a timeout, or a lost lease. Work checks it
// between steps (ThrowIfCancelled) and registers callbacks that interrupt blocking calls,
// such as a running DuckDB query. Thread-safe.
class CancelToken {
 public:
  // Sets the flag (first reason wins) and runs the registered callbacks once.
  void Cancel(const std::string& reason);
  bool cancelled() const;
  std::string reason() const;
  // Throws Error(kCancelled) with the reason when cancelled.
  void ThrowIfCancelled() const;
  // Runs fn on Cancel, or right away if already cancelled. Returns an id for Remove.
  int OnCancel(std::function<void()> fn);
  // Unregisters a callback; when Cancel is running it on another thread, waits until it has
  // returned, so that what it uses (a request's context on the caller's stack) may go away.
  // Never call it from inside the callback itself.
  void RemoveOnCancel(int id);
  // Sleeps up to d; returns false early when cancelled.
  bool SleepFor(std::chrono::milliseconds d);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;                          // Guarded by mu_
  std::string reason_;                              // Guarded by mu_
  std::map<int, std::function<void()>> callbacks_;  // Guarded by mu_
  int next_id_ = 0;                                 // Guarded by mu_
  std::set<int> pending_;                           // Guarded by mu_: callbacks Cancel will run
  int current_ = -1;                                // Guarded by mu_: the one it runs now
  std::condition_variable done_cv_;                 // current_ returned
};

// Makes token the current thread's cancel token while in scope, so that code far from the
// task's context (a file system's transfer loop, say) stops at Ctrl-C or a timeout: it checks
// CancelScope::Current(). Scopes nest; the innermost wins.
class CancelScope {
 public:
  explicit CancelScope(const CancelToken* token);
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  // The innermost scope's token of this thread, or nullptr.
  static const CancelToken* Current();

 private:
  const CancelToken* previous_;
};

// Test hook for crash tests: when the environment variable SLUICE_FAULT is "kill:<name>",
// the process sends itself SIGKILL on reaching FaultPoint("<name>"); "pause:<name>" prints
// "sluice: paused at <name>" on stderr and sleeps until killed; "stop:<name>" prints "sluice:
// stopped at <name>" and sends itself SIGSTOP, so a test can change something and let it go on
// with SIGCONT; "stall:<name>:<seconds>" prints "sluice: stalled at <name>" and sleeps that
// long. "<name>#N" acts at the N-th time the process reaches the point. A no-op otherwise.
void FaultPoint(const char* name);

}  // namespace sluice
