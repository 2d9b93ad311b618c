#include "cli/cli.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <utility>

#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "fs/file_system.h"
#include "spark/spark_engine.h"
#include "tasks/storage.h"

namespace sluice::cli {

std::string Args::Get(const std::string& f, const std::string& fallback) const {
  auto it = flags.find(f);
  return it == flags.end() ? fallback : it->second;
}

std::vector<std::string> Args::All(const std::string& f) const {
  std::vector<std::string> out;
  auto [b, e] = flags.equal_range(f);
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

int64_t Args::GetInt(const std::string& f, int64_t fallback, int64_t lo, int64_t hi) const {
  if (!Has(f)) return fallback;
  std::string v = Get(f);
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || n < lo || n > hi) {
    throw UsageError("--" + f + " " + v + ": write a whole number from " + std::to_string(lo) +
                     " to " + std::to_string(hi));
  }
  return n;
}

namespace {

void PrintUsage(const Program& p, std::ostream& out) {
  out << p.name << " " << kVersion << ": " << p.summary << "\n\n"
      << "usage: " << p.name << " COMMAND [options]   (" << p.name
      << " COMMAND --help for details)\n\ncommands:\n";
  for (const auto& c : p.commands) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-17s %s\n", c.name.c_str(), c.summary.c_str());
    out << line;
  }
  out << p.footer;
}

void PrintCommandHelp(const Command& c, std::ostream& out) {
  out << "usage: " << c.usage << "\n\n" << c.summary << "\n\noptions:\n";
  for (const auto& f : c.flags) {
    char line[300];
    std::string name = (f.short_name ? std::string("-") + f.short_name + ", " : std::string()) +
                       "--" + f.name + (f.takes_value ? " VALUE" : "");
    std::snprintf(line, sizeof line, "  %-20s %s\n", name.c_str(), f.help.c_str());
    out << line;
  }
  out << "\nexamples:\n" << c.examples;
}

Args Parse(const Command& c, const std::vector<std::string>& args) {
  Args a;
  a.command = &c;
  for (size_t i = 1; i < args.size(); i++) {
    std::string s = args[i];
    if (s == "--") {
      for (size_t j = i + 1; j < args.size(); j++) a.positional.push_back(args[j]);
      break;
    }
    // -n 5 and -n5: the short name of a flag that has one.
    if (s.size() >= 2 && s[0] == '-' && s[1] != '-') {
      auto it = std::find_if(c.flags.begin(), c.flags.end(),
                             [&](const Flag& f) { return f.short_name == s[1]; });
      if (it != c.flags.end()) {
        s = "--" + it->name + (s.size() > 2 ? "=" + s.substr(2) : "");
      }
    }
    if (StartsWith(s, "--") && s.size() > 2) {
      std::string name = s.substr(2), value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      auto it = std::find_if(c.flags.begin(), c.flags.end(),
                             [&](const Flag& f) { return f.name == name; });
      if (it == c.flags.end()) {
        std::vector<std::string> names;
        for (const auto& f : c.flags) names.push_back(f.name);
        std::string near = ClosestMatch(name, names);
        throw UsageError("unknown option --" + name + " for " + c.name +
                         (near.empty() ? "" : " (did you mean --" + near + "?)"));
      }
      if (it->takes_value && !inline_value) {
        if (i + 1 >= args.size()) throw UsageError("--" + name + " needs a value");
        value = args[++i];
      } else if (!it->takes_value && inline_value) {
        throw UsageError("--" + name + " takes no value");
      }
      a.flags.emplace(name, value);
    } else {
      a.positional.push_back(s);
    }
  }
  if (static_cast<int>(a.positional.size()) < c.min_positional ||
      static_cast<int>(a.positional.size()) > c.max_positional) {
    throw UsageError("wrong number of arguments");
  }
  return a;
}

}  // namespace

