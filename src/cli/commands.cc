#include "cli/commands.h"

#include <curl/curl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <utility>

#include "cli/gen_citizens.h"
#include "cli/gen_shop.h"
#include "common/cancel.h"
#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "engine/engine.h"
#include "fs/file_system.h"
#include "lake/lake.h"
#include "pipeline/spec.h"
#include "pipeline/template.h"
#include "runner/progress.h"
#include "runner/runner.h"
#include "state/state_store.h"

namespace sluice::cli {
namespace {

constexpr const char* kVersion = "0.1.0";

// A usage mistake: printed with the command's usage line, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Flag {
  std::string name;  // without dashes
  bool takes_value;
  std::string help;
};

struct Command {
  std::string name;
  std::string summary;
  std::string usage;
  std::vector<Flag> flags;
  std::string examples;
  int min_positional;
  int max_positional;
  std::function<int(struct Args&)> run;
};

struct Args {
  const Command* command = nullptr;
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> flags;

  bool Has(const std::string& f) const { return flags.count(f) > 0; }
  std::string Get(const std::string& f, const std::string& fallback = "") const {
    auto it = flags.find(f);
    return it == flags.end() ? fallback : it->second;
  }
  std::vector<std::string> All(const std::string& f) const {
    std::vector<std::string> out;
    auto [b, e] = flags.equal_range(f);
    for (auto it = b; it != e; ++it) out.push_back(it->second);
    return out;
  }
};

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

// The pieces every pipeline command needs, opened in dependency order.
struct Workspace {
  pipeline::PipelineSpec spec;
  std::unique_ptr<state::StateStore> state;
  std::unique_ptr<lake::Lake> lake;
  std::unique_ptr<engine::Engine> engine;

  static Workspace Open(const std::string& file, const std::map<std::string, std::string>& vars,
                        bool with_engine) {
    return FromSpec(pipeline::LoadPipelineOrThrow(file, vars), with_engine);
  }

  // Opens the state store and the lake of spec (recovering interrupted publishes first) and,
  // with_engine, starts the engine.
  static Workspace FromSpec(pipeline::PipelineSpec spec, bool with_engine) {
    Workspace w;
    w.spec = std::move(spec);
    std::string state_dir = w.spec.ResolvePath(w.spec.state_dir);
    w.state = state::StateStore::Open(state_dir + "/state.db");
    std::string root;
    auto fs = fs::MakeFileSystem(w.spec.LakeUri(), &root);
    fs->MakeDirs(root);
    w.lake = std::make_unique<lake::Lake>(std::move(fs), root, w.state.get(), w.spec.name);
    auto report = w.lake->Recover();
    if (report.rolled_back || report.rolled_forward) {
      std::cerr << "sluice: recovered " << report.rolled_forward + report.rolled_back
                << " interrupted publish(es) from an earlier crash (" << report.rolled_forward
                << " finished, " << report.rolled_back << " rolled back)\n";
    }
    if (with_engine) {
      engine::EngineOptions opts = w.spec.engine_options;
      // Spill files go to a folder of this process under engine.temp_directory (default
      // <state>/spill), never the current directory; folders of processes that are gone (a
      // kill -9 mid-query) are removed first.
      std::string base = opts.temp_directory.empty() ? state_dir + "/spill"
                                                     : w.spec.ResolvePath(opts.temp_directory);
      std::error_code ec;
      std::filesystem::create_directories(base, ec);
      if (ec) {
        throw IoError("cannot create the spill folder " + base + ": " + ec.message() +
                          " (set engine.temp_directory: to a writable folder)",
                      false);
      }
      RemoveDeadSpillFolders(base);
      w.spill_dir = base + "/sluice-" + std::to_string(::getpid());
      opts.temp_directory = w.spill_dir;
      w.engine = engine::MakeDuckDbEngine(opts);
    }
    return w;
  }

  Workspace() = default;
  Workspace(Workspace&& o) noexcept
      : spec(std::move(o.spec)),
        state(std::move(o.state)),
        lake(std::move(o.lake)),
        engine(std::move(o.engine)),
        spill_dir(std::exchange(o.spill_dir, {})) {}
  Workspace& operator=(Workspace&&) = delete;
  ~Workspace() {
    engine.reset();  // first: it may still hold spill files
    if (!spill_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(spill_dir, ec);
    }
  }

  std::string spill_dir;

 private:
  static void RemoveDeadSpillFolders(const std::string& base) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
      std::string name = entry.path().filename().string();
      if (!StartsWith(name, "sluice-")) continue;
      pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + 7));
      if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) {
        std::filesystem::remove_all(entry.path(), ec);
      }
    }
  }
};

// Ctrl-C: the first one cancels the run cleanly, the second exits at once.
std::atomic<int> interrupts{0};
void OnSignal(int) {
  if (interrupts.fetch_add(1) >= 1) _exit(130);
}

