#include "runner/pools.h"

#include <algorithm>
#include <chrono>

namespace sluice::runner {

void Pools::Define(const std::string& name, int size) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = size_.find(name);
  size_[name] = it == size_.end() ? size : std::min(it->second, size);
}

bool Pools::TryAcquire(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = size_.find(name);
  if (it == size_.end()) return true;
  int& used = in_use_[name];
  if (used >= it->second) return false;
  used++;
  return true;
}

void Pools::Release(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!size_.count(name)) return;
    int& used = in_use_[name];
    if (used > 0) used--;
  }
  released_.notify_all();
}

void Pools::WaitForRelease(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  released_.wait_for(lock, std::chrono::milliseconds(ms));
}

int Pools::InUse(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_[name];
}

}  // namespace sluice::runner