int Dispatch(const Program& p, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    if (args.size() >= 2) {
      for (const auto& c : p.commands) {
        if (c.name == args[1]) {
          PrintCommandHelp(c, std::cout);
          return 0;
        }
      }
    }
    PrintUsage(p, args.empty() ? std::cerr : std::cout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << p.name << " " << kVersion << "\n";
    return 0;
  }
  const Command* command = nullptr;
  for (const auto& c : p.commands) {
    if (c.name == args[0]) command = &c;
  }
  if (command == nullptr) {
    std::vector<std::string> names;
    for (const auto& c : p.commands) names.push_back(c.name);
    std::string near = ClosestMatch(args[0], names);
    std::cerr << p.name << ": unknown command '" << args[0] << "'"
              << (near.empty() ? "" : " (did you mean '" + near + "'?)") << "\n";
    PrintUsage(p, std::cerr);
    return 2;
  }
  for (const auto& s : args) {
    if (s == "--help" || s == "-h") {
      PrintCommandHelp(*command, std::cout);
      return 0;
    }
  }
  const std::string who = p.name + " " + command->name;
  try {
    Args a = Parse(*command, command->rewrite ? command->rewrite(args) : args);
    return command->run(a);
  } catch (const UsageError& e) {
    std::cerr << who << ": " << e.what() << "\nusage: " << command->usage << "\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << who << ": " << e.what() << "\n";
    if (e.kind() == ErrorKind::kCancelled && Interrupts::Count() > 0) return 130;
    return e.kind() == ErrorKind::kInvalidInput || e.kind() == ErrorKind::kNotFound ? 2 : 1;
  } catch (const std::exception& e) {
    std::cerr << who << ": " << e.what() << "\n";
    return 1;
  }
}

std::vector<Flag> WithPipelineFlags(std::vector<Flag> flags) {
  flags.push_back({"var", true, "set var('NAME') for templates: --var NAME=VALUE (repeatable)"});
  return flags;
}

std::map<std::string, std::string> ParseVars(const Args& a) {
  std::map<std::string, std::string> vars;
  for (const auto& kv : a.All("var")) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("--var " + kv + ": write --var NAME=VALUE");
    vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return vars;
}

// --date, or "" when absent. Checked before any pipeline file is read.
std::string DateFlag(const Args& a) {
  std::string d = a.Get("date");
  if (d.empty()) return "";
  auto date = Date::Parse(d);
  if (!date) throw UsageError("--date " + d + ": not a date (write YYYY-MM-DD)");
  if (!date->IsLogicalDate()) {
    throw UsageError("--date " + d +
                     ": out of range; a run's date is from 0001-01-02 to 9999-12-30, so that "
                     "prev_ds and next_ds are dates too");
  }
  return d;
}

Workspace Workspace::Open(const std::string& file, const std::map<std::string, std::string>& vars,
                          bool with_engine) {
  return FromSpec(pipeline::LoadPipelineOrThrow(file, vars), with_engine);
}

namespace {

// Removes the folders `<prefix><pid>...` in base of processes that are gone (a kill -9
// mid-query): DuckDB's spill folders, the Spark engine's local copies.
void RemoveDeadProcessFolders(const std::string& base, const std::string& prefix) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    std::string name = entry.path().filename().string();
    if (!StartsWith(name, prefix)) continue;
    pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + prefix.size()));
    if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) {
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
}

}  // namespace

namespace {

bool NeedsSpark(const pipeline::PipelineSpec& spec) {
  return std::any_of(spec.tasks.begin(), spec.tasks.end(),
                     [&](const pipeline::TaskSpec& t) { return spec.EngineOf(t) == "spark"; });
}

}  // namespace

std::unique_ptr<engine::Engine> MakeSparkEngine(const Workspace& w) {
  spark::SparkEngineOptions o;
  o.connect = spark::ParseRemote(w.spec.spark.remote);
  if (!w.spec.spark.token.empty()) {
    o.connect.token = pipeline::ResolveSecret(w.spec.spark.token, w.spec.dir, "engine.token");
  }
  // Spark writes and reads the lake itself, on HDFS too (lake_path names it there: validated).
  o.lake_fs = w.lake->fs();
  o.lake_root = w.lake->root();
  o.lake_path = w.spec.spark.lake_path;
  o.local = w.engine.get();
  o.local_dir = w.spec.ResolvePath(w.spec.state_dir) + "/lake-local/spark";
  // Local copies of Spark's results a killed process left (spark_engine.cc names them).
  RemoveDeadProcessFolders(o.local_dir, ".spark-");
  return std::make_unique<spark::SparkEngine>(o);
}