int CmdRun(Args& a) {
  std::string ds = DateFlag(a);
  auto spec = pipeline::LoadPipelineOrThrow(a.positional[0], ParseVars(a));
  // Without --date: today where the pipeline lives (timezone:), like a scheduler would.
  // Computed before the engine starts its threads (TodayIn changes TZ for a moment).
  if (ds.empty()) ds = Date::TodayIn(spec.timezone).ToString();
  auto w = Workspace::FromSpec(std::move(spec), true);
  runner::RunOptions opts;
  opts.ds = ds;
  opts.force = a.Has("force");
  opts.tasks = a.All("task");
  opts.downstream = a.Has("downstream");
  if (opts.downstream && opts.tasks.empty()) throw UsageError("--downstream needs --task T");

  CancelToken cancel;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      if (interrupts.load() > 0) {
        std::cerr << "\nsluice: interrupted; stopping running tasks (Ctrl-C again to exit now)\n";
        cancel.Cancel("interrupted (Ctrl-C or SIGTERM)");
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  runner::Runner runner(w.spec, w.state.get(), w.lake.get(), w.engine.get(), std::cout,
                        isatty(STDOUT_FILENO));
  runner::RunSummary summary;
  try {
    summary = runner.Run(opts, cancel);
  } catch (...) {
    done = true;
    watcher.join();
    throw;
  }
  done = true;
  watcher.join();
  runner::PrintSummary(summary, std::cout);
  if (summary.status == "success") return 0;
  if (summary.status == "cancelled") return 130;
  return 1;
}

int CmdValidate(Args& a) {
  std::vector<pipeline::Diagnostic> diagnostics;
  auto spec = pipeline::LoadPipeline(a.positional[0], ParseVars(a), &diagnostics);
  if (!diagnostics.empty()) {
    for (const auto& d : diagnostics) std::cerr << pipeline::FormatDiagnostic(d) << "\n";
    std::cerr << diagnostics.size() << " problem" << (diagnostics.size() == 1 ? "" : "s")
              << " found\n";
    return 2;
  }
  std::cout << a.positional[0] << ": ok, pipeline " << spec.name << " with " << spec.tasks.size()
            << " tasks\n";
  for (const auto& id : spec.TopologicalOrder()) {
    const auto* t = spec.FindTask(id);
    std::cout << "  " << id << " (" << t->kind << ")";
    if (!t->upstream.empty()) std::cout << " after " << Join(t->upstream, ", ");
    std::cout << "\n";
  }
  return 0;
}

int CmdRuns(Args& a) {
  auto w = Workspace::Open(a.positional[0], ParseVars(a), false);
  int limit = std::atoi(a.Get("limit", "20").c_str());
  auto runs = w.state->ListRuns(w.spec.name, DateFlag(a), limit);
  if (runs.empty()) {
    std::cout << "no runs of " << w.spec.name << " yet (start one with: sluice run "
              << a.positional[0] << " --date YYYY-MM-DD)\n";
    return 0;
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-6s %-10s %-10s %-24s %-24s %s\n", "run", "ds", "status",
                "started", "ended", "error");
  std::cout << line;
  for (const auto& r : runs) {
    std::snprintf(line, sizeof line, "%-6lld %-10s %-10s %-24s %-24s %s\n",
                  static_cast<long long>(r.run_id), r.ds.c_str(), r.status.c_str(),
                  r.started_at.c_str(), r.ended_at.c_str(), r.error.substr(0, 120).c_str());
    std::cout << line;
  }
  return 0;
}

int CmdStatus(Args& a) {
  auto w = Workspace::Open(a.positional[0], ParseVars(a), false);
  std::string ds = DateFlag(a);
  if (ds.empty()) {
    auto runs = w.state->ListRuns(w.spec.name, "", 1);
    if (runs.empty()) {
      std::cout << "no runs of " << w.spec.name << " yet\n";
      return 0;
    }
    ds = runs[0].ds;
  }
  std::cout << "pipeline " << w.spec.name << ", ds " << ds << "\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %-24s %-15s %-4s %-8s %12s %12s %12s  %s\n", "task", "status",
                "run", "attempts", "read", "loaded", "rejected", "ended");
  std::cout << line;
  for (const auto& id : w.spec.TopologicalOrder()) {
    auto history = w.state->TaskHistory(w.spec.name, ds, id);
    if (history.empty()) {
      std::snprintf(line, sizeof line, "  %-24s %-15s\n", id.c_str(), "never run");
      std::cout << line;
      continue;
    }
    const auto& last = history.back();
    int attempts = 0;
    for (const auto& h : history) attempts += h.run_id == last.run_id;
    std::snprintf(line, sizeof line, "  %-24s %-15s %-4lld %-8d %12s %12s %12s  %s\n", id.c_str(),
                  last.status.c_str(), static_cast<long long>(last.run_id), attempts,
                  HumanCount(static_cast<uint64_t>(last.counts.rows_read)).c_str(),
                  HumanCount(static_cast<uint64_t>(last.counts.rows_written)).c_str(),
                  HumanCount(static_cast<uint64_t>(last.counts.rows_rejected)).c_str(),
                  last.ended_at.c_str());
    std::cout << line;
    if (last.status != "success") {
      if (!last.error.empty()) {
        std::cout << "      " << ReplaceAll(last.error, "\n", "\n      ") << "\n";
      }
    }
  }
  return 0;
}

int CmdLogs(Args& a) {
  auto w = Workspace::Open(a.positional[0], ParseVars(a), false);
  std::string ds = DateFlag(a);
  std::string task = a.Get("task");
  if (ds.empty()) {
    auto runs = w.state->ListRuns(w.spec.name, "", 1);
    if (runs.empty()) throw UsageError("no runs yet; nothing to show");
    ds = runs[0].ds;
  }
  std::vector<std::string> ids =
      task.empty() ? w.spec.TopologicalOrder() : std::vector<std::string>{task};
  if (!task.empty() && !w.spec.FindTask(task))
    throw UsageError("--task " + task + ": no such task");
  int attempt_filter = std::atoi(a.Get("attempt", "0").c_str());
  bool any = false;
  for (const auto& id : ids) {
    auto history = w.state->TaskHistory(w.spec.name, ds, id);
    if (history.empty()) continue;
    int64_t last_run = history.back().run_id;
    for (const auto& h : history) {
      if (attempt_filter ? h.attempt != attempt_filter : h.run_id != last_run) continue;
      any = true;
      std::cout << "==> " << id << " attempt " << h.attempt << " (run " << h.run_id << ", "
                << h.status << ") " << h.log_path << "\n";
      std::ifstream in(h.log_path);
      std::cout << in.rdbuf() << "\n";
    }
  }
  if (!any)
    std::cout << "no logs for " << (task.empty() ? "any task" : task) << " on " << ds << "\n";
  return 0;
}

