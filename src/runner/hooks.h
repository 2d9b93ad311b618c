#pragma once

// What a run tells the world when it ends or is late: a command run with the run's context
// in its environment, and/or a JSON POST to a webhook. Hooks never change a run's outcome: a
// hook that fails or hangs is logged and given up on at its timeout.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace sluice::runner {

// One hook of a pipeline file (on_failure:, on_success:, on_late:).
struct HookSpec {
  std::string command;  // run by /bin/sh -c
  std::string webhook;  // an http(s) URL to POST the context to
  std::chrono::milliseconds timeout{30000};
  bool empty() const { return command.empty() && webhook.empty(); }
};

// What a hook is told, as environment variables SLUICE_<NAME> and as the JSON object POSTed.
struct HookContext {
  std::string event;  // failure | success | late
  std::string pipeline;
  std::string file;
  int64_t run_id = 0;
  std::string ds;
  std::string run_key;
  std::string interval_start;
  std::string interval_end;
  std::string status;  // the run's status (or "running" / "not started" for late)
  std::string error;
  std::vector<std::pair<std::string, std::string>> tasks;  // task id -> status
};

// Runs hook for ctx; returns "" when it worked, else what went wrong (for the log). Blocks up
// to hook.timeout per action. Thread-safe.
std::string RunHook(const HookSpec& hook, const HookContext& ctx);

// The JSON the webhook receives.
std::string HookJson(const HookContext& ctx);

}  // namespace sluice::runner
