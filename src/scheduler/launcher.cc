#include "scheduler/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/strings.h"

extern char** environ;

namespace sluice::scheduler {

Launcher::Launcher() {
  std::error_code ec;
  binary_ = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec || binary_.empty()) binary_ = "sluice";
}

pid_t Launcher::Start(const Launch& l) {
  std::vector<std::string> args = {binary_};
  if (!l.args.empty()) {
    args.insert(args.end(), l.args.begin(), l.args.end());
  } else {
    for (const auto& a : {std::string("run"), l.file, std::string("--date"), l.run_key,
                          std::string("--trigger"), l.trigger}) {
      args.push_back(a);
    }
    if (l.force) args.push_back("--force");
    if (!l.snapshot.empty()) {
      args.push_back("--snapshot");
      args.push_back(l.snapshot);
    }
    for (const auto& v : l.vars) {
      args.push_back("--var");
      args.push_back(v);
    }
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (!l.log_path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(l.log_path).parent_path(), ec);
    posix_spawn_file_actions_addopen(&actions, 1, l.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A session of its own: a Ctrl-C meant for the scheduler's terminal does not reach the run
  // (the scheduler decides what it gets), and the run outlives a scheduler that is killed.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, binary_.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw IoError("cannot start " + binary_ + " run " + l.file + ": " + std::strerror(rc), true);
  }
  children_[pid] = l;
  return pid;
}

std::vector<Ended> Launcher::Reap() {
  std::vector<Ended> out;
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    pid_t r = ::waitpid(it->first, &status, WNOHANG);
    if (r == it->first || (r < 0 && errno == ECHILD)) {
      Ended e;
      e.pid = it->first;
      e.exit_code = r < 0                 ? -1
                    : WIFEXITED(status)   ? WEXITSTATUS(status)
                    : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                          : -1;
      e.launch = it->second;
      out.push_back(std::move(e));
      it = children_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void Launcher::SignalAll(int sig) {
  for (const auto& [pid, launch] : children_) ::kill(-pid, sig);  // its session's group
}

std::string TailOfFile(const std::string& path, int lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) {
    all.push_back(line);
    if (all.size() > static_cast<size_t>(lines)) all.erase(all.begin());
  }
  return Join(all, "\n");
}

}  // namespace sluice::scheduler