bool IsNumericType(const std::string& type) {
  static const std::set<std::string> numeric = {"TINYINT", "SMALLINT", "INTEGER",   "BIGINT",
                                                "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                                                "UBIGINT", "FLOAT",    "DOUBLE"};
  return numeric.count(type) > 0 || StartsWith(type, "DECIMAL");
}

std::string JsonValue(const std::optional<std::string>& v, const std::string& type) {
  if (!v) return "null";
  if (IsNumericType(type)) {
    if (*v == "inf" || *v == "-inf" || *v == "nan") return nlohmann::json(*v).dump();
    return *v;
  }
  if (type == "BOOLEAN") return *v;
  return nlohmann::json(*v).dump();
}

std::string CsvField(const std::optional<std::string>& v) {
  if (!v) return "";
  if (v->find_first_of(",\"\n\r") == std::string::npos) return *v;
  return "\"" + ReplaceAll(*v, "\"", "\"\"") + "\"";
}

void PrintTable(const engine::Table& t, const std::string& format) {
  if (format == "csv") {
    std::vector<std::string> head;
    for (const auto& c : t.columns) head.push_back(CsvField(c.name));
    std::cout << Join(head, ",") << "\n";
    for (const auto& row : t.rows) {
      std::vector<std::string> cells;
      for (const auto& v : row) cells.push_back(CsvField(v));
      std::cout << Join(cells, ",") << "\n";
    }
    return;
  }
  if (format == "json") {
    std::cout << "[";
    for (size_t r = 0; r < t.rows.size(); r++) {
      std::cout << (r ? ",\n " : "\n ") << "{";
      for (size_t c = 0; c < t.columns.size(); c++) {
        std::cout << (c ? ", " : "") << nlohmann::json(t.columns[c].name).dump() << ": "
                  << JsonValue(t.rows[r][c], t.columns[c].type);
      }
      std::cout << "}";
    }
    std::cout << (t.rows.empty() ? "]\n" : "\n]\n");
    return;
  }
  std::vector<size_t> width(t.columns.size());
  auto shown = [](const std::optional<std::string>& v) {
    std::string s = v.value_or("NULL");
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
  };
  auto display_width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (size_t c = 0; c < t.columns.size(); c++) {
    width[c] = display_width(t.columns[c].name);
    for (const auto& row : t.rows) width[c] = std::max(width[c], display_width(shown(row[c])));
  }
  auto pad = [&](const std::string& s, size_t w) {
    return s + std::string(w - display_width(s), ' ');
  };
  std::string sep = "+";
  for (auto w : width) sep += std::string(w + 2, '-') + "+";
  std::cout << sep << "\n|";
  for (size_t c = 0; c < t.columns.size(); c++)
    std::cout << " " << pad(t.columns[c].name, width[c]) << " |";
  std::cout << "\n" << sep << "\n";
  for (const auto& row : t.rows) {
    std::cout << "|";
    for (size_t c = 0; c < t.columns.size(); c++) {
      // Numbers right-aligned, so digits line up.
      std::string v = shown(row[c]);
      std::cout << " "
                << (IsNumericType(t.columns[c].type) && row[c]
                        ? std::string(width[c] - display_width(v), ' ') + v
                        : pad(v, width[c]))
                << " |";
    }
    std::cout << "\n";
  }
  std::cout << sep << "\n" << t.rows.size() << " row" << (t.rows.size() == 1 ? "" : "s") << "\n";
}

int CmdQuery(Args& a) {
  std::string file = a.Get("pipeline");
  if (file.empty())
    throw UsageError("query needs --pipeline FILE (whose lake and warehouse to query)");
  std::string format = a.Get("format", "table");
  if (format != "table" && format != "csv" && format != "json") {
    throw UsageError("--format " + format + ": use table, csv or json");
  }
  std::string ds = DateFlag(a);
  auto w = Workspace::Open(file, ParseVars(a), true);
  auto session = w.engine->Connect();
  std::string warehouse = w.spec.ResolvePath(w.spec.warehouse);
  if (std::filesystem::exists(warehouse)) {
    session->Execute("ATTACH " + SqlLiteral(warehouse) + " AS warehouse (READ_ONLY)");
  }
  auto ref_sql = [&](const std::string& dataset, const std::string& scope) -> std::string {
    bool all = ds.empty() || scope == "all";
    auto selection = w.lake->Select(dataset, all ? "" : ds);
    if (!selection) {
      throw NotFound("ref('" + dataset + "'): no published partition" +
                     (all ? "" : " for ds=" + ds) + " in the lake " + w.lake->root());
    }
    return selection->Sql();
  };
  // Every dataset is also a view zone.name, so plain SQL works without ref().
  for (const auto& dataset : w.lake->ListDatasets()) {
    auto dot = dataset.find('.');
    std::string zone = dataset.substr(0, dot);
    try {
      std::string src = ref_sql(dataset, "");
      session->Execute("CREATE SCHEMA IF NOT EXISTS " + SqlIdentifier(zone));
      session->Execute("CREATE VIEW " + SqlIdentifier(zone) + "." +
                       SqlIdentifier(dataset.substr(dot + 1)) + " AS SELECT * FROM " + src);
    } catch (const Error&) {
      // No partition for --date: the view is left out and ref() names the problem.
    }
  }
  pipeline::TemplateContext tc;
  if (!ds.empty()) tc.variables = pipeline::DateVariables(ds);
  tc.vars = w.spec.vars;
  tc.ref = ref_sql;
  std::string sql = pipeline::RenderTemplate(a.positional[0], tc, "query");
  auto table = session->Query(sql);
  PrintTable(table, format);
  return 0;
}

pipeline::ConnectionSpec ConnectionFromUrl(const std::string& raw_url, const Args& a);

int CmdGenShop(Args& a) {
  if (!a.Has("connect")) {
    throw UsageError(
        "gen shop needs --connect URL (the database to fill, e.g. "
        "mysql://etl@127.0.0.1:3306/shop)");
  }
  if (a.Has("out")) throw UsageError("gen shop writes into a database (--connect), not --out");
  auto conn = ConnectionFromUrl(a.Get("connect"), a);
  GenShopOptions o;
  std::string rows = a.Get("rows", "100000");
  char* end = nullptr;
  double d = std::strtod(rows.c_str(), &end);
  if (*end != '\0' || d < 1 || d > 1e10) {
    throw UsageError("--rows " + rows + ": the number of orders, 1 to 10000000000");
  }
  o.orders = static_cast<uint64_t>(d);
  if (a.Has("tables")) {
    for (const auto& t : Split(a.Get("tables"), ',')) o.tables.push_back(Trim(t));
  }
  o.seed = static_cast<uint64_t>(std::strtoull(a.Get("seed", "42").c_str(), nullptr, 10));
  o.replace = a.Has("replace");
  runner::ProgressLine progress(std::cerr, isatty(STDERR_FILENO));
  double start = SteadySeconds();
  o.on_progress = [&](const std::string& table, uint64_t done, uint64_t total) {
    double fraction = total ? static_cast<double>(done) / static_cast<double>(total) : 1;
    progress.Update(
        runner::FormatProgress("gen shop " + table, fraction, 0, 0, SteadySeconds() - start, true));
  };
  auto report = GenerateShop(conn, std::filesystem::current_path().string(), o);
  progress.Clear();
  for (const auto& [table, n] : report.tables) {
    std::cerr << "  " << table << ": " << HumanCount(n) << " rows\n";
  }
  std::cerr << "generated the shop database in " << HumanSeconds(SteadySeconds() - start) << "\n";
  return 0;
}

int CmdGen(Args& a) {
  if (a.positional[0] == "shop") return CmdGenShop(a);
  if (a.positional[0] != "citizens") {
    throw UsageError("gen " + a.positional[0] + ": unknown dataset (available: citizens, shop)");
  }
  for (const char* f :
       {"connect", "tables", "replace", "username", "password-file", "password-env"}) {
    if (a.Has(f)) throw UsageError(std::string("--") + f + " is for gen shop");
  }
  GenCitizensOptions o;
  auto num = [&](const char* flag, double fallback, double lo, double hi) {
    std::string v = a.Get(flag);
    if (v.empty()) return fallback;
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (*end != '\0' || d < lo || d >= hi) {
      throw UsageError(std::string("--") + flag + " " + v + ": must be a number in [" +
                       std::to_string(lo) + ", " + std::to_string(hi) + ")");
    }
    return d;
  };
  o.rows = static_cast<uint64_t>(num("rows", 10000, 0, 1e12));
  o.duplicate_rate = num("duplicates", 0.02, 0, 1);
  o.malformed_rate = num("malformed", 0.001, 0, 1);
  o.seed = static_cast<uint64_t>(num("seed", 42, 0, 1e18));
  o.out_path = a.Get("out", "citizens_data.csv");
  if (o.out_path != "-") {
    auto parent = std::filesystem::path(o.out_path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
  }
  runner::ProgressLine progress(std::cerr, isatty(STDERR_FILENO));
  double start = SteadySeconds();
  uint64_t expected_bytes = o.rows * 175;
  auto stats = GenerateCitizens(o, [&](uint64_t bytes, uint64_t rows) {
    double fraction = o.rows ? static_cast<double>(rows) / static_cast<double>(o.rows) : 1;
    progress.Update(runner::FormatProgress("gen citizens", fraction, bytes, expected_bytes,
                                           SteadySeconds() - start, true));
  });
  progress.Clear();
  std::cerr << "wrote " << (o.out_path == "-" ? "stdout" : o.out_path) << ": "
            << HumanCount(stats.rows) << " rows (" << HumanCount(stats.duplicates)
            << " duplicates, " << HumanCount(stats.malformed) << " malformed), "
            << HumanBytes(static_cast<double>(stats.bytes)) << " in "
            << HumanSeconds(SteadySeconds() - start) << "\n";
  return 0;
}

// The URL with any password in it replaced by ***, for messages.
std::string RedactUrl(const std::string& url) {
  auto scheme = url.find("://");
  auto at = url.rfind('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

// Parses a Sqoop-style --connect URL: postgresql://user@host:port/db or mysql://user@host/db,
// with libcurl's URL parser (IPv6 hosts in brackets, %-encoded characters), and sluice's
// policy on top: no password in the URL, only the connection options of a pipeline file.
pipeline::ConnectionSpec ConnectionFromUrl(const std::string& raw_url, const Args& a) {
  // Shown redacted: a URL that holds a password is refused below anyway.
  const std::string shown = RedactUrl(raw_url);
  const std::string usage = "--connect " + shown +
                            ": write postgresql://USER@HOST:PORT/DATABASE or "
                            "mysql://USER@HOST:PORT/DATABASE";
  pipeline::ConnectionSpec c;
  c.name = "target";
  std::string url = raw_url;
  if (StartsWith(url, "jdbc:")) url = url.substr(5);
  auto pos = url.find("://");
  if (pos == std::string::npos) throw UsageError(usage);
  std::string scheme = ToLower(url.substr(0, pos));
  if (scheme == "postgresql" || scheme == "postgres") {
    c.type = "postgres";
  } else if (scheme == "mysql" || scheme == "mariadb") {
    c.type = "mysql";
  } else {
    throw UsageError("--connect " + shown + ": scheme '" + scheme + "' is not postgresql or mysql");
  }
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), curl_url_cleanup);
  if (!u ||
      curl_url_set(u.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    throw UsageError(usage);
  }
  auto part = [&](CURLUPart what, unsigned flags = CURLU_URLDECODE) -> std::optional<std::string> {
    char* v = nullptr;
    if (curl_url_get(u.get(), what, &v, flags) != CURLUE_OK || v == nullptr) return std::nullopt;
    std::string out = v;
    curl_free(v);
    return out;
  };
  if (part(CURLUPART_PASSWORD)) {
    throw UsageError(
        "--connect: a password in the URL would show in the process list; use "
        "--password-file FILE (mode 0600) or --password-env NAME");
  }
  std::string host = part(CURLUPART_HOST).value_or("");
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // an IPv6 address
  }
  if (host.empty()) throw UsageError("--connect " + shown + ": no host");
  c.options["host"] = host;
  if (auto port = part(CURLUPART_PORT)) c.options["port"] = *port;
  if (auto user = part(CURLUPART_USER)) c.options["user"] = *user;
  std::string path = part(CURLUPART_PATH).value_or("");
  if (path.size() <= 1) throw UsageError("--connect " + shown + ": no /DATABASE");
  c.options["database"] = path.substr(1);
  // ?sslmode=verify-full&sslrootcert=ca.pem&connect_timeout=10s: the connection options of a
  // pipeline file (docs/load.md), in the URL as JDBC users write them.
  if (auto query = part(CURLUPART_QUERY, 0)) {
    const std::vector<std::string> allowed = {"ssl_mode",    "sslmode",         "ssl_ca",
                                              "sslrootcert", "connect_timeout", "read_timeout"};
    for (const auto& kv : Split(*query, '&')) {
      auto eq = kv.find('=');
      std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
      int n = 0;
      char* decoded = curl_easy_unescape(nullptr, v.c_str(), static_cast<int>(v.size()), &n);
      if (decoded != nullptr) {
        v.assign(decoded, static_cast<size_t>(n));
        curl_free(decoded);
      }
      if (k == "user" || k == "password") {
        throw UsageError("--connect: put no " + k +
                         " in the URL's parameters; use --username, "
                         "--password-file or --password-env");
      }
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        throw UsageError("--connect: unknown URL parameter '" + k +
                         "' (known: " + Join(allowed, ", ") + ")");
      }
      c.options[k] = v;
    }
  }
  if (a.Has("username")) c.options["user"] = a.Get("username");
  if (a.Has("password-file")) {
    std::string f = a.Get("password-file");
    c.options["password"] = "${file:" + std::filesystem::absolute(f).string() + "}";
  } else if (a.Has("password-env")) {
    c.options["password"] = "${env:" + a.Get("password-env") + "}";
  }
  if (!c.options.count("user"))
    throw UsageError("--connect: no user (write USER@HOST or --username)");
  return c;
}

// The pipeline that `sluice export` and `sluice import` run: one task (added by the caller),
// with the lake, state and engine of --pipeline FILE (as pipeline <name>_<what>), or the lake
// --lake DIR with its state in DIR/_<what>_state.
pipeline::PipelineSpec OneTaskSpec(const Args& a, const std::string& what) {
  pipeline::PipelineSpec spec;
  if (a.Has("pipeline")) {
    auto base = pipeline::LoadPipelineOrThrow(a.Get("pipeline"), ParseVars(a));
    spec.file = base.file;
    spec.dir = base.dir;
    spec.lake = base.lake;
    spec.state_dir = base.state_dir;
    spec.engine_options = base.engine_options;
    spec.name = base.name + "_" + what;
  } else {
    spec.dir = std::filesystem::current_path().string();
    spec.file = spec.dir + "/(sluice " + what + ")";
    spec.lake = std::filesystem::absolute(a.Get("lake")).string();
    spec.state_dir = spec.lake + "/_" + what + "_state";
    spec.name = what;
  }
  return spec;
}

int CmdExport(Args& a) {
  for (const char* f : {"connect", "table", "from"}) {
    if (!a.Has(f)) throw UsageError(std::string("export needs --") + f);
  }
  if (a.Has("password")) {
    throw UsageError(
        "--password would show in the process list and shell history; use "
        "--password-file FILE (mode 0600) or --password-env NAME");
  }
  if (!a.Has("pipeline") && !a.Has("lake")) {
    throw UsageError("export needs --pipeline FILE (whose lake to read) or --lake DIR");
  }
  std::string dataset = a.Get("from");
  if (!pipeline::IsDatasetName(dataset)) {
    throw UsageError("--from " + dataset + ": not a dataset name (zone.name, e.g. marts.sales)");
  }
  pipeline::PipelineSpec spec = OneTaskSpec(a, "export");
  auto conn = ConnectionFromUrl(a.Get("connect"), a);
  spec.connections[conn.name] = conn;
  pipeline::TaskSpec t;
  t.id = "export_" + ReplaceAll(ReplaceAll(a.Get("table"), ".", "_"), "-", "_");
  t.kind = "db_load";
  t.reads = {dataset};
  t.load.connection = conn.name;
  t.load.datasets = {{dataset, a.Get("table")}};
  t.load.partitions = a.Has("all-partitions") ? "all" : "current";
  t.load.mode = a.Get("mode", "append");  // Sqoop export inserts by default
  if (a.Has("update-key")) {
    for (const auto& k : Split(a.Get("update-key"), ',')) t.load.key.push_back(Trim(k));
    std::string update_mode = a.Get("update-mode", "updateonly");
    if (update_mode == "allowinsert") {
      t.load.mode = "merge";
    } else {
      throw UsageError("--update-mode " + update_mode +
                       ": only allowinsert (upsert) is supported; updateonly would silently drop "
                       "new rows (see docs/load.md)");
    }
  } else if (a.Has("update-mode")) {
    throw UsageError("--update-mode needs --update-key");
  }
  if (t.load.mode != "append" && t.load.mode != "replace" && t.load.mode != "truncate" &&
      t.load.mode != "merge") {
    throw UsageError("--mode " + t.load.mode + ": use append, replace, truncate or merge");
  }
  if (t.load.mode == "merge" && t.load.key.empty())
    throw UsageError("--mode merge needs --update-key");
  t.timeout = std::chrono::hours(24);
  t.retries = static_cast<int>(std::atoi(a.Get("retries", "0").c_str()));
  t.retry_delay = std::chrono::seconds(10);
  spec.tasks.push_back(t);
  // The dataset is read, not produced, here: it must already be in the lake.
  std::string ds = DateFlag(a);
  if (ds.empty()) ds = Date::TodayIn(spec.timezone).ToString();

  auto w = Workspace::FromSpec(spec, true);
  std::string root = w.lake->root();
  if (t.load.partitions == "current" && !w.lake->ReadManifest(dataset, ds)) {
    auto parts = w.lake->ListPartitions(dataset);
    throw NotFound("--from " + dataset + ": no published partition ds=" + ds + " in " + root +
                   (parts.empty()
                        ? " (the dataset has no partitions at all)"
                        : " (latest: " + parts.back() + "; pass --date or --all-partitions)"));
  }
  CancelToken cancel;
  runner::RunOptions opts;
  opts.ds = ds;
  opts.force = true;
  opts.trigger = "export";
  runner::Runner runner(w.spec, w.state.get(), w.lake.get(), w.engine.get(), std::cout,
                        isatty(STDOUT_FILENO));
  auto summary = runner.Run(opts, cancel);
  runner::PrintSummary(summary, std::cout);
  return summary.status == "success" ? 0 : 1;
}

// Sqoop's short options and --options-file, turned into sluice's long options. An options file
// holds one option or value per line; blank lines and lines starting with # are skipped, and a
// first line naming the tool (import) is dropped, as Sqoop does.
std::vector<std::string> ExpandSqoopArgs(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& s = args[i];
    if (s == "--options-file") {
      if (i + 1 >= args.size()) throw UsageError("--options-file needs a file");
      std::string path = args[++i];
      std::ifstream in(path);
      if (!in) throw UsageError("--options-file " + path + ": cannot read it");
      std::string line;
      std::vector<std::string> file_args;
      bool first = true;
      while (std::getline(in, line)) {
        line = Trim(line);
        if (line.empty() || line[0] == '#') continue;
        if (first && (line == "import" || line == "import-all-tables")) {
          first = false;
          continue;
        }
        first = false;
        if (line == "--password" || StartsWith(line, "--password=")) {
          throw UsageError("--options-file " + path +
                           ": --password is refused (it would sit in a file anyone with the "
                           "options file reads); use --password-file FILE (mode 0600)");
        }
        file_args.push_back(line);
      }
      // Its lines are options like any others: -m 4 and -e work there too.
      auto expanded = ExpandSqoopArgs(file_args);
      out.insert(out.end(), expanded.begin(), expanded.end());
      continue;
    }
    if (s == "-m") {
      out.push_back("--num-mappers");
    } else if (s == "-e") {
      out.push_back("--query");
    } else if (s == "-z") {
      out.push_back("--compress");
    } else if (s == "-P") {
      throw UsageError(
          "-P would prompt for the password; use --password-file FILE (mode 0600) "
          "or --password-env NAME");
    } else {
      out.push_back(s);
    }
  }
  return out;
}

