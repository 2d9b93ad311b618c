#include "runner/hooks.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/secrets.h"
#include "common/strings.h"
#include "common/time.h"

extern char** environ;

namespace sluice::runner {
namespace {

std::string EnvName(const std::string& key) {
  std::string out = "SLUICE_";
  for (char c : key) out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

std::string RunCommand(const HookSpec& hook, const HookContext& ctx) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; e++) env_strings.emplace_back(*e);
  auto add = [&](const std::string& k, const std::string& v) {
    env_strings.push_back(EnvName(k) + "=" + RedactSecrets(v));
  };
  add("event", ctx.event);
  add("pipeline", ctx.pipeline);
  add("pipeline_file", ctx.file);
  add("run_id", std::to_string(ctx.run_id));
  add("ds", ctx.ds);
  add("run_key", ctx.run_key);
  add("data_interval_start", ctx.interval_start);
  add("data_interval_end", ctx.interval_end);
  add("status", ctx.status);
  add("error", ctx.error);
  std::vector<std::string> failed;
  for (const auto& [id, status] : ctx.tasks) {
    if (status != "success" && status != "skipped" && status != "not_selected") {
      failed.push_back(id);
    }
  }
  add("failed_tasks", Join(failed, " "));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = hook.command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The hook's output goes nowhere a user reads by accident: stdin and stdout closed, stderr
  // kept (the scheduler's own log).
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return std::string("cannot start /bin/sh: ") + std::strerror(rc);
  double deadline = SteadySeconds() + hook.timeout.count() / 1000.0;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
      if (WIFEXITED(status))
        return "the command exited with " + std::to_string(WEXITSTATUS(status));
      return "the command was killed by signal " + std::to_string(WTERMSIG(status));
    }
    if (SteadySeconds() > deadline) {
      ::kill(-pid, SIGKILL);  // its process group: the shell and what it started
      ::waitpid(pid, &status, 0);
      return "the command did not finish within " + FormatDuration(hook.timeout) + "; killed";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

std::string PostWebhook(const HookSpec& hook, const HookContext& ctx) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return "cannot start libcurl";
  std::string body = HookJson(ctx);
  struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, hook.webhook.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(hook.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(hook.timeout.count(), 10000)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return std::string("POST failed: ") + curl_easy_strerror(rc);
  if (code < 200 || code >= 300) return "POST answered HTTP " + std::to_string(code);
  return "";
}

}  // namespace

std::string HookJson(const HookContext& ctx) {
  nlohmann::ordered_json j;
  j["event"] = ctx.event;
  j["pipeline"] = ctx.pipeline;
  j["pipeline_file"] = ctx.file;
  j["run_id"] = ctx.run_id;
  j["ds"] = ctx.ds;
  j["run_key"] = ctx.run_key;
  j["data_interval_start"] = ctx.interval_start;
  j["data_interval_end"] = ctx.interval_end;
  j["status"] = ctx.status;
  j["error"] = RedactSecrets(ctx.error);
  j["tasks"] = nlohmann::ordered_json::object();
  for (const auto& [id, status] : ctx.tasks) j["tasks"][id] = status;
  return j.dump();
}

std::string RunHook(const HookSpec& hook, const HookContext& ctx) {
  std::vector<std::string> problems;
  if (!hook.command.empty()) {
    std::string p = RunCommand(hook, ctx);
    if (!p.empty()) problems.push_back("command: " + p);
  }
  if (!hook.webhook.empty()) {
    std::string p = PostWebhook(hook, ctx);
    if (!p.empty()) problems.push_back("webhook " + hook.webhook + ": " + p);
  }
  return Join(problems, "; ");
}

}  // namespace sluice::runner
