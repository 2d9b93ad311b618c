#include "scheduler/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "pipeline/spec.h"
#include "runner/hooks.h"
#include "scheduler/actions.h"
#include "scheduler/due.h"
#include "scheduler/launcher.h"
#include "scheduler/schedule.h"
#include "state/state_store.h"

namespace sluice::scheduler {
namespace {

struct FileStamp {
  int64_t mtime_ns = 0;
  int64_t size = -1;
  uint64_t inode = 0;
  bool operator==(const FileStamp& o) const {
    return mtime_ns == o.mtime_ns && size == o.size && inode == o.inode;
  }
};

std::optional<FileStamp> StampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                   static_cast<int64_t>(st.st_size), static_cast<uint64_t>(st.st_ino)};
}

// "2026-11-21T05:01:36.123Z" (NowIso) as an instant; the epoch when malformed.
Instant ParseUtc(const std::string& iso) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s) != 6) return {};
  return Instant{std::chrono::seconds{
      DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
      mi * 60 + s}};
}

// A state folder: its store, and the lock that makes this the only scheduler using it.
struct StateFolder {
  std::string dir;
  std::unique_ptr<state::StateStore> store;
  int lock_fd = -1;
  ~StateFolder() {
    if (lock_fd >= 0) ::close(lock_fd);
  }
};

// Takes <dir>/scheduler.lock, or says which process holds it.
bool TakeLock(const std::string& dir, int* fd, std::string* error) {
  std::string path = dir + "/scheduler.lock";
  // O_CLOEXEC: runs started by this scheduler must not inherit (and keep) the lock.
  int f = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (f < 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  if (::flock(f, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(f, buf, sizeof buf - 1, 0);
    std::string holder = n > 0 ? Trim(std::string(buf, static_cast<size_t>(n))) : "?";
    ::close(f);
    *error = "another sluice scheduler (pid " + holder +
             ") already schedules the pipelines whose state is in " + dir +
             "; stop it first (kill -TERM " + holder +
             "), or give this pipeline another state_dir:";
    return false;
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(f, 0) != 0 || ::pwrite(f, pid.data(), pid.size(), 0) < 0) {
    // The lock holds anyway; only the message for a second scheduler lacks the pid.
  }
  *fd = f;
  return true;
}

struct Pipeline {
  std::string file;
  FileStamp stamp;
  bool problem_reported = false;  // for the current stamp
  std::shared_ptr<const pipeline::PipelineSpec> spec;
  std::optional<Schedule> schedule;
  std::unique_ptr<DuePlanner> planner;
  StateFolder* folder = nullptr;
  std::string snapshot;  // the validated text of the file, which its runs read
  Instant first_seen{};
  bool paused = false;
  std::set<std::string> gave_up;  // run keys interrupted too often, reported
};

// A run this scheduler started.
struct Child {
  std::string file;
  std::string pipeline;
  std::string run_key;
  std::string ds;
  int64_t run_before = 0;  // the key's latest run id when it was started
  StateFolder* folder = nullptr;
};

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// Writes the validated text of a pipeline file to <state>/scheduler/<name>.<hash>.yaml (once
// per version) and removes the pipeline's older snapshots that no run can still be starting
// from; returns the path, or "" when it cannot write (then runs read the file itself).
std::string WriteSnapshot(const std::string& state_dir, const std::string& name,
                          const std::string& content) {
  namespace fs = std::filesystem;
  std::string dir = state_dir + "/scheduler";
  std::error_code ec;
  fs::create_directories(dir, ec);
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                static_cast<unsigned long long>(std::hash<std::string>{}(content)));
  std::string path = dir + "/" + name + "." + hash + ".yaml";
  if (!fs::exists(path, ec)) {
    std::string tmp = path + ".tmp";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out || (fs::rename(tmp, path, ec), ec)) return "";
  }
  auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string f = e.path().filename().string();
    if (StartsWith(f, name + ".") && e.path() != path &&
        now - e.last_write_time(ec) > std::chrono::minutes(10)) {
      fs::remove(e.path(), ec);
    }
  }
  return path;
}

}  // namespace

