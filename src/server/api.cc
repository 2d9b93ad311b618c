#include "server/api.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/secrets.h"
#include "common/strings.h"
#include "common/time.h"
#include "scheduler/actions.h"
#include "scheduler/due.h"

namespace sluice::server {
namespace {

using nlohmann::json;

// An answer other than 200, thrown by the handlers.
struct ApiError {
  int status;
  std::string message;
};

[[noreturn]] void Fail(int status, const std::string& message) { throw ApiError{status, message}; }

Response JsonResponse(int status, const json& body) {
  Response r;
  r.status = status;
  r.body = body.dump();
  r.headers.push_back({"Cache-Control", "no-store"});
  return r;
}

// Seconds since the epoch of "2026-11-22T01:00:03.120Z"; 0 when empty or malformed.
double EpochOf(const std::string& iso) {
  int y, mo, d, h, mi, s, ms = 0;
  if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &s, &ms) < 6) {
    return 0;
  }
  return static_cast<double>(DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) *
                                 86400 +
                             h * 3600 + mi * 60 + s) +
         ms / 1000.0;
}

double SecondsOf(const std::string& started, const std::string& ended) {
  double a = EpochOf(started);
  double b =
      ended.empty()
          ? std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count()
          : EpochOf(ended);
  return a > 0 && b >= a ? b - a : 0;
}

json RunJson(const state::RunRecord& r) {
  return {{"run_id", r.run_id},
          {"run_key", r.run_key},
          {"ds", r.ds},
          {"status", r.status},
          {"trigger", r.trigger},
          {"started_at", r.started_at},
          {"ended_at", r.ended_at},
          {"seconds", SecondsOf(r.started_at, r.status == "running" ? "" : r.ended_at)},
          {"interval_start", r.interval_start},
          {"interval_end", r.interval_end},
          {"error", RedactSecrets(r.error)},
          {"interrupted", r.interrupted}};
}

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

json AttemptJson(const state::AttemptRecord& a) {
  return {{"attempt_id", a.attempt_id},
          {"run_id", a.run_id},
          {"task_id", a.task_id},
          {"attempt", a.attempt},
          {"status", a.status},
          {"started_at", a.started_at},
          {"ended_at", a.ended_at},
          {"seconds", SecondsOf(a.started_at, a.status == "running" ? "" : a.ended_at)},
          {"rows_read", a.counts.rows_read},
          {"rows_loaded", a.counts.rows_written},
          {"rows_rejected", a.counts.rows_rejected},
          {"bytes", a.counts.bytes},
          {"error", RedactSecrets(a.error)},
          {"log_bytes", FileSize(a.log_path)}};
}

int IntParam(const Request& r, const std::string& name, int fallback, int lo, int hi) {
  std::string v = r.Query(name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (*end != '\0' || n < lo || n > hi) {
    Fail(400, name + "=" + v + ": a whole number from " + std::to_string(lo) + " to " +
                  std::to_string(hi));
  }
  return static_cast<int>(n);
}

int64_t IdOf(const std::string& s, const std::string& what) {
  char* end = nullptr;
  long long n = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || n <= 0) Fail(404, "no " + what + " " + s);
  return n;
}

json Body(const Request& r) {
  json j = json::parse(r.body.empty() ? "{}" : r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) Fail(400, "the body is not a JSON object");
  return j;
}

std::string StringField(const json& j, const std::string& name, bool required = false) {
  if (!j.contains(name) || j[name].is_null()) {
    if (required) Fail(400, "missing \"" + name + "\"");
    return "";
  }
  if (!j[name].is_string()) Fail(400, "\"" + name + "\" must be a string");
  return j[name].get<std::string>();
}

bool BoolField(const json& j, const std::string& name) {
  if (!j.contains(name) || j[name].is_null()) return false;
  if (!j[name].is_boolean()) Fail(400, "\"" + name + "\" must be true or false");
  return j[name].get<bool>();
}

