#include "scheduler/actions.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/strings.h"

namespace sluice::scheduler {

Schedule ScheduleOf(const pipeline::PipelineSpec& spec) {
  std::string error;
  auto s = Schedule::Parse(spec.schedule, spec.timezone, spec.start_date, &error);
  if (!s) throw InvalidInput(spec.file + ": " + error);
  return *s;
}

RunInfo ResolveRun(const pipeline::PipelineSpec& spec, const Schedule& schedule,
                   const std::string& key) {
  std::optional<Interval> interval;
  if (key == "latest") {
    if (!schedule.Scheduled()) {
      throw InvalidInput("--latest needs a schedule: in " + spec.file + " set schedule:");
    }
    interval = schedule.LatestEndedBy(Now());
    if (!interval) {
      throw InvalidInput("no interval of schedule '" + spec.schedule + "' has ended yet");
    }
  } else if (key.size() > 10 &&
             (key.back() == 'Z' || key[key.size() - 6] == '+' || key[key.size() - 6] == '-')) {
    // The start of an interval as an instant (what a generated Airflow DAG passes).
    auto start = schedule.ParseTime(key);
    if (start) {
      if (auto fire = schedule.NextFire(*start)) interval = schedule.IntervalEndingAt(*fire);
    }
    if (!interval || interval->start != *start) {
      throw InvalidInput("date " + key + ": no interval of schedule '" + spec.schedule +
                         "' starts at that instant (sluice next lists them)");
    }
  } else if (key.size() > 10) {
    // A run key of a schedule that fires several times a day: 2026-11-21T06:00.
    interval = schedule.IntervalForKey(key);
    if (!interval) {
      throw InvalidInput("date " + key + ": not a run of schedule '" + spec.schedule + "' in " +
                         spec.timezone +
                         " (sluice next lists them; a date alone runs the day's first)");
    }
  } else {
    auto ds = Date::Parse(key);
    if (!ds) throw InvalidInput("date " + key + ": not a date (write YYYY-MM-DD)");
    if (!ds->IsLogicalDate()) {
      throw InvalidInput("date " + key +
                         ": out of range; a run's date is from 0001-01-02 to 9999-12-30, so "
                         "that prev_ds and next_ds are dates too");
    }
    interval = schedule.IntervalOn(*ds);
    if (!interval) {
      // A date the schedule does not run on (a weekly pipeline, another weekday): the day.
      RunInfo run = schedule.Describe(schedule.Day(*ds));
      run.run_key = ds->ToString();
      return run;
    }
  }
  RunInfo run = schedule.Describe(*interval);
  if (!run.ds.IsLogicalDate()) {
    throw InvalidInput("the run's date " + run.ds.ToString() + " is out of range");
  }
  return run;
}

std::vector<RunInfo> RunsBetween(const Schedule& schedule, Date from, Date to) {
  std::vector<RunInfo> out;
  if (!schedule.Scheduled()) {
    for (Date d = from; !(to < d); d = d.AddDays(1)) {
      RunInfo r = schedule.Describe(schedule.Day(d));
      r.run_key = d.ToString();
      out.push_back(r);
    }
    return out;
  }
  if (schedule.Once()) {
    RunInfo r = schedule.Describe({schedule.anchor(), schedule.anchor()});
    if (!(r.ds < from) && !(to < r.ds)) out.push_back(r);
    return out;
  }
  auto i = schedule.FirstIntervalFrom(schedule.StartOfDay(from));
  for (; i && !(to < schedule.LogicalDate(*i)) && out.size() < 1000000;
       i = schedule.NextInterval(*i)) {
    out.push_back(schedule.Describe(*i));
  }
  return out;
}

BackfillPlan PlanBackfill(const pipeline::PipelineSpec& spec, const Schedule& schedule,
                          state::StateStore& state, Date from, Date to, const std::string& rerun) {
  BackfillPlan plan;
  state.CloseDeadRuns();
  auto keys = state.RunKeys(spec.name);
  for (const auto& r : RunsBetween(schedule, from, to)) {
    auto k = keys.find(r.run_key);
    std::string why;
    if (k != keys.end()) {
      const auto& st = k->second;
      if (st.live) {
        why = "running now (run " + std::to_string(st.run_id) + ")";
      } else if (st.status == "success" && rerun != "all") {
        why = "succeeded in run " + std::to_string(st.run_id) + " (--rerun all redoes it)";
      } else if (st.status == "failed" && !st.last_interrupted && rerun == "none") {
        why = "failed in run " + std::to_string(st.run_id) + " (--rerun failed runs it again)";
      }
    }
    if (why.empty()) {
      plan.todo.push_back(r);
    } else {
      plan.skipped.emplace_back(r.run_key, why);
    }
  }
  return plan;
}

ClearPlan PlanClear(const pipeline::PipelineSpec& spec, const std::vector<std::string>& tasks,
                    bool downstream, Date from, Date to) {
  auto order = spec.TopologicalOrder();
  for (const auto& t : tasks) {
    if (!spec.FindTask(t)) {
      std::string near = ClosestMatch(t, order);
      throw InvalidInput("task " + t + ": no such task in " + spec.file +
                         (near.empty() ? "" : " (did you mean '" + near + "'?)"));
    }
  }
  std::set<std::string> chosen(tasks.begin(), tasks.end());
  if (tasks.empty()) {
    chosen.insert(order.begin(), order.end());
  } else if (downstream) {
    for (const auto& id : order) {  // dependency order: upstream first
      for (const auto& u : spec.FindTask(id)->upstream) {
        if (chosen.count(u)) chosen.insert(id);
      }
    }
  }
  ClearPlan plan;
  for (const auto& id : order) {
    if (chosen.count(id)) plan.tasks.push_back(id);
  }
  plan.from = from;
  plan.to = to;
  return plan;
}

int Clear(const pipeline::PipelineSpec& spec, state::StateStore& state, const ClearPlan& plan) {
  state.CloseDeadRuns();
  for (const auto& [key, st] : state.RunKeys(spec.name)) {
    auto d = Date::Parse(st.ds);
    if (st.live && d && !(*d < plan.from) && !(plan.to < *d)) {
      throw InvalidInput("pipeline " + spec.name + " is running for " + st.ds + " (run " +
                         std::to_string(st.run_id) +
                         "); clear it when the run has ended (or stop it first)");
    }
  }
  int total = 0;
  for (Date d = plan.from; !(plan.to < d); d = d.AddDays(1)) {
    total += state.ClearTasks(spec.name, d.ToString(), plan.tasks);
  }
  return total;
}

std::vector<std::string> PipelineFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(p, ec)) {
        std::string ext = e.path().extension().string();
        if ((ext == ".yaml" || ext == ".yml") && e.is_regular_file(ec)) {
          files.push_back(std::filesystem::absolute(e.path()).lexically_normal().string());
        }
      }
    } else {
      files.push_back(std::filesystem::absolute(p).lexically_normal().string());
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

}  // namespace sluice::scheduler