// Sqoop import options sluice does not take, and why (docs/import.md has the whole table).
const std::map<std::string, std::string> kRefusedSqoopOptions = {
    {"as-textfile", "the lake stores Parquet only; export CSV with sluice query --format csv"},
    {"as-avrodatafile", "the lake stores Parquet only"},
    {"as-sequencefile", "the lake stores Parquet only"},
    {"direct", "sluice always streams rows from the server; there is no other path"},
    {"null-string", "Parquet keeps NULL as NULL; there is no NULL text to choose"},
    {"null-non-string", "Parquet keeps NULL as NULL; there is no NULL text to choose"},
    {"map-column-java", "types map exactly (docs/import.md); cast in --query to change one"},
    {"map-column-hive", "there is no Hive; cast in --query to change a type"},
    {"hive-import", "there is no Hive; the lake partition is readable by DuckDB and Spark"},
    {"driver", "sluice speaks to MySQL/MariaDB and PostgreSQL through their own client libraries"},
    {"append",
     "every import writes the run date's partition (ds=); --incremental append "
     "imports only new rows"},
};

int CmdImport(Args& a) {
  bool all = a.command->name == "import-all-tables";
  for (const auto& [flag, why] : kRefusedSqoopOptions) {
    if (a.Has(flag)) throw UsageError("--" + flag + " is not supported: " + why);
  }
  if (!a.Has("connect")) throw UsageError(a.command->name + " needs --connect URL");
  if (a.Has("password")) {
    throw UsageError(
        "--password would show in the process list and shell history; use "
        "--password-file FILE (mode 0600) or --password-env NAME");
  }
  if (!all && a.Has("table") == a.Has("query")) {
    throw UsageError("import needs --table TABLE or --query SQL (one of them)");
  }
  if (!a.Has("pipeline") && !a.Has("lake")) {
    throw UsageError(a.command->name +
                     " needs --lake DIR (or --pipeline FILE, whose lake it uses)");
  }
  pipeline::PipelineSpec spec = OneTaskSpec(a, "import");
  auto conn = ConnectionFromUrl(a.Get("connect"), a);
  conn.name = "source";
  spec.connections[conn.name] = conn;

  pipeline::TaskSpec t;
  t.kind = "db_import";
  auto& im = t.import;
  im.connection = conn.name;
  im.zone = a.Get("zone", a.Get("warehouse-dir", "raw"));
  if (!pipeline::IsDatasetName(im.zone + ".x")) {
    throw UsageError("--zone " + im.zone + ": must be a lowercase name like raw");
  }
  std::string mappers = a.Get("num-mappers", "1");
  im.parallel = std::atoi(mappers.c_str());
  if (im.parallel < 1 || im.parallel > 64) {
    throw UsageError("--num-mappers " + mappers + ": must be 1 to 64");
  }
  im.snapshot = a.Get("snapshot", "auto");
  if (im.snapshot != "auto" && im.snapshot != "true" && im.snapshot != "false") {
    throw UsageError("--snapshot " + im.snapshot + ": use true, false or auto");
  }
  std::string zero = a.Get("zero-dates", "error");
  if (zero != "error" && zero != "null") {
    throw UsageError("--zero-dates " + zero + ": use error or null");
  }
  im.zero_dates_null = zero == "null";
  if (all) {
    im.all_tables = true;
    for (const auto& x : Split(a.Get("exclude-tables"), ',')) {
      if (!Trim(x).empty()) im.exclude.push_back(Trim(x));
    }
    for (const char* f : {"table", "query", "where", "columns", "split-by", "boundary-query",
                          "incremental", "target", "target-dir"}) {
      if (a.Has(f)) {
        throw UsageError(std::string("--") + f +
                         " is for import (one table); import-all-tables reads whole tables");
      }
    }
    t.id = "import_all_tables";
  } else {
    pipeline::ImportTableSpec one;
    one.table = a.Get("table");
    one.query = a.Get("query");
    std::string target = a.Get("target", a.Get("target-dir"));
    if (!target.empty()) {
      if (!pipeline::IsDatasetName(target)) {
        throw UsageError("--target " + target +
                         ": write the dataset as zone.name, lowercase (e.g. raw.orders)");
      }
      one.into = target;
    } else if (!one.table.empty()) {
      one.into = pipeline::ImportDatasetName(im.zone, one.table);
    } else {
      throw UsageError("--query needs --target zone.name (the dataset it writes)");
    }
    if (!one.query.empty() && im.parallel > 1 && !a.Has("split-by")) {
      throw UsageError("--query with --num-mappers " + mappers +
                       " needs --split-by COLUMN (an integer or date column of its result)");
    }
    one.where = a.Get("where");
    for (const auto& c : Split(a.Get("columns"), ',')) {
      if (!Trim(c).empty()) one.columns.push_back(Trim(c));
    }
    one.split_by = a.Get("split-by");
    one.boundary_query = a.Get("boundary-query");
    one.incremental = a.Get("incremental");
    one.check_column = a.Get("check-column");
    one.last_value = a.Get("last-value");
    one.lookback = a.Get("lookback");
    for (const auto& k : Split(a.Get("merge-key"), ',')) {
      if (!Trim(k).empty()) one.key.push_back(Trim(k));
    }
    if (!one.incremental.empty() && one.incremental != "append" &&
        one.incremental != "lastmodified") {
      throw UsageError("--incremental " + one.incremental + ": use append or lastmodified");
    }
    if (!one.incremental.empty() && one.check_column.empty()) {
      throw UsageError("--incremental needs --check-column COLUMN");
    }
    if (!one.lookback.empty() &&
        one.lookback.find_first_not_of("0123456789") != std::string::npos &&
        !ParseDuration(one.lookback)) {
      throw UsageError("--lookback " + one.lookback +
                       ": a number (numeric --check-column) or a duration like 2h");
    }
    if (one.incremental.empty()) {
      for (const char* f : {"check-column", "last-value", "lookback", "merge-key"}) {
        if (a.Has(f)) throw UsageError(std::string("--") + f + " needs --incremental");
      }
    }
    t.id = "import_" + ReplaceAll(one.into, ".", "_");
    im.tables.push_back(one);
    t.produces.push_back(one.into);
  }
  t.timeout = std::chrono::hours(24);
  t.retries = std::atoi(a.Get("retries", "0").c_str());
  t.retry_delay = std::chrono::seconds(10);
  spec.tasks.push_back(t);

  std::string ds = DateFlag(a);
  if (ds.empty()) ds = Date::TodayIn(spec.timezone).ToString();
  auto w = Workspace::FromSpec(spec, true);
  CancelToken cancel;
  runner::RunOptions opts;
  opts.ds = ds;
  opts.force = true;
  opts.trigger = a.command->name;
  runner::Runner runner(w.spec, w.state.get(), w.lake.get(), w.engine.get(), std::cout,
                        isatty(STDOUT_FILENO));
  auto summary = runner.Run(opts, cancel);
  runner::PrintSummary(summary, std::cout);
  if (summary.status == "success" && !all && !im.tables[0].incremental.empty()) {
    auto m = w.lake->ReadManifest(im.tables[0].into, ds);
    if (m && !m->watermark.empty()) {
      auto j = nlohmann::json::parse(m->watermark);
      if (j.contains("high") && j["high"].is_string()) {
        std::cout << "next run: --last-value " << j["high"].get<std::string>()
                  << " (kept in the partition's manifest; a later run continues from it)\n";
      }
    }
  }
  return summary.status == "success" ? 0 : 1;
}

