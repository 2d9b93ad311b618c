#pragma once

// Starts runs as child processes (`sluice run FILE --date KEY --trigger T`), each in a session
// of its own with its output in a log file. A run in its own process can be stopped for real,
// cannot take the scheduler down with it when it crashes, and goes on when the scheduler is
// killed: a scheduler that restarts finds it running in the state store and waits for it.

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace sluice::scheduler {

struct Launch {
  std::string file;      // the pipeline file
  std::string snapshot;  // a copy of it to read instead (--snapshot), or ""
  std::string run_key;   // passed as --date
  std::string trigger;   // scheduled | backfill
  bool force = false;
  std::vector<std::string> vars;  // --var NAME=VALUE
  std::string log_path;           // "" = inherit stdout and stderr
  // Given: the whole command line after the binary (another command, such as backfill); the
  // fields above but log_path are then not used.
  std::vector<std::string> args;
};

struct Ended {
  pid_t pid = 0;
  int exit_code = 0;  // 128 + signal when killed
  Launch launch;
};

class Launcher {
 public:
  // The sluice binary that runs the children: this process's own executable.
  Launcher();

  // Starts a child; throws Error(kIo) when it cannot.
  pid_t Start(const Launch& launch);
  // Children that ended since the last call (not blocking).
  std::vector<Ended> Reap();
  // Sends sig to every running child's process group.
  void SignalAll(int sig);
  size_t running() const { return children_.size(); }
  const std::map<pid_t, Launch>& children() const { return children_; }

 private:
  std::string binary_;
  std::map<pid_t, Launch> children_;
};

// The last lines of a log file (for a child that failed before its run began).
std::string TailOfFile(const std::string& path, int lines);

}  // namespace sluice::scheduler