std::vector<std::string> ListField(const json& j, const std::string& name) {
  std::vector<std::string> out;
  if (!j.contains(name) || j[name].is_null()) return out;
  if (!j[name].is_array()) Fail(400, "\"" + name + "\" must be a list of strings");
  for (const auto& v : j[name]) {
    if (!v.is_string()) Fail(400, "\"" + name + "\" must be a list of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Date DateField(const json& j, const std::string& name) {
  std::string v = StringField(j, name, true);
  auto d = Date::Parse(v);
  if (!d || !d->IsLogicalDate()) Fail(400, "\"" + name + "\": " + v + " is not a date YYYY-MM-DD");
  return *d;
}

// The datasets a task writes.
std::vector<std::string> WritesOf(const pipeline::TaskSpec& t) {
  std::vector<std::string> out = t.produces;
  if (!t.into.empty()) out.push_back(t.into);
  if (t.kind == "csv_import" && !t.csv.rejects_into.empty()) out.push_back(t.csv.rejects_into);
  return out;
}

}  // namespace

struct Api::Impl {
  Catalog* catalog;
  std::mutex launch_mu;
  scheduler::Launcher launcher;     // Guarded by launch_mu
  std::map<pid_t, int> exit_codes;  // Guarded by launch_mu: processes that ended lately
  std::mutex engine_mu;
  std::unique_ptr<engine::Engine> engine;  // Guarded by engine_mu; for previews, made on use
  std::string spill_dir;

  ~Impl() {
    engine.reset();
    if (!spill_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(spill_dir, ec);
    }
  }

  std::shared_ptr<const PipelineEntry> PipelineOr404(const std::string& name) {
    auto e = catalog->Find(name);
    if (!e) Fail(404, "no pipeline '" + name + "'");
    return e;
  }

  engine::Session* Session(std::unique_ptr<engine::Session>* holder) {
    std::lock_guard<std::mutex> lock(engine_mu);
    if (!engine) {
      engine::EngineOptions o;
      o.memory_limit = "1GB";
      o.threads = 2;
      spill_dir =
          (std::filesystem::temp_directory_path() / ("sluice-ui-" + std::to_string(::getpid())))
              .string();
      o.temp_directory = spill_dir;
      engine = engine::MakeDuckDbEngine(o);
    }
    *holder = engine->Connect();
    return holder->get();
  }

  // ---- pipelines ----

  json NextRuns(const PipelineEntry& e, int n) {
    json out = json::array();
    if (!e.schedule || !e.schedule->Scheduled()) return out;
    const auto& s = *e.schedule;
    scheduler::DueInputs in;
    in.schedule = &s;
    in.start_date = e.spec->start_date;
    in.end_date = e.spec->end_date;
    scheduler::DuePlanner planner(in);
    std::optional<scheduler::Interval> i;
    if (s.Once()) {
      if (s.anchor() > scheduler::Now()) i = scheduler::Interval{s.anchor(), s.anchor()};
    } else if (auto fire = s.NextFire(scheduler::Now())) {
      i = s.IntervalEndingAt(*fire);
      auto first = planner.First();
      if (first && i->start < first->start) i = first;
    }
    for (int k = 0; i && k < n && planner.InRange(*i); k++, i = s.NextInterval(*i)) {
      auto r = s.Describe(*i);
      out.push_back({{"run_key", r.run_key},
                     {"ds", r.ds.ToString()},
                     {"interval_start", r.start_iso},
                     {"interval_end", r.end_iso},
                     {"starts_at", r.end_iso}});
    }
    return out;
  }

  json ListPipelines() {
    json list = json::array();
    for (const auto& e : catalog->All()) {
      json p;
      p["file"] = e->file;
      p["problems"] = e->problems;
      if (!e->spec) {
        p["name"] = std::filesystem::path(e->file).stem().string();
        p["valid"] = false;
        list.push_back(p);
        continue;
      }
      const auto& spec = *e->spec;
      p["name"] = spec.name;
      p["valid"] = true;
      p["schedule"] = spec.schedule;
      p["timezone"] = spec.timezone;
      p["paused"] = e->state->IsPaused(spec.name);
      auto next = NextRuns(*e, 1);
      p["next_run"] = next.empty() ? json(nullptr) : next[0];
      auto runs = e->state->RunsPage(spec.name, 0, 30);
      p["last_run"] = runs.empty() ? json(nullptr) : RunJson(runs[0]);
      json recent = json::array();
      for (auto it = runs.rbegin(); it != runs.rend(); ++it) recent.push_back(RunJson(*it));
      p["recent"] = recent;
      list.push_back(p);
    }
    return {{"pipelines", list}};
  }

  json PipelineDetail(const PipelineEntry& e) {
    const auto& spec = *e.spec;
    auto latest = e.state->LatestAttemptPerTask(spec.name);
    json tasks = json::array();
    for (const auto& id : spec.TopologicalOrder()) {
      const auto* t = spec.FindTask(id);
      json task = {{"id", id},
                   {"kind", t->kind},
                   {"upstream", t->upstream},
                   {"reads", t->reads},
                   {"writes", WritesOf(*t)},
                   {"pool", t->pool},
                   {"retries", t->retries},
                   {"timeout_seconds", t->timeout.count() / 1000}};
      auto it = latest.find(id);
      if (it == latest.end()) {
        task["latest"] = nullptr;
      } else {
        auto run = e.state->GetRun(it->second.run_id);
        task["latest"] = {{"status", it->second.status},
                          {"run_id", it->second.run_id},
                          {"run_key", run ? run->run_key : ""}};
      }
      tasks.push_back(task);
    }
    return {{"name", spec.name},
            {"file", spec.file},
            {"schedule", spec.schedule},
            {"timezone", spec.timezone},
            {"start_date", spec.start_date ? spec.start_date->ToString() : ""},
            {"end_date", spec.end_date ? spec.end_date->ToString() : ""},
            {"catchup", spec.catchup},
            {"max_active_runs", spec.max_active_runs},
            {"paused", e.state->IsPaused(spec.name)},
            {"pools", spec.pools},
            {"problems", e.problems},
            {"tasks", tasks},
            {"next_runs", NextRuns(e, 5)}};
  }

  // The grid is the largest answer (a year of a 50-task pipeline is 18,000 cells), so its
  // cells are written straight to text rather than built as JSON objects first.
  Response Grid(const PipelineEntry& e, const Request& r) {
    const auto& spec = *e.spec;
    int limit = IntParam(r, "limit", 30, 1, 1000);
    auto runs = e.state->LatestRunPerKey(spec.name, r.Query("before"), limit);
    std::reverse(runs.begin(), runs.end());  // oldest first
    std::vector<std::string> keys;
    for (const auto& run : runs) keys.push_back(run.run_key);
    auto order = spec.TopologicalOrder();
    std::map<std::string, size_t> row_of;
    for (size_t i = 0; i < order.size(); i++) row_of[order[i]] = i;
    std::map<std::string, size_t> column_of;
    for (size_t i = 0; i < runs.size(); i++) column_of[runs[i].run_key] = i;
    // A cell is the task's newest attempt for the run key, in whichever run made it (a task
    // that succeeded before is not run again), with the attempts of that run.
    struct Cell {
      int64_t attempt_id = 0;
      int64_t run_id = 0;
      int attempts = 0;
      std::string status;
    };
    std::vector<std::vector<Cell>> cells(runs.size(), std::vector<Cell>(order.size()));
    for (const auto& a : e.state->AttemptCells(spec.name, keys)) {
      auto row = row_of.find(a.task_id);
      if (row == row_of.end()) continue;  // a task the file no longer has
      Cell& c = cells[column_of[a.run_key]][row->second];
      if (c.run_id != a.run_id) c.attempts = 0;  // attempts come in order: the newest wins
      c.attempt_id = a.attempt_id;
      c.run_id = a.run_id;
      c.status = a.status;
      c.attempts++;
    }
    json columns = json::array();
    for (const auto& run : runs) {
      columns.push_back({{"run_key", run.run_key},
                         {"ds", run.ds},
                         {"run_id", run.run_id},
                         {"status", run.status}});
    }
    std::string out =
        "{\"tasks\":" + json(order).dump() + ",\"columns\":" + columns.dump() + ",\"cells\":[";
    for (size_t c = 0; c < runs.size(); c++) {
      out += c ? ",[" : "[";
      for (size_t t = 0; t < order.size(); t++) {
        if (t) out += ',';
        const Cell& cell = cells[c][t];
        if (cell.attempts == 0) {
          out += "null";
          continue;
        }
        out += "{\"status\":" + json(cell.status).dump() +
               ",\"run_id\":" + std::to_string(cell.run_id) +
               ",\"attempt_id\":" + std::to_string(cell.attempt_id) +
               ",\"attempts\":" + std::to_string(cell.attempts) + "}";
      }
      out += ']';
    }
    out += "]}";
    Response resp;
    resp.body = std::move(out);
    resp.headers.push_back({"Cache-Control", "no-store"});
    return resp;
  }

  json Trends(const PipelineEntry& e, const Request& r) {
    int limit = IntParam(r, "limit", 90, 1, 2000);
    auto runs = e.state->LatestRunPerKey(e.spec->name, "", limit);
    std::reverse(runs.begin(), runs.end());
    std::vector<int64_t> ids;
    for (const auto& run : runs) ids.push_back(run.run_id);
    std::map<int64_t, std::pair<int64_t, int64_t>> rows;  // run -> loaded, rejected
    for (const auto& a : e.state->AttemptsOfRuns(ids)) {
      if (a.status != "success") continue;
      rows[a.run_id].first += a.counts.rows_written;
      rows[a.run_id].second += a.counts.rows_rejected;
    }
    json points = json::array();
    for (const auto& run : runs) {
      points.push_back(
          {{"run_key", run.run_key},
           {"ds", run.ds},
           {"run_id", run.run_id},
           {"status", run.status},
           {"seconds", SecondsOf(run.started_at, run.status == "running" ? "" : run.ended_at)},
           {"rows_loaded", rows[run.run_id].first},
           {"rows_rejected", rows[run.run_id].second}});
    }
    return {{"points", points}};
  }

  json Runs(const PipelineEntry& e, const Request& r) {
    int limit = IntParam(r, "limit", 50, 1, 1000);
    int64_t before = r.Query("before").empty() ? 0 : IdOf(r.Query("before"), "run");
    json runs = json::array();
    for (const auto& run : e.state->RunsPage(e.spec->name, before, limit))
      runs.push_back(RunJson(run));
    return {{"runs", runs}};
  }

  state::RunRecord RunOr404(const PipelineEntry& e, const std::string& id) {
    auto run = e.state->GetRun(IdOf(id, "run"));
    if (!run || run->pipeline != e.spec->name) Fail(404, "no run " + id + " of " + e.spec->name);
    return *run;
  }

  json RunDetail(const PipelineEntry& e, const std::string& id) {
    auto run = RunOr404(e, id);
    json attempts = json::array();
    for (const auto& a : e.state->ListAttempts(run.run_id)) attempts.push_back(AttemptJson(a));
    return {{"run", RunJson(run)}, {"tasks", e.spec->TopologicalOrder()}, {"attempts", attempts}};
  }

  state::AttemptRecord AttemptOr404(const PipelineEntry& e, const std::string& id) {
    auto a = e.state->GetAttempt(IdOf(id, "attempt"));
    if (!a) Fail(404, "no attempt " + id);
    auto run = e.state->GetRun(a->run_id);
    if (!run || run->pipeline != e.spec->name)
      Fail(404, "no attempt " + id + " of " + e.spec->name);
    // The log path comes from the state store, never from the request; it must still lie in
    // the pipeline's state folder (a state file from elsewhere could name any file).
    std::error_code ec;
    auto dir = std::filesystem::weakly_canonical(e.state_dir, ec).string() + "/";
    auto log = std::filesystem::weakly_canonical(a->log_path, ec).string();
    if (!StartsWith(log, dir))
      Fail(403, "the log of attempt " + id + " is outside the state folder");
    a->log_path = log;
    return *a;
  }

  Response Log(const PipelineEntry& e, const std::string& id, const Request& r, bool download) {
    auto a = AttemptOr404(e, id);
    std::ifstream in(a.log_path, std::ios::binary);
    uint64_t size = FileSize(a.log_path);
    if (download) {
      Response out;
      out.content_type = "text/plain; charset=utf-8";
      out.body.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      out.headers.push_back({"Content-Disposition", "attachment; filename=\"" + a.task_id + "." +
                                                        std::to_string(a.attempt) + ".log\""});
      return out;
    }
    int64_t offset = 0;
    if (!r.Query("offset").empty()) {
      offset = std::strtoll(r.Query("offset").c_str(), nullptr, 10);
      if (offset < 0) Fail(400, "offset must be 0 or more");
    }
    int max = IntParam(r, "max", 65536, 1, 4 << 20);
    std::string text;
    if (static_cast<uint64_t>(offset) < size) {
      in.seekg(offset);
      text.resize(
          static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(max), size - offset)));
      in.read(text.data(), static_cast<std::streamsize>(text.size()));
      text.resize(static_cast<size_t>(in.gcount()));
    }
    return JsonResponse(200, {{"text", text},
                              {"offset", offset},
                              {"next_offset", offset + static_cast<int64_t>(text.size())},
                              {"size", size},
                              {"running", a.status == "running"}});
  }

  // ---- actions ----

  pid_t Start(scheduler::Launch l) {
    std::lock_guard<std::mutex> lock(launch_mu);
    return launcher.Start(l);
  }

  void ReapChildren() {
    std::lock_guard<std::mutex> lock(launch_mu);
    for (const auto& e : launcher.Reap()) {
      if (exit_codes.size() > 1000) exit_codes.clear();
      exit_codes[e.pid] = e.exit_code;
    }
  }

  // Waits a moment for a started run to show up in the state store, so that a run that cannot
  // start (a date running elsewhere, a broken file) is an error here, not a silent nothing.
  void AwaitStart(const PipelineEntry& e, pid_t pid, const std::string& run_key, int64_t run_before,
                  const std::string& log_path) {
    for (int i = 0; i < 200; i++) {
      auto run = e.state->LatestRun(e.spec->name, run_key);
      if (run && run->run_id > run_before) return;
      ReapChildren();
      {
        std::lock_guard<std::mutex> lock(launch_mu);
        auto it = exit_codes.find(pid);
        if (it != exit_codes.end()) {
          auto again = e.state->LatestRun(e.spec->name, run_key);
          if (again && again->run_id > run_before) return;  // it ran, and ended already
          Fail(500, "the run did not start (exit code " + std::to_string(it->second) +
                        "): " + scheduler::TailOfFile(log_path, 6));
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }

  Response Trigger(const PipelineEntry& e, const Request& r) {
    json b = Body(r);
    std::string key = StringField(b, "date", true);
    scheduler::RunInfo run;
    try {
      run = scheduler::ResolveRun(*e.spec, *e.schedule, key);
    } catch (const Error& err) {
      Fail(400, err.what());
    }
    auto tasks = ListField(b, "tasks");
    for (const auto& t : tasks) {
      if (!e.spec->FindTask(t)) Fail(400, "no task '" + t + "' in " + e.spec->name);
    }
    json out = {{"run_key", run.run_key},
                {"ds", run.ds.ToString()},
                {"interval_start", run.start_iso},
                {"interval_end", run.end_iso},
                {"tasks", tasks}};
    e.state->CloseDeadRuns();
    for (const auto& [k, st] : e.state->RunKeys(e.spec->name)) {
      if (st.live && st.ds == run.ds.ToString()) {
        Fail(409, e.spec->name + " is running for " + st.ds + " (run " + std::to_string(st.run_id) +
                      ")");
      }
    }
    if (BoolField(b, "dry_run")) return JsonResponse(200, out);
    scheduler::Launch l;
    l.args = {"run", e.file, "--date", run.run_key, "--trigger", "ui"};
    for (const auto& t : tasks) {
      l.args.push_back("--task");
      l.args.push_back(t);
    }
    if (BoolField(b, "downstream")) {
      if (tasks.empty()) Fail(400, "\"downstream\" needs \"tasks\"");
      l.args.push_back("--downstream");
    }
    if (BoolField(b, "force")) l.args.push_back("--force");
    l.log_path = e.state_dir + "/logs/" + e.spec->name + "/" + run.ds.ToString() + "/ui-" +
                 ReplaceAll(run.run_key, ":", "") + "-" + std::to_string(::time(nullptr)) + ".out";
    auto before = e.state->LatestRun(e.spec->name, run.run_key);
    pid_t pid = Start(l);
    out["pid"] = pid;
    AwaitStart(e, pid, run.run_key, before ? before->run_id : 0, l.log_path);
    if (auto now = e.state->LatestRun(e.spec->name, run.run_key)) out["run_id"] = now->run_id;
    return JsonResponse(202, out);
  }

  Response Cancel(const PipelineEntry& e, const std::string& id) {
    auto run = RunOr404(e, id);
    auto pid = e.state->LivePid(run.run_id);
    if (!pid) Fail(409, "run " + id + " is not running");
    // Its whole process group when it leads one (runs started by a scheduler or this UI do).
    if (::getpgid(static_cast<pid_t>(*pid)) == *pid) {
      ::kill(-static_cast<pid_t>(*pid), SIGTERM);
    } else {
      ::kill(static_cast<pid_t>(*pid), SIGTERM);
    }
    return JsonResponse(202, {{"pid", *pid}});
  }

  Response ClearAction(const PipelineEntry& e, const Request& r) {
    json b = Body(r);
    Date from = DateField(b, "date");
    Date to = b.contains("to") && !b["to"].is_null() ? DateField(b, "to") : from;
    if (to < from) Fail(400, "\"to\" is before \"date\"");
    bool downstream = BoolField(b, "downstream");
    auto tasks = ListField(b, "tasks");
    if (downstream && tasks.empty()) Fail(400, "\"downstream\" needs \"tasks\"");
    scheduler::ClearPlan plan;
    try {
      plan = scheduler::PlanClear(*e.spec, tasks, downstream, from, to);
    } catch (const Error& err) {
      Fail(400, err.what());
    }
    json dates = json::array();
    for (Date d = from; !(to < d) && dates.size() < 10000; d = d.AddDays(1))
      dates.push_back(d.ToString());
    json out = {{"tasks", plan.tasks}, {"dates", dates}, {"cleared", 0}};
    if (BoolField(b, "dry_run")) return JsonResponse(200, out);
    try {
      out["cleared"] = scheduler::Clear(*e.spec, *e.state, plan);
    } catch (const Error& err) {
      Fail(409, err.what());
    }
    return JsonResponse(200, out);
  }

  Response Backfill(const PipelineEntry& e, const Request& r) {
    json b = Body(r);
    Date from = DateField(b, "from"), to = DateField(b, "to");
    if (to < from) Fail(400, "\"to\" is before \"from\"");
    std::string rerun = StringField(b, "rerun");
    if (rerun.empty()) rerun = "none";
    if (rerun != "none" && rerun != "failed" && rerun != "all") {
      Fail(400, "\"rerun\": none, failed or all");
    }
    int parallel = 1;
    if (b.contains("parallel") && !b["parallel"].is_null()) {
      if (!b["parallel"].is_number_integer()) Fail(400, "\"parallel\" must be a whole number");
      parallel = b["parallel"].get<int>();
      if (parallel < 1 || parallel > 64) Fail(400, "\"parallel\": 1 to 64");
    }
    auto plan = scheduler::PlanBackfill(*e.spec, *e.schedule, *e.state, from, to, rerun);
    json todo = json::array(), skipped = json::array();
    for (const auto& run : plan.todo) todo.push_back(run.run_key);
    for (const auto& [key, why] : plan.skipped) skipped.push_back({{"run_key", key}, {"why", why}});
    json out = {{"plan", todo}, {"skipped", skipped}};
    if (BoolField(b, "dry_run")) return JsonResponse(200, out);
    if (plan.todo.empty()) return JsonResponse(200, out);
    scheduler::Launch l;
    l.args = {"backfill",    e.file,    "--from", from.ToString(), "--to",
              to.ToString(), "--rerun", rerun,    "--parallel",    std::to_string(parallel)};
    l.log_path = e.state_dir + "/logs/" + e.spec->name + "/ui-backfill-" + from.ToString() + "-" +
                 to.ToString() + "-" + std::to_string(::time(nullptr)) + ".out";
    out["pid"] = Start(l);
    return JsonResponse(202, out);
  }

  // ---- datasets ----

  struct Found {
    std::shared_ptr<const PipelineEntry> entry;  // a pipeline whose lake holds the dataset
    std::string producer_pipeline, producer_task;
    std::string rejects, rejects_of;
  };

  // The dataset in the lakes of the catalog's pipelines; `pipeline` picks one.
  Found FindDataset(const std::string& name, const std::string& pipeline) {
    if (!pipeline::IsDatasetName(name)) Fail(404, "no dataset '" + name + "' (write zone.name)");
    Found f;
    for (const auto& e : catalog->All()) {
      if (!e->spec || !e->lake) continue;
      if (!pipeline.empty() && e->spec->name != pipeline) continue;
      auto parts = e->lake->ListPartitions(name);
      std::string producer = e->spec->ProducerOf(name);
      if (!producer.empty() && f.producer_task.empty()) {
        f.producer_pipeline = e->spec->name;
        f.producer_task = producer;
        const auto* t = e->spec->FindTask(producer);
        if (t->kind == "csv_import" && t->csv.rejects_into == name) f.rejects_of = t->into;
        if (t->kind == "csv_import" && t->into == name) f.rejects = t->csv.rejects_into;
      }
      if (!f.entry && (!parts.empty() || !producer.empty())) f.entry = e;
      if (!producer.empty()) f.entry = e;  // the producer's lake wins
    }
    if (!f.entry) Fail(404, "no dataset '" + name + "' in the lakes of the pipelines shown");
    return f;
  }

  json Datasets() {
    std::map<std::pair<std::string, std::string>, json> out;  // (lake, dataset) -> entry
    for (const auto& e : catalog->All()) {
      if (!e->spec || !e->lake) continue;
      std::set<std::string> names;
      for (const auto& d : e->lake->ListDatasets()) names.insert(d);
      for (const auto& t : e->spec->tasks) {
        for (const auto& d : WritesOf(t)) names.insert(d);
      }
      for (const auto& d : names) {
        auto key = std::make_pair(e->lake->root(), d);
        auto it = out.find(key);
        if (it == out.end()) {
          auto parts = e->lake->ListPartitions(d);
          json latest = nullptr;
          if (!parts.empty()) {
            std::string ds = parts.back().substr(parts.back().find('=') + 1);
            if (auto m = e->lake->ReadManifest(d, ds)) {
              latest = {{"ds", ds},
                        {"rows", m->rows},
                        {"bytes", m->bytes},
                        {"created_at", m->created_at}};
            }
          }
          it = out.emplace(key, json{{"name", d},
                                     {"zone", d.substr(0, d.find('.'))},
                                     {"lake", e->lake->root()},
                                     {"pipelines", json::array()},
                                     {"producer", nullptr},
                                     {"partitions", parts.size()},
                                     {"latest", latest}})
                   .first;
        }
        it->second["pipelines"].push_back(e->spec->name);
        std::string producer = e->spec->ProducerOf(d);
        if (!producer.empty())
          it->second["producer"] = {{"pipeline", e->spec->name}, {"task", producer}};
      }
    }
    json list = json::array();
    for (auto& [k, v] : out) list.push_back(v);
    return {{"datasets", list}};
  }

  json DatasetDetail(const std::string& name, const Request& r) {
    Found f = FindDataset(name, r.Query("pipeline"));
    auto& lake = *f.entry->lake;
    json partitions = json::array();
    json schema = json::array();
    auto parts = lake.ListPartitions(name);
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      std::string ds = it->substr(it->find('=') + 1);
      auto m = lake.ReadManifest(name, ds);
      if (!m) continue;
      json files = json::array();
      for (const auto& file : m->files)
        files.push_back({{"name", file.name}, {"bytes", file.bytes}, {"crc32c", file.crc32c}});
      partitions.push_back(
          {{"ds", ds},
           {"rows", m->rows},
           {"bytes", m->bytes},
           {"checksum", "crc32c:" + m->checksum},
           {"run_id", m->run_id},
           {"attempt_id", m->attempt_id},
           {"task_id", m->task_id},
           {"created_at", m->created_at},
           {"files", files},
           {"sources",
            m->sources.empty() ? json(nullptr) : json::parse(m->sources, nullptr, false)}});
      if (schema.empty()) {
        for (const auto& c : m->schema) schema.push_back({{"name", c.name}, {"type", c.type}});
      }
    }
    json producer = f.producer_task.empty()
                        ? json(nullptr)
                        : json{{"pipeline", f.producer_pipeline}, {"task", f.producer_task}};
    return {{"name", name},
            {"lake", lake.root()},
            {"pipeline", f.entry->spec->name},
            {"producer", producer},
            {"schema", schema},
            {"partitions", partitions},
            {"rejects", f.rejects.empty() ? json(nullptr) : json(f.rejects)},
            {"rejects_of", f.rejects_of.empty() ? json(nullptr) : json(f.rejects_of)}};
  }

  // The partition ds asks for, or the latest.
  std::string PartitionOf(lake::Lake& lake, const std::string& name, const std::string& ds) {
    if (!ds.empty()) {
      if (!Date::Parse(ds)) Fail(400, "ds=" + ds + ": not a date");
      return ds;
    }
    auto parts = lake.ListPartitions(name);
    if (parts.empty()) Fail(404, "dataset " + name + " has no published partition");
    return parts.back().substr(parts.back().find('=') + 1);
  }

  json Preview(const std::string& name, const Request& r) {
    Found f = FindDataset(name, r.Query("pipeline"));
    std::string ds = PartitionOf(*f.entry->lake, name, r.Query("ds"));
    int limit = IntParam(r, "limit", 50, 1, 1000);
    auto selection = f.entry->lake->Select(name, ds);
    if (!selection) Fail(404, "dataset " + name + " has no published partition ds=" + ds);
    std::unique_ptr<engine::Session> holder;
    auto* session = Session(&holder);
    auto table =
        session->Query("SELECT * FROM " + selection->Sql() + " LIMIT " + std::to_string(limit));
    json columns = json::array(), rows = json::array();
    for (const auto& c : table.columns) columns.push_back({{"name", c.name}, {"type", c.type}});
    for (const auto& row : table.rows) {
      json cells = json::array();
      for (const auto& v : row) cells.push_back(v ? json(*v) : json(nullptr));
      rows.push_back(cells);
    }
    return {{"ds", ds}, {"columns", columns}, {"rows", rows}};
  }

  json Rejects(const std::string& name, const Request& r) {
    Found f = FindDataset(name, r.Query("pipeline"));
    std::string rejects = !f.rejects.empty() ? f.rejects : name;
    if (f.rejects.empty() && f.rejects_of.empty()) Fail(404, "dataset " + name + " has no rejects");
    std::string ds = PartitionOf(*f.entry->lake, rejects, r.Query("ds"));
    auto selection = f.entry->lake->Select(rejects, ds);
    if (!selection) Fail(404, "no rejects partition ds=" + ds + " of " + rejects);
    std::unique_ptr<engine::Session> holder;
    auto* session = Session(&holder);
    std::string src = selection->Sql();
    auto groups =
        session->Query("SELECT error_type, \"column\", count(*) FROM " + src +
                       " GROUP BY ALL ORDER BY count(*) DESC, error_type, \"column\" LIMIT 200");
    json reasons = json::array();
    int64_t total = 0;
    for (const auto& g : groups.rows) {
      int64_t n = std::atoll(g[2].value_or("0").c_str());
      total += n;
      std::string where =
          "error_type " + (g[0] ? "= " + SqlLiteral(*g[0]) : std::string("IS NULL")) +
          " AND \"column\" " + (g[1] ? "= " + SqlLiteral(*g[1]) : std::string("IS NULL"));
      auto ex =
          session->Query("SELECT file, line, byte_offset, reason, left(raw_line, 2000) FROM " +
                         src + " WHERE " + where + " ORDER BY line LIMIT 3");
      json examples = json::array();
      for (const auto& e : ex.rows) {
        examples.push_back({{"file", e[0].value_or("")},
                            {"line", std::atoll(e[1].value_or("0").c_str())},
                            {"byte_offset", std::atoll(e[2].value_or("0").c_str())},
                            {"reason", e[3].value_or("")},
                            {"raw", e[4].value_or("")}});
      }
      reasons.push_back({{"error_type", g[0] ? json(*g[0]) : json(nullptr)},
                         {"column", g[1] ? json(*g[1]) : json(nullptr)},
                         {"count", n},
                         {"examples", examples}});
    }
    return {{"dataset", rejects}, {"ds", ds}, {"total", total}, {"reasons", reasons}};
  }

  // ---- routing ----

  Response Route(const Request& r) {
    std::vector<std::string> p;
    for (const auto& s : Split(r.path.substr(std::string("/api/v1/").size()), '/')) {
      if (!s.empty()) p.push_back(s);
    }
    bool get = r.method == "GET" || r.method == "HEAD";
    bool post = r.method == "POST";
    if (p.size() == 1 && p[0] == "pipelines" && get) return JsonResponse(200, ListPipelines());
    if (p.size() >= 2 && p[0] == "pipelines") {
      auto e = PipelineOr404(p[1]);
      if (p.size() == 2 && get) return JsonResponse(200, PipelineDetail(*e));
      if (p.size() == 3 && get && p[2] == "grid") return Grid(*e, r);
      if (p.size() == 3 && get && p[2] == "trends") return JsonResponse(200, Trends(*e, r));
      if (p.size() == 3 && get && p[2] == "runs") return JsonResponse(200, Runs(*e, r));
      if (p.size() == 3 && post && p[2] == "runs") return Trigger(*e, r);
      if (p.size() == 4 && get && p[2] == "runs") return JsonResponse(200, RunDetail(*e, p[3]));
      if (p.size() == 5 && post && p[2] == "runs" && p[4] == "cancel") return Cancel(*e, p[3]);
      if (p.size() == 5 && get && p[2] == "attempts" && p[4] == "log")
        return Log(*e, p[3], r, false);
      if (p.size() == 5 && get && p[2] == "attempts" && p[4] == "log.txt")
        return Log(*e, p[3], r, true);
      if (p.size() == 3 && post && p[2] == "clear") return ClearAction(*e, r);
      if (p.size() == 3 && post && p[2] == "backfill") return Backfill(*e, r);
      if (p.size() == 3 && post && (p[2] == "pause" || p[2] == "unpause")) {
        e->state->SetPaused(e->spec->name, p[2] == "pause");
        return JsonResponse(200, {{"paused", p[2] == "pause"}});
      }
    }
    if (p.size() == 1 && p[0] == "datasets" && get) return JsonResponse(200, Datasets());
    if (p.size() >= 2 && p[0] == "datasets" && get) {
      if (p.size() == 2) return JsonResponse(200, DatasetDetail(p[1], r));
      if (p.size() == 3 && p[2] == "preview") return JsonResponse(200, Preview(p[1], r));
      if (p.size() == 3 && p[2] == "rejects") return JsonResponse(200, Rejects(p[1], r));
    }
    Fail(404, "no API call " + r.method + " " + r.path + " (see /api/openapi.json)");
  }
};

Api::Api(Catalog* catalog) : impl_(std::make_unique<Impl>()) { impl_->catalog = catalog; }

Api::~Api() = default;

void Api::Reap() { impl_->ReapChildren(); }

Response Api::Handle(const Request& r) {
  try {
    return impl_->Route(r);
  } catch (const ApiError& e) {
    return JsonResponse(e.status, {{"error", RedactSecrets(e.message)}});
  } catch (const Error& e) {
    int status = e.kind() == ErrorKind::kNotFound       ? 404
                 : e.kind() == ErrorKind::kInvalidInput ? 400
                                                        : 500;
    return JsonResponse(status, {{"error", RedactSecrets(e.what())}});
  }
}

}  // namespace sluice::server
