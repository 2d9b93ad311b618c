#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

namespace sluice::runner {

// Slots that cap how many tasks run at once across every run of a process (a pipeline file's
// pools:, a task's pool:): a task of pool P starts only while P has a free slot, so a database
// that tolerates two connections gets two. Thread-safe.
class Pools {
 public:
  // Declares pool name with size slots; when several pipeline files declare it, the smallest
  // size wins.
  void Define(const std::string& name, int size);
  // Takes a slot of name when one is free; an undeclared pool has no limit.
  bool TryAcquire(const std::string& name);
  void Release(const std::string& name);
  // Waits up to ms for any slot to be released (for a scheduling loop that found none).
  void WaitForRelease(int ms);
  int InUse(const std::string& name);

 private:
  std::mutex mu_;
  std::condition_variable released_;
  std::map<std::string, int> size_;    // Guarded by mu_
  std::map<std::string, int> in_use_;  // Guarded by mu_
};

}  // namespace sluice::runner