struct Scheduler::Impl {
  SchedulerOptions o;
  std::mutex log_mu;
  Launcher launcher;
  std::map<std::string, std::unique_ptr<StateFolder>> folders;  // by directory
  std::map<std::string, Pipeline> pipelines;                    // by file
  std::map<pid_t, Child> children;
  std::map<std::string, double> backoff;  // file + key -> steady time to wait for
  // on_late hooks in flight (a hook may take up to its timeout; the loop does not wait).
  struct HookThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<HookThread> hooks;

  void JoinFinishedHooks(bool all) {
    for (auto it = hooks.begin(); it != hooks.end();) {
      if (all || it->done->load()) {
        it->thread.join();
        it = hooks.erase(it);
      } else {
        ++it;
      }
    }
  }

  void Log(const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mu);
    *o.out << NowIso() << " " << line << "\n" << std::flush;
  }

  // Loads added and changed files and forgets removed ones. Returns false when a state folder
  // is locked by another scheduler at startup.
  bool Refresh(bool startup) {
    bool ok = true;
    auto files = PipelineFiles(o.paths);
    for (auto it = pipelines.begin(); it != pipelines.end();) {
      if (!std::binary_search(files.begin(), files.end(), it->first)) {
        Log("removed " + it->first +
            (it->second.spec ? ": pipeline " + it->second.spec->name +
                                   " is no longer scheduled (runs in progress go on)"
                             : ""));
        it = pipelines.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& f : files) {
      auto stamp = StampOf(f);
      if (!stamp) {
        if (startup) Log(f + ": cannot read it: " + std::strerror(errno));
        continue;
      }
      auto [it, added] = pipelines.try_emplace(f);
      Pipeline& p = it->second;
      if (!added && p.stamp == *stamp) continue;
      p.file = f;
      p.stamp = *stamp;
      p.problem_reported = false;
      if (!Load(p, startup)) ok = false;
    }
    return ok;
  }

  // (Re)loads p from its file; on a problem keeps the version loaded before.
  bool Load(Pipeline& p, bool startup) {
    std::vector<pipeline::Diagnostic> diagnostics;
    pipeline::PipelineSpec spec;
    // What is validated is what runs: the runs get this text (a snapshot), not the file as it
    // may be when they start.
    std::string content;
    {
      std::ifstream in(p.file, std::ios::binary);
      content.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    try {
      spec = pipeline::LoadPipeline(p.file, o.vars, &diagnostics, &content);
    } catch (const std::exception& e) {
      diagnostics.push_back({p.file, {}, e.what()});
    }
    std::string schedule_error;
    std::optional<Schedule> schedule;
    if (diagnostics.empty()) {
      schedule = Schedule::Parse(spec.schedule, spec.timezone, spec.start_date, &schedule_error);
      if (!schedule) diagnostics.push_back({p.file, {}, schedule_error});
    }
    // Two files may not schedule the same pipeline (their runs would be one history).
    if (diagnostics.empty()) {
      for (const auto& [file, other] : pipelines) {
        if (file != p.file && other.spec && other.spec->name == spec.name &&
            other.spec->ResolvePath(other.spec->state_dir) == spec.ResolvePath(spec.state_dir)) {
          diagnostics.push_back({p.file,
                                 {},
                                 "pipeline '" + spec.name + "' is already scheduled from " + file +
                                     " with the same state folder; give one of them another "
                                     "name:"});
        }
      }
    }
    if (!diagnostics.empty()) {
      std::string text = p.spec ? " is not valid; its previous version keeps running:"
                                : " is not valid; it is not scheduled until it is fixed:";
      Log(p.file + text);
      for (const auto& d : diagnostics) Log("  " + pipeline::FormatDiagnostic(d));
      p.problem_reported = true;
      return true;
    }
    std::string dir = spec.ResolvePath(spec.state_dir);
    StateFolder* folder = OpenFolder(dir, p.file);
    if (folder == nullptr) return !startup;
    bool reload = p.spec != nullptr;
    auto shared = std::make_shared<const pipeline::PipelineSpec>(std::move(spec));
    p.spec = shared;
    p.snapshot = WriteSnapshot(folder->dir, shared->name, content);
    p.schedule = schedule;
    p.folder = folder;
    p.first_seen = ParseUtc(folder->store->FirstSeen(shared->name));
    DueInputs in;
    in.schedule = &*p.schedule;
    in.start_date = shared->start_date;
    in.end_date = shared->end_date;
    in.catchup = shared->catchup;
    in.max_active_runs = shared->max_active_runs;
    in.first_seen = p.first_seen;
    p.planner = std::make_unique<DuePlanner>(in);
    std::string what =
        (reload ? "reloaded " : "loaded ") + p.file + ": pipeline " + shared->name + ", ";
    if (!p.schedule->Scheduled()) {
      Log(what + "no schedule (runs only when asked)");
      return true;
    }
    what += "schedule '" + p.schedule->text() + "' in " + p.schedule->timezone() +
            (shared->catchup ? ", catchup" : "");
    auto first = p.planner->First();
    if (!first) {
      Log(what + "; no run left (end_date " +
          (shared->end_date ? shared->end_date->ToString() : "") + " has passed)");
      return true;
    }
    auto next = first->end > Now() ? *first : p.schedule->LatestEndedBy(Now()).value_or(*first);
    if (!(next.end > Now())) {
      if (auto n = p.schedule->NextInterval(next)) next = *n;
    }
    Log(what + "; next run at " + p.schedule->Format(next.end) + " for " +
        p.schedule->RunKey(next));
    return true;
  }

  StateFolder* OpenFolder(const std::string& dir, const std::string& file) {
    auto it = folders.find(dir);
    if (it != folders.end()) return it->second.get();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    auto folder = std::make_unique<StateFolder>();
    folder->dir = dir;
    std::string error;
    if (!TakeLock(dir, &folder->lock_fd, &error)) {
      Log(file + ": not scheduled: " + error);
      return nullptr;
    }
    try {
      folder->store = state::StateStore::Open(dir + "/state.db");
    } catch (const Error& e) {
      Log(file + ": not scheduled: " + e.what());
      return nullptr;
    }
    return (folders[dir] = std::move(folder)).get();
  }

  void ReapChildren() {
    for (const auto& e : launcher.Reap()) {
      auto it = children.find(e.pid);
      if (it == children.end()) continue;
      Child c = it->second;
      children.erase(it);
      std::optional<state::RunRecord> run;
      try {
        run = c.folder->store->LatestRun(c.pipeline, c.run_key);
      } catch (const Error& err) {
        Log(c.pipeline + " " + c.run_key + ": cannot read the state store: " + err.what());
      }
      if (!run || run->run_id <= c.run_before) {
        // It ended before its run began: the file broke, the disk is full, another process
        // runs that date. Not again for a minute.
        backoff[c.file + " " + c.run_key] = SteadySeconds() + 60;
        Log(c.pipeline + " " + c.run_key + ": the run did not start (exit code " +
            std::to_string(e.exit_code) + "); trying again in 1m. Its output:\n" +
            TailOfFile(e.launch.log_path, 8));
        continue;
      }
      std::string line =
          c.pipeline + " " + c.run_key + ": run " + std::to_string(run->run_id) + " " + run->status;
      if (!run->error.empty()) line += ": " + FirstLine(run->error);
      Log(line + " (log: " + e.launch.log_path + ")");
    }
  }

  // Starts p's due runs.
  void StartDue(Pipeline& p, bool full) {
    if (!p.spec || !p.schedule || !p.schedule->Scheduled()) return;
    const std::string& name = p.spec->name;
    auto& store = *p.folder->store;
    bool paused = store.IsPaused(name);
    if (paused != p.paused) {
      Log(name + (paused ? ": paused (sluice unpause to resume)" : ": resumed"));
      p.paused = paused;
    }
    if (paused) return;
    auto keys = store.RunKeys(name);
    std::set<std::string> active_dates;
    std::set<std::string> ours;
    int active = 0;
    for (const auto& [key, st] : keys) {
      if (st.live) {
        active++;
        active_dates.insert(st.ds);
      }
    }
    for (const auto& [pid, c] : children) {
      if (c.pipeline != name || c.folder != p.folder) continue;
      ours.insert(c.run_key);
      auto k = keys.find(c.run_key);
      bool begun = k != keys.end() && k->second.live && k->second.run_id > c.run_before;
      if (!begun) {  // still starting up: not in the state store yet
        active++;
        active_dates.insert(c.ds);
      }
    }
    double now_steady = SteadySeconds();
    auto state = [&](const Interval& i) {
      std::string key = p.schedule->RunKey(i);
      if (ours.count(key)) return KeyState::kActive;
      auto b = backoff.find(p.file + " " + key);
      if (b != backoff.end() && b->second > now_steady) return KeyState::kActive;
      auto k = keys.find(key);
      if (k == keys.end()) return KeyState::kNotRun;
      const auto& st = k->second;
      if (st.live || st.status == "running") return KeyState::kActive;
      if (st.status == "failed" && st.last_interrupted) {
        if (st.interrupted < kMaxInterrupted) return KeyState::kNotRun;
        if (p.gave_up.insert(key).second) {
          Log(name + " " + key + ": its process died " + std::to_string(st.interrupted) +
              " times; leaving it failed (sluice clear " + p.file + " --date " + st.ds +
              " runs it again)");
        }
        return KeyState::kFinished;
      }
      if (st.status == "success" || st.status == "failed") return KeyState::kFinished;
      return KeyState::kNotRun;  // cleared or cancelled
    };
    for (const auto& i : p.planner->Due(Now(), state, active_dates, active, full)) {
      Launch(p, i, keys);
    }
  }

  void Launch(Pipeline& p, const Interval& i,
              const std::map<std::string, state::RunKeyState>& keys) {
    RunInfo r = p.schedule->Describe(i);
    const auto& spec = *p.spec;
    scheduler::Launch l;
    l.file = p.file;
    l.snapshot = p.snapshot;
    l.run_key = r.run_key;
    l.trigger = "scheduled";
    for (const auto& [k, v] : o.vars) l.vars.push_back(k + "=" + v);
    l.log_path = p.folder->dir + "/logs/" + spec.name + "/" + r.ds.ToString() + "/scheduled-" +
                 ReplaceAll(r.run_key, ":", "") + ".out";
    auto k = keys.find(r.run_key);
    Child c{p.file,  spec.name, r.run_key, r.ds.ToString(), k == keys.end() ? 0 : k->second.run_id,
            p.folder};
    try {
      pid_t pid = launcher.Start(l);
      children[pid] = c;
      Log(spec.name + " " + r.run_key + ": started (data interval " + r.start_iso + " to " +
          r.end_iso + ", pid " + std::to_string(pid) + ", output in " + l.log_path + ")");
    } catch (const Error& e) {
      backoff[p.file + " " + r.run_key] = SteadySeconds() + 60;
      Log(spec.name + " " + r.run_key + ": " + e.what() + "; trying again in 1m");
    }
  }

  // on_late for runs not finished `deadline` after their interval ended: once per run, for
  // intervals that ended in the last two days while the pipeline was known.
  void CheckLate(Pipeline& p) {
    if (!p.spec || !p.schedule || !p.spec->deadline || p.spec->on_late.empty()) return;
    const auto& spec = *p.spec;
    auto deadline = std::chrono::duration_cast<std::chrono::seconds>(*spec.deadline);
    Instant now = Now();
    Instant from = std::max(p.first_seen, now - deadline - std::chrono::hours(48));
    auto fire = p.schedule->NextFire(from - std::chrono::seconds(1));
    std::optional<std::map<std::string, state::RunKeyState>> keys;
    auto latest = p.schedule->LatestEndedBy(now);
    for (int n = 0; fire && *fire + deadline <= now && n < 100000; n++) {
      Interval i =
          p.schedule->Once() ? Interval{*fire, *fire} : p.schedule->IntervalEndingAt(*fire);
      fire = p.schedule->NextFire(*fire);
      if (!p.planner->InRange(i)) continue;
      if (!keys) keys = p.folder->store->RunKeys(spec.name);
      RunInfo r = p.schedule->Describe(i);
      auto k = keys->find(r.run_key);
      if (k != keys->end() && k->second.status == "success") continue;
      // Without catchup an interval that never started and is no longer the latest will
      // never run: it is skipped, not late.
      if (!spec.catchup && k == keys->end() && latest && !(*latest == i)) continue;
      if (!p.folder->store->MarkNotified(spec.name, r.run_key, "late")) continue;
      runner::HookContext ctx;
      ctx.event = "late";
      ctx.pipeline = spec.name;
      ctx.file = spec.file;
      ctx.run_id = k == keys->end() ? 0 : k->second.run_id;
      ctx.ds = r.ds.ToString();
      ctx.run_key = r.run_key;
      ctx.interval_start = r.start_iso;
      ctx.interval_end = r.end_iso;
      ctx.status = k == keys->end() ? "not started" : k->second.status;
      ctx.error =
          "the run for " + r.run_key + " had not succeeded " + FormatDuration(*spec.deadline) +
          " after its data interval ended (deadline: " + FormatDuration(*spec.deadline) + ")";
      runner::HookSpec hook{spec.on_late.command, spec.on_late.webhook, spec.on_late.timeout};
      Log(spec.name + " " + r.run_key + ": late (" + ctx.status + "); running on_late");
      auto done = std::make_shared<std::atomic<bool>>(false);
      hooks.push_back({std::thread([this, hook, ctx, done] {
                         std::string problem = runner::RunHook(hook, ctx);
                         if (!problem.empty()) {
                           Log(ctx.pipeline + " " + ctx.run_key + ": on_late failed: " + problem);
                         }
                         *done = true;
                       }),
                       done});
    }
  }

  int Run() {
    Log("scheduler started (pid " + std::to_string(::getpid()) + ") for " + Join(o.paths, ", "));
    if (!Refresh(true)) {
      Log("scheduler stopped: a state folder is taken by another scheduler");
      return 1;
    }
    if (pipelines.empty()) Log("no pipeline files yet; looking again every tick");
    int seen = 0;
    bool draining = false;
    for (int tick = 0;; tick++) {
      int signals = o.signals ? o.signals() : 0;
      if (signals > seen) {
        seen = signals;
        if (seen == 1) {
          draining = true;
          Log("stopping: no new runs; waiting for " + std::to_string(launcher.running()) +
              " running run(s) to finish (SIGTERM or Ctrl-C again cancels them)");
        } else if (seen == 2) {
          Log("cancelling " + std::to_string(launcher.running()) +
              " running run(s) (again kills them)");
          launcher.SignalAll(SIGTERM);
        } else {
          Log("killing " + std::to_string(launcher.running()) + " running run(s)");
          launcher.SignalAll(SIGKILL);
        }
      }
      ReapChildren();
      JoinFinishedHooks(false);
      if (draining) {
        if (launcher.running() == 0) break;
      } else {
        try {
          Refresh(false);
          for (auto& [dir, folder] : folders) folder->store->CloseDeadRuns();
          bool full = tick % 20 == 0;
          for (auto& [file, p] : pipelines) {
            StartDue(p, full);
            CheckLate(p);
          }
        } catch (const Error& e) {
          // A state store that fails (a full disk) fails this tick, not the scheduler.
          Log(std::string("tick failed: ") + e.what());
        }
      }
      // Sleeps a tick, waking early for a signal.
      for (auto slept = std::chrono::milliseconds(0); slept < o.tick;
           slept += std::chrono::milliseconds(20)) {
        if (o.signals && o.signals() > seen) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    JoinFinishedHooks(true);
    Log("scheduler stopped");
    return 0;
  }
};

Scheduler::Scheduler(SchedulerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->o = std::move(options);
}

Scheduler::~Scheduler() = default;

int Scheduler::Run() { return impl_->Run(); }

}  // namespace sluice::scheduler
