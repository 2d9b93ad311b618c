#include "common/cancel.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "common/error.h"

namespace sluice {

void CancelToken::Cancel(const std::string& reason) {
  std::vector<std::pair<int, std::function<void()>>> to_run;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    reason_ = reason;
    for (auto& [id, fn] : callbacks_) {
      to_run.emplace_back(id, fn);
      pending_.insert(id);
    }
  }
  cv_.notify_all();
  // Outside the lock (a callback may take a while, or ask this token). One removed meanwhile is
  // skipped; RemoveOnCancel waits for the one running.
  for (auto& [id, fn] : to_run) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_.erase(id) == 0) continue;
      current_ = id;
    }
    fn();
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = -1;
    }
    done_cv_.notify_all();
  }
}

bool CancelToken::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

std::string CancelToken::reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_;
}

void CancelToken::ThrowIfCancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) throw Cancelled(reason_);
}

int CancelToken::OnCancel(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cancelled_) {
      callbacks_[next_id_] = std::move(fn);
      return next_id_++;
    }
  }
  fn();
  return -1;
}

void CancelToken::RemoveOnCancel(int id) {
  std::unique_lock<std::mutex> lock(mu_);
  callbacks_.erase(id);
  pending_.erase(id);
  done_cv_.wait(lock, [&] { return current_ != id; });
}

bool CancelToken::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return cancelled_; });
}

namespace {
thread_local const CancelToken* current_cancel = nullptr;
}  // namespace

CancelScope::CancelScope(const CancelToken* token) : previous_(current_cancel) {
  current_cancel = token;
}
CancelScope::~CancelScope() { current_cancel = previous_; }
const CancelToken* CancelScope::Current() { return current_cancel; }

void FaultPoint(const char* name) {
  const char* spec = std::getenv("SLUICE_FAULT");
  if (spec == nullptr) return;
  const char* colon = std::strchr(spec, ':');
  if (colon == nullptr) return;
  // The name runs to the end, or (stall:) to a second colon; name#N means its N-th hit.
  const char* colon2 = std::strchr(colon + 1, ':');
  size_t len = colon2 ? static_cast<size_t>(colon2 - colon - 1) : std::strlen(colon + 1);
  std::string wanted(colon + 1, len);
  const std::string as_given = wanted;  // name or name#N, as the test wrote it
  int nth = 1;
  if (auto hash = wanted.find('#'); hash != std::string::npos) {
    nth = std::atoi(wanted.c_str() + hash + 1);
    wanted.resize(hash);
  }
  if (wanted != name) return;
  static std::atomic<int> hits{0};
  if (++hits != nth) return;
  if (colon2 == nullptr) colon2 = colon;
  if (std::strncmp(spec, "kill:", 5) == 0) {
    std::fprintf(stderr, "sluice: killed at fault point %s\n", as_given.c_str());
    std::fflush(stderr);
    ::kill(::getpid(), SIGKILL);
  } else if (std::strncmp(spec, "stall:", 6) == 0) {
    // stall:<name>:<seconds> -- a window in which a test acts (a Ctrl-C, say).
    std::fprintf(stderr, "sluice: stalled at %s\n", as_given.c_str());
    std::fflush(stderr);
    // The whole time, signals or not (a test's Ctrl-C must land inside the window).
    struct timespec left = {std::atoi(colon2 + 1), 0};
    while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
  } else if (std::strncmp(spec, "stop:", 5) == 0) {
    // The test that set it changes the world (truncates a file, stops a server), then sends
    // SIGCONT.
    std::fprintf(stderr, "sluice: stopped at %s\n", as_given.c_str());
    std::fflush(stderr);
    ::raise(SIGSTOP);
  } else if (std::strncmp(spec, "pause:", 6) == 0) {
    std::fprintf(stderr, "sluice: paused at %s\n", as_given.c_str());
    std::fflush(stderr);
    for (;;) ::pause();
  }
}

}  // namespace sluice