const std::vector<Flag> kPipelineFlags = {
    {"var", true, "set var('NAME') for templates: --var NAME=VALUE (repeatable)"}};

std::vector<Flag> With(std::vector<Flag> flags) {
  flags.insert(flags.end(), kPipelineFlags.begin(), kPipelineFlags.end());
  return flags;
}

std::vector<Flag> ImportFlags(bool all) {
  std::vector<Flag> f = {
      {"connect", true, "mysql://USER@HOST:PORT/DB or postgresql://USER@HOST:PORT/DB"},
      {"username", true, "the user, when not in --connect"},
      {"password-file", true, "a file holding the password, readable by its owner only"},
      {"password-env", true, "an environment variable holding the password"},
      {"lake", true, "the lake folder to import into"},
      {"pipeline", true, "a pipeline file whose lake to import into"},
      {"date", true, "the partition to write, ds=YYYY-MM-DD (default today, UTC)"},
      {"zone", true, "the datasets' zone (default raw): tables land in <zone>.<table>"},
      {"warehouse-dir", true, "Sqoop's name for --zone"},
      {"num-mappers", true, "connections reading each table at once (-m; default 1)"},
      {"snapshot", true, "true: all connections read one snapshot; false; auto (default)"},
      {"zero-dates", true, "MySQL '0000-00-00' dates: error (default) or null"},
      {"retries", true, "retries on connection errors (default 0)"},
      {"as-parquetfile", false, "accepted: the lake stores Parquet"},
      {"compress", false, "accepted: Parquet files are always compressed (snappy)"},
      {"compression-codec", true, "accepted and ignored: snappy is used"},
      {"delete-target-dir", false, "accepted: the run date's partition is always replaced"},
      {"fetch-size", true, "accepted and ignored: rows are streamed, not fetched in batches"},
      {"autoreset-to-one-mapper", false, "accepted: a table without a key is read by one"},
      {"verbose", false, "accepted; the task log has the details"},
      {"validate", false, "accepted: the published row count is always the count read"},
      {"password", true, "refused: use --password-file or --password-env"},
  };
  if (all) {
    f.push_back({"exclude-tables", true, "tables to skip, comma-separated"});
  } else {
    for (Flag x : std::vector<Flag>{
             {"table", true, "the table to import (schema.table for PostgreSQL)"},
             {"query", true, "a SELECT to import instead (-e); put $CONDITIONS where ranges go"},
             {"target", true, "the dataset to write, zone.name (default <zone>.<table>)"},
             {"target-dir", true, "Sqoop's name for --target (a dataset name here)"},
             {"columns", true, "columns to import, comma-separated"},
             {"where", true, "a condition in the source's SQL"},
             {"split-by", true, "the integer or date column to cut ranges on (default: the key)"},
             {"boundary-query", true, "a query returning the min and max of --split-by"},
             {"incremental", true,
              "append (rows past --last-value) or lastmodified (changed "
              "rows, merged by key)"},
             {"check-column", true, "the column --incremental compares"},
             {"last-value", true, "where the first incremental import starts"},
             {"merge-key", true, "lastmodified: the key rows are merged on (default: primary key)"},
             {"lookback", true, "re-read this much before the last value: a number or a duration"},
         }) {
      f.push_back(x);
    }
  }
  for (const auto& [name, why] : kRefusedSqoopOptions) {
    f.push_back({name,
                 name == "driver" || name == "null-string" || name == "null-non-string" ||
                     name == "map-column-java" || name == "map-column-hive",
                 "refused: " + why});
  }
  return f;
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"run", "run a pipeline for one logical date (resumes: finished tasks are not redone)",
       "sluice run PIPELINE.yaml [--date YYYY-MM-DD] [--force] [--task T]... [--downstream]",
       With({{"date", true, "the logical date ds (default: today in the pipeline's timezone)"},
             {"force", false, "redo tasks that already succeeded for this date"},
             {"task", true, "run only this task (repeatable); it is always redone"},
             {"downstream", false, "with --task: also run every task that depends on it"}}),
       "  sluice run examples/citizens/pipeline.yaml --date 2026-11-21\n"
       "  sluice run pipeline.yaml --date 2026-11-21 --task clean_citizens --downstream\n",
       1, 1, CmdRun},
      {"validate", "check a pipeline file and report every mistake with file:line:column",
       "sluice validate PIPELINE.yaml", With({}),
       "  sluice validate examples/citizens/pipeline.yaml\n", 1, 1, CmdValidate},
      {"runs", "list the runs of a pipeline, newest first",
       "sluice runs PIPELINE.yaml [--date YYYY-MM-DD] [--limit N]",
       With({{"date", true, "only runs for this logical date"},
             {"limit", true, "how many runs to show (default 20)"}}),
       "  sluice runs examples/citizens/pipeline.yaml --limit 5\n", 1, 1, CmdRuns},
      {"status", "show each task's latest state for a date",
       "sluice status PIPELINE.yaml [--date YYYY-MM-DD]",
       With({{"date", true, "the logical date (default: that of the newest run)"}}),
       "  sluice status examples/citizens/pipeline.yaml --date 2026-11-21\n", 1, 1, CmdStatus},
      {"logs", "print the log files of a date's task attempts",
       "sluice logs PIPELINE.yaml [--date YYYY-MM-DD] [--task T] [--attempt N]",
       With({{"date", true, "the logical date (default: that of the newest run)"},
             {"task", true, "only this task"},
             {"attempt", true,
              "only this attempt number (default: every attempt of the newest run)"}}),
       "  sluice logs examples/citizens/pipeline.yaml --date 2026-11-21 --task ingest_citizens\n",
       1, 1, CmdLogs},
      {"query", "run SQL over a pipeline's lake and warehouse",
       "sluice query --pipeline PIPELINE.yaml [--date YYYY-MM-DD] [--format table|csv|json] "
       "\"SQL\"",
       With({{"pipeline", true, "the pipeline whose lake and warehouse to query"},
             {"date", true,
              "datasets show only this date's partition (default: all, with a ds column)"},
             {"format", true, "table (default), csv or json"}}),
       "  sluice query --pipeline examples/citizens/pipeline.yaml \\\n"
       "      \"SELECT region, count(*) FROM {{ ref('staging.citizens') }} GROUP BY ALL\"\n"
       "  sluice query --pipeline p.yaml --format csv \"SELECT * FROM marts.citizens_by_region\"\n"
       "  sluice query --pipeline p.yaml \"SELECT * FROM warehouse.marts.citizens_by_region\"\n",
       1, 1, CmdQuery},
      {"export", "load a lake dataset into a PostgreSQL or MySQL table (like sqoop export)",
       "sluice export --connect URL --table T --from zone.name (--pipeline FILE | --lake DIR) "
       "[--date D | --all-partitions] [--update-key K --update-mode allowinsert] [--mode M]",
       With({{"connect", true, "postgresql://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB"},
             {"username", true, "the user, when not in --connect"},
             {"password-file", true, "a file holding the password, readable by its owner only"},
             {"password-env", true, "an environment variable holding the password"},
             {"password", true, "refused: a password on the command line leaks (see above)"},
             {"table", true, "the target table, schema.table (created when missing)"},
             {"from", true, "the lake dataset to export, zone.name"},
             {"pipeline", true, "read the lake (and keep history in the state) of this pipeline"},
             {"lake", true, "or read this lake folder directly"},
             {"date", true, "the partition ds to export (default: today)"},
             {"all-partitions", false, "export every partition, with a ds column"},
             {"update-key", true, "key column(s), comma-separated: update matching rows"},
             {"update-mode", true, "allowinsert: upsert (update matching rows, insert the rest)"},
             {"mode", true, "append (default), replace, truncate or merge"},
             {"retries", true, "retries on connection errors (default 0)"}}),
       "  sluice export --connect postgresql://etl@127.0.0.1:5432/dwh --password-file ~/.dwh.pass "
       "\\\n"
       "      --table public.citizens --from staging.citizens --pipeline pipeline.yaml \\\n"
       "      --date 2026-11-21 --update-key citizen_id --update-mode allowinsert\n",
       0, 0, CmdExport},
      {"import",
       "import a MySQL/MariaDB or PostgreSQL table or query into the lake (Sqoop's import)",
       "sluice import --connect URL (--table T | --query SQL --target zone.name) (--lake DIR | "
       "--pipeline FILE) [-m N] [options]",
       With(ImportFlags(false)),
       "  sluice import --connect mysql://etl@127.0.0.1:3306/shop --password-file ~/.shop.pass \\\n"
       "      --table orders --split-by order_id -m 4 --target raw.orders --lake lake\n"
       "  sluice import --connect postgresql://etl@db:5432/shop --password-env SHOP_PW --lake lake "
       "\\\n"
       "      --table orders --incremental lastmodified --check-column updated_at --lookback 1h\n"
       "  sluice import --options-file shop.opts --query 'SELECT o.*, c.region_id FROM orders o "
       "\\\n"
       "      JOIN customers c USING (customer_id) WHERE $CONDITIONS' --split-by o.order_id -m 4 "
       "\\\n"
       "      --target raw.orders_enriched\n",
       0, 0, CmdImport},
      {"import-all-tables",
       "import every table of a MySQL/MariaDB or PostgreSQL database into the lake",
       "sluice import-all-tables --connect URL (--lake DIR | --pipeline FILE) [--exclude-tables "
       "A,B] [-m N] [options]",
       With(ImportFlags(true)),
       "  sluice import-all-tables --connect mysql://etl@127.0.0.1:3306/shop --password-env PW \\\n"
       "      --lake lake --exclude-tables audit_log -m 2 --date 2026-11-21\n",
       0, 0, CmdImport},
      {"gen",
       "generate sample data: a citizens CSV, or a shop database in a server",
       "sluice gen citizens [--rows N] [--out FILE] [--duplicates RATE] [--malformed RATE] [--seed "
       "S]\n"
       "       sluice gen shop --connect URL [--rows ORDERS] [--tables T,..] [--replace] [--seed "
       "S]",
       {{"rows", true,
         "citizens: data rows (default 10000; 37000000 is about 6.5 GB); shop: orders (default "
         "100000)"},
        {"out", true, "citizens: output file, - for stdout (default citizens_data.csv)"},
        {"duplicates", true, "citizens: fraction of rows repeating an earlier one (default 0.02)"},
        {"malformed", true, "citizens: fraction of rows a strict reader rejects (default 0.001)"},
        {"seed", true, "random seed; the same seed writes the same data (default 42)"},
        {"connect", true, "shop: mysql://USER@HOST:PORT/DB or postgresql://USER@HOST:PORT/DB"},
        {"username", true, "shop: the user, when not in --connect"},
        {"password-file", true, "shop: a file holding the password, readable by its owner only"},
        {"password-env", true, "shop: an environment variable holding the password"},
        {"tables", true, "shop: only these tables (regions,customers,products,orders,order_items)"},
        {"replace", false, "shop: drop and recreate tables that exist (else it refuses)"}},
       "  sluice gen citizens --rows 1000000 --out incoming/citizens_data_20261121.csv\n"
       "  SHOP_PASSWORD=... sluice gen shop --connect mysql://etl@127.0.0.1:3306/shop \\\n"
       "      --password-env SHOP_PASSWORD --rows 1000000\n",
       1,
       1,
       CmdGen},
  };
  return commands;
}