Workspace Workspace::FromSpec(pipeline::PipelineSpec spec, bool with_engine) {
  Workspace w;
  w.spec = std::move(spec);
  std::string state_dir = w.spec.ResolvePath(w.spec.state_dir);
  w.state = state::StateStore::Open(state_dir + "/state.db");
  w.lake = tasks::OpenLake(w.spec, w.state.get(), state_dir, true);
  auto report = w.lake->Recover();
  if (report.rolled_back || report.rolled_forward) {
    std::cerr << "sluice: recovered " << report.rolled_forward + report.rolled_back
              << " interrupted publish(es) from an earlier crash (" << report.rolled_forward
              << " finished, " << report.rolled_back << " rolled back)\n";
  }
  if (with_engine) {
    engine::EngineOptions opts = w.spec.engine_options;
    // Spill files go to a folder of this process under engine.temp_directory (default
    // <state>/spill), never the current directory; folders of processes that are gone are
    // removed first.
    std::string base = opts.temp_directory.empty() ? state_dir + "/spill"
                                                   : w.spec.ResolvePath(opts.temp_directory);
    std::error_code ec;
    std::filesystem::create_directories(base, ec);
    if (ec) {
      throw IoError("cannot create the spill folder " + base + ": " + ec.message() +
                        " (set engine.temp_directory: to a writable folder)",
                    false);
    }
    RemoveDeadProcessFolders(base, "sluice-");
    w.spill_dir = base + "/sluice-" + std::to_string(::getpid());
    opts.temp_directory = w.spill_dir;
    w.engine = engine::MakeDuckDbEngine(opts);
    if (NeedsSpark(w.spec)) w.spark = MakeSparkEngine(w);
  }
  return w;
}

Workspace::Workspace(Workspace&& o) noexcept
    : spec(std::move(o.spec)),
      state(std::move(o.state)),
      lake(std::move(o.lake)),
      engine(std::move(o.engine)),
      spark(std::move(o.spark)),
      spill_dir(std::exchange(o.spill_dir, {})) {}

Workspace::~Workspace() {
  spark.reset();   // it reads results through the embedded engine
  engine.reset();  // first: it may still hold spill files
  if (!spill_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(spill_dir, ec);
  }
}
namespace {
std::atomic<int> interrupts{0};
void OnSignal(int) {
  if (interrupts.fetch_add(1) >= 1) _exit(130);
}
}  // namespace

Interrupts::Interrupts(CancelToken& cancel, std::string message) {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  watcher_ = std::thread([this, &cancel, message = std::move(message)] {
    while (!done_) {
      if (interrupts.load() > 0) {
        std::cerr << "\n" << message << "\n";
        cancel.Cancel("interrupted (Ctrl-C or SIGTERM)");
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

Interrupts::~Interrupts() {
  done_ = true;
  watcher_.join();
}

int Interrupts::Count() { return interrupts.load(); }

runner::RunSummary RunInterruptible(Workspace& w, const runner::RunOptions& opts) {
  CancelToken cancel;
  runner::RunSummary summary;
  {
    Interrupts interrupts(cancel,
                          "sluice: interrupted; stopping running tasks (Ctrl-C again to exit now)");
    runner::Runner runner(w.spec, w.state.get(), w.lake.get(), w.engine.get(), std::cout,
                          isatty(STDOUT_FILENO));
    runner.UseSpark(w.spark.get());
    summary = runner.Run(opts, cancel);
  }
  runner::PrintSummary(summary, std::cout);
  return summary;
}

}  // namespace sluice::cli
