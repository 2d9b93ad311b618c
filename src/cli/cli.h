#pragma once

// What every command of the command line shares: flags and arguments, usage errors, the
// pieces a pipeline command opens (Workspace), and Ctrl-C. Each command lives in a file of its
// own (cmd_*.cc) that defines a function returning its Command, registered in one line of
// commands.cc.

#include <atomic>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/cancel.h"
#include "common/version.h"
#include "engine/engine.h"
#include "lake/lake.h"
#include "pipeline/spec.h"
#include "runner/runner.h"
#include "state/state_store.h"

namespace sluice::cli {

// A usage mistake: printed with the command's usage line, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Flag {
  std::string name;  // without dashes
  bool takes_value;
  std::string help;
  char short_name = 0;  // -n for --n..., or 0
};

struct Args;

struct Command {
  std::string name;
  std::string summary;
  std::string usage;
  std::vector<Flag> flags;
  std::string examples;
  int min_positional;
  int max_positional;
  std::function<int(Args&)> run;
  // Rewrites the raw arguments before parsing (Sqoop's short options), or null.
  std::function<std::vector<std::string>(const std::vector<std::string>&)> rewrite = nullptr;
};

struct Args {
  const Command* command = nullptr;
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> flags;

  bool Has(const std::string& f) const { return flags.count(f) > 0; }
  std::string Get(const std::string& f, const std::string& fallback = "") const;
  std::vector<std::string> All(const std::string& f) const;
  // The flag as an integer in [lo, hi], else UsageError naming it.
  int64_t GetInt(const std::string& f, int64_t fallback, int64_t lo, int64_t hi) const;
};

// A program made of commands: sluice, or a tool such as sluice-gen.
struct Program {
  std::string name;     // "sluice"
  std::string summary;  // one line under the name in the usage
  std::vector<Command> commands;
  std::string footer;  // after the command list (exit codes)
};

// Runs args (args[0] is the command) against the program's commands: --help, --version,
// unknown commands with a suggestion, usage errors with exit code 2, sluice errors with 1 or
// 2 by kind. Returns the process exit code.
int Dispatch(const Program& program, const std::vector<std::string>& args);

// The flags every pipeline command takes (--var), appended to flags.
std::vector<Flag> WithPipelineFlags(std::vector<Flag> flags);
// --var NAME=VALUE, repeatable.
std::map<std::string, std::string> ParseVars(const Args& a);
// --date as a logical date, or "" when absent. Checked before any pipeline file is read.
std::string DateFlag(const Args& a);

// The pieces every pipeline command needs, opened in dependency order.
struct Workspace {
  pipeline::PipelineSpec spec;
  std::unique_ptr<state::StateStore> state;
  std::unique_ptr<lake::Lake> lake;
  std::unique_ptr<engine::Engine> engine;
  // The Spark engine, when a task runs on spark (engine: {type: spark, remote: ...}).
  std::unique_ptr<engine::Engine> spark;

  static Workspace Open(const std::string& file, const std::map<std::string, std::string>& vars,
                        bool with_engine);
  // Opens the state store and the lake of spec (recovering interrupted publishes first) and,
  // with_engine, starts the engine, its spill files in a folder of this process.
  static Workspace FromSpec(pipeline::PipelineSpec spec, bool with_engine);

  Workspace() = default;
  Workspace(Workspace&& o) noexcept;
  Workspace& operator=(Workspace&&) = delete;
  ~Workspace();

  std::string spill_dir;
};

// The Spark engine of a workspace's pipeline (engine.remote:), reading results through its
// embedded engine. Throws InvalidInput for a lake Spark cannot share (webhdfs://).
std::unique_ptr<engine::Engine> MakeSparkEngine(const Workspace& w);

// Ctrl-C and SIGTERM while an object of this class lives: the first cancels `cancel` with a
// message on stderr, the second exits at once (130).
class Interrupts {
 public:
  Interrupts(CancelToken& cancel, std::string message);
  ~Interrupts();
  Interrupts(const Interrupts&) = delete;
  Interrupts& operator=(const Interrupts&) = delete;
  // How many signals arrived (for commands that escalate: drain, then cancel).
  static int Count();

 private:
  std::atomic<bool> done_{false};
  std::thread watcher_;
};

// Runs one run of w's pipeline with progress on stdout, Ctrl-C cancelling it cleanly, and
// prints the summary.
runner::RunSummary RunInterruptible(Workspace& w, const runner::RunOptions& opts);

}  // namespace sluice::cli
