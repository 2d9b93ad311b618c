// sluice export: a lake dataset into a PostgreSQL or MySQL table, like sqoop export.

#include <iostream>

#include "cli/cli.h"
#include "cli/connect.h"
#include "common/error.h"
#include "common/strings.h"
#include "runner/runner.h"

namespace sluice::cli {
namespace {

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
  runner::RunOptions opts;
  opts.ds = ds;
  opts.force = true;
  opts.trigger = "export";
  auto summary = RunInterruptible(w, opts);
  return summary.status == "success" ? 0 : 1;
}

// Sqoop's short options and --options-file, turned into sluice's long options. An options file
// holds one option or value per line; blank lines and lines starting with # are skipped, and a

}  // namespace

Command ExportCommand() {
  return {
      "export",
      "load a lake dataset into a PostgreSQL or MySQL table (like sqoop export)",
      "sluice export --connect URL --table T --from zone.name (--pipeline FILE | --lake DIR) "
      "[--date D | --all-partitions] [--update-key K --update-mode allowinsert] [--mode M]",
      WithPipelineFlags(
          {{"connect", true, "postgresql://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB"},
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
      0,
      0,
      CmdExport};
}

}  // namespace sluice::cli
