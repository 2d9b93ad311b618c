#include "common/secrets.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

namespace sluice {
namespace {

std::mutex secrets_mu;
std::vector<std::string>* secrets = nullptr;  // Guarded by secrets_mu; longest first
std::atomic<bool> any_secret{false};          // fast path: most processes have none

}  // namespace

void RegisterSecret(std::string_view value) {
  if (value.size() < 3) return;
  std::lock_guard<std::mutex> lock(secrets_mu);
  if (secrets == nullptr) secrets = new std::vector<std::string>();  // never freed: used at exit
  if (std::find(secrets->begin(), secrets->end(), value) != secrets->end()) return;
  secrets->emplace_back(value);
  // Longest first, so a secret that contains another is masked whole.
  std::sort(secrets->begin(), secrets->end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  any_secret = true;
}

std::string RedactSecrets(std::string text) {
  if (!any_secret.load(std::memory_order_acquire)) return text;
  std::lock_guard<std::mutex> lock(secrets_mu);
  for (const auto& s : *secrets) {
    size_t pos = 0;
    while ((pos = text.find(s, pos)) != std::string::npos) {
      text.replace(pos, s.size(), "***");
      pos += 3;
    }
  }
  return text;
}

}  // namespace sluice