void PrintUsage(std::ostream& out) {
  out << "sluice " << kVersion
      << ": batch data pipelines, CSV and databases -> lake -> SQL -> warehouse\n\n"
      << "usage: sluice COMMAND [options]   (sluice COMMAND --help for details)\n\ncommands:\n";
  for (const auto& c : Commands()) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-10s %s\n", c.name.c_str(), c.summary.c_str());
    out << line;
  }
  out << "\nexit codes: 0 success, 1 a task failed, 2 bad usage or invalid pipeline file, "
         "130 interrupted\n";
}

void PrintCommandHelp(const Command& c, std::ostream& out) {
  out << "usage: " << c.usage << "\n\n" << c.summary << "\n\noptions:\n";
  for (const auto& f : c.flags) {
    char line[300];
    std::string name = "--" + f.name + (f.takes_value ? " VALUE" : "");
    std::snprintf(line, sizeof line, "  %-18s %s\n", name.c_str(), f.help.c_str());
    out << line;
  }
  out << "\nexamples:\n" << c.examples;
}

Args Parse(const Command& c, const std::vector<std::string>& args) {
  Args a;
  a.command = &c;
  for (size_t i = 1; i < args.size(); i++) {
    const std::string& s = args[i];
    if (s == "--") {
      for (size_t j = i + 1; j < args.size(); j++) a.positional.push_back(args[j]);
      break;
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

int Main(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    if (args.size() >= 2) {
      for (const auto& c : Commands()) {
        if (c.name == args[1]) {
          PrintCommandHelp(c, std::cout);
          return 0;
        }
      }
    }
    PrintUsage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << "sluice " << kVersion << "\n";
    return 0;
  }
  const Command* command = nullptr;
  for (const auto& c : Commands()) {
    if (c.name == args[0]) command = &c;
  }
  if (command == nullptr) {
    std::vector<std::string> names;
    for (const auto& c : Commands()) names.push_back(c.name);
    std::string near = ClosestMatch(args[0], names);
    std::cerr << "sluice: unknown command '" << args[0] << "'"
              << (near.empty() ? "" : " (did you mean '" + near + "'?)") << "\n";
    PrintUsage(std::cerr);
    return 2;
  }
  for (const auto& s : args) {
    if (s == "--help" || s == "-h") {
      PrintCommandHelp(*command, std::cout);
      return 0;
    }
  }
  try {
    Args a = Parse(*command, command->name == "import" || command->name == "import-all-tables"
                                 ? ExpandSqoopArgs(args)
                                 : args);
    return command->run(a);
  } catch (const UsageError& e) {
    std::cerr << "sluice " << command->name << ": " << e.what() << "\nusage: " << command->usage
              << "\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "sluice " << command->name << ": " << e.what() << "\n";
    return e.kind() == ErrorKind::kInvalidInput || e.kind() == ErrorKind::kNotFound ? 2 : 1;
  } catch (const std::exception& e) {
    std::cerr << "sluice " << command->name << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace sluice::cli
