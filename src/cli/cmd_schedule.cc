// sluice next, sluice crontab, sluice airflow: what a schedule means, and the same schedule
// for cron or Airflow.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "common/error.h"
#include "common/strings.h"
#include "scheduler/actions.h"
#include "scheduler/due.h"
#include "scheduler/exporters.h"
#include "scheduler/schedule.h"

namespace sluice::cli {
namespace {

using scheduler::Instant;
using scheduler::Interval;
using scheduler::Schedule;

std::string SelfBinary(const Args& a) {
  if (a.Has("sluice")) return std::filesystem::absolute(a.Get("sluice")).string();
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("sluice") : self.string();
}

// "in 20h 55m", "2h 5m ago"
std::string Relative(Instant t, Instant now) {
  auto d = std::chrono::duration_cast<std::chrono::minutes>(t > now ? t - now : now - t);
  int64_t days = d.count() / 1440, hours = d.count() / 60 % 24, minutes = d.count() % 60;
  std::string s;
  if (days) s += std::to_string(days) + "d ";
  if (days || hours) s += std::to_string(hours) + "h ";
  s += std::to_string(minutes) + "m";
  return t > now ? "in " + s : s + " ago";
}

int CmdNext(Args& a) {
  pipeline::PipelineSpec spec;
  if (a.positional.empty() == !a.Has("schedule")) {
    throw UsageError("pass a pipeline file or --schedule EXPR (one of them)");
  }
  if (a.Has("schedule")) {
    spec.name = "(--schedule)";
    spec.schedule = a.Get("schedule");
    spec.timezone = a.Get("timezone", "UTC");
    if (a.Has("start-date")) {
      spec.start_date = Date::Parse(a.Get("start-date"));
      if (!spec.start_date)
        throw UsageError("--start-date " + a.Get("start-date") + ": not a date");
    }
  } else {
    for (const char* f : {"timezone", "start-date"}) {
      if (a.Has(f)) throw UsageError(std::string("--") + f + " goes with --schedule");
    }
    spec = pipeline::LoadPipelineOrThrow(a.positional[0], ParseVars(a));
  }
  std::string error;
  auto schedule = Schedule::Parse(spec.schedule, spec.timezone, spec.start_date, &error);
  if (!schedule) throw UsageError(error);
  int n = static_cast<int>(a.GetInt("n", 5, 1, 100000));
  std::string format = a.Get("format", "text");
  if (format != "text" && format != "json")
    throw UsageError("--format " + format + ": text or json");
  Instant now = scheduler::Now();
  Instant from = now;
  if (a.Has("from")) {
    auto t = schedule->ParseTime(a.Get("from"));
    if (!t) {
      throw UsageError("--from " + a.Get("from") +
                       ": write a date (2026-11-21), a local time (2026-11-21T06:00) or a time "
                       "with its offset (2026-11-21T05:00:00Z)");
    }
    from = *t;
  }

  // The runs whose interval ends after --from, within start_date and end_date.
  std::vector<Interval> runs;
  if (schedule->Scheduled()) {
    scheduler::DueInputs in;
    in.schedule = &*schedule;
    in.start_date = spec.start_date;
    in.end_date = spec.end_date;
    in.first_seen = Instant{};  // no start_date: no lower bound
    scheduler::DuePlanner planner(in);
    std::optional<Interval> i;
    if (schedule->Once()) {
      i = Interval{schedule->anchor(), schedule->anchor()};
      if (!(i->end > from)) i.reset();
    } else if (auto fire = schedule->NextFire(from)) {
      i = schedule->IntervalEndingAt(*fire);
      if (spec.start_date) {
        auto first = planner.First();
        if (first && i->start < first->start) i = first;
      }
    }
    while (i && static_cast<int>(runs.size()) < n && planner.InRange(*i)) {
      runs.push_back(*i);
      i = schedule->NextInterval(*i);
    }
  }

  if (format == "json") {
    nlohmann::json j;
    j["pipeline"] = spec.name;
    j["schedule"] = schedule->text();
    j["timezone"] = schedule->timezone();
    j["from"] = schedule->Format(from);
    j["runs"] = nlohmann::json::array();
    auto utc = Schedule::Parse("", "UTC", {}, &error);
    for (const auto& i : runs) {
      auto r = schedule->Describe(i);
      j["runs"].push_back({{"run_key", r.run_key},
                           {"ds", r.ds.ToString()},
                           {"interval_start", r.start_iso},
                           {"interval_end", r.end_iso},
                           {"starts_at", r.end_iso},
                           {"starts_at_utc", utc->Format(i.end).substr(0, 19) + "Z"}});
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "pipeline " << spec.name << ": ";
  if (!schedule->Scheduled()) {
    std::cout << "no schedule; it runs only when asked (sluice run)\n";
    return 0;
  }
  std::cout << "schedule '" << schedule->text() << "' in " << schedule->timezone() << "\n";
  if (runs.empty()) {
    std::cout << "  no run after " << schedule->Format(from)
              << (spec.end_date ? " (end_date " + spec.end_date->ToString() + ")" : "") << "\n";
    return 0;
  }
  char line[400];
  std::snprintf(line, sizeof line, "  %-18s %-55s %s\n", "run key (ds)", "data interval",
                "starts at");
  std::cout << line;
  for (const auto& i : runs) {
    auto r = schedule->Describe(i);
    std::string interval = r.start_iso + " .. " + r.end_iso;
    std::snprintf(line, sizeof line, "  %-18s %-55s %s (%s)\n", r.run_key.c_str(), interval.c_str(),
                  r.end_iso.c_str(), Relative(i.end, now).c_str());
    std::cout << line;
  }
  return 0;
}

int CmdCrontab(Args& a) {
  scheduler::ExportOptions o;
  o.sluice = SelfBinary(a);
  std::cout << "# crontab lines written by sluice " << kVersion
            << " (install with: sluice crontab FILE... | crontab -)\n";
  for (const auto& file : a.positional) {
    auto spec = pipeline::LoadPipelineOrThrow(file, ParseVars(a));
    std::cout << "\n" << scheduler::CrontabFor(spec, scheduler::ScheduleOf(spec), o);
  }
  return 0;
}

int CmdAirflow(Args& a) {
  auto spec = pipeline::LoadPipelineOrThrow(a.positional[0], ParseVars(a));
  scheduler::ExportOptions o;
  o.sluice = SelfBinary(a);
  std::string dag = scheduler::AirflowDagFor(spec, scheduler::ScheduleOf(spec), o);
  if (!a.Has("out") || a.Get("out") == "-") {
    std::cout << dag;
    return 0;
  }
  std::string out = a.Get("out");
  if (std::filesystem::is_directory(out)) {
    out = (std::filesystem::path(out) / (spec.name + ".py")).lexically_normal().string();
  }
  std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << dag;
    f.close();
    if (!f) throw IoError("cannot write " + tmp, false);
  }
  std::filesystem::rename(tmp, out);  // Airflow never parses half a file
  std::cerr << "wrote " << out << ": DAG " << spec.name << " with " << spec.tasks.size()
            << " tasks\n";
  return 0;
}

}  // namespace

Command NextCommand() {
  return {"next",
          "print the next runs of a schedule: run keys, data intervals and start times",
          "sluice next (PIPELINE.yaml | --schedule EXPR [--timezone TZ]) [-n N] [--from TIME] "
          "[--format text|json]",
          WithPipelineFlags(
              {{"n", true, "how many runs (default 5)", 'n'},
               {"from", true,
                "list runs starting after this time (default now): 2026-11-21, 2026-11-21T06:00 "
                "(in the zone) or 2026-11-21T05:00:00Z"},
               {"format", true, "text (default) or json"},
               {"schedule", true, "a schedule to explain, instead of a pipeline file"},
               {"timezone", true, "with --schedule: the IANA time zone (default UTC)"},
               {"start-date", true, "with --schedule: the first logical date"}}),
          "  sluice next examples/citizens/pipeline.yaml\n"
          "  sluice next --schedule '30 2 * * *' --timezone Europe/Berlin --from 2026-10-24 -n 3\n"
          "  sluice next pipeline.yaml -n 100 --format json\n",
          0,
          1,
          CmdNext};
}

Command CrontabCommand() {
  return {"crontab",
          "print crontab lines that run pipelines on their schedules (for teams that keep cron)",
          "sluice crontab PIPELINE.yaml... [--sluice PATH]",
          WithPipelineFlags({{"sluice", true, "the sluice binary cron calls (default: this one)"}}),
          "  sluice crontab pipelines/*.yaml | crontab -\n",
          1,
          1000,
          CmdCrontab};
}

Command AirflowCommand() {
  return {
      "airflow",
      "write an Airflow 3 DAG file whose tasks call sluice run (for teams that keep Airflow)",
      "sluice airflow PIPELINE.yaml [--out FILE_OR_DAGS_FOLDER] [--sluice PATH]",
      WithPipelineFlags({{"out", true, "the DAG file, or a folder (default: stdout)"},
                         {"sluice", true, "the sluice binary the tasks call (default: this one)"}}),
      "  sluice airflow examples/citizens/pipeline.yaml --out $AIRFLOW_HOME/dags/\n",
      1,
      1,
      CmdAirflow};
}

}  // namespace sluice::cli
