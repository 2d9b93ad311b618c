// sluice import and sluice import-all-tables: Sqoop's import, with its option names.

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/connect.h"
#include "common/error.h"
#include "common/strings.h"
#include "runner/runner.h"

namespace sluice::cli {
namespace {

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
  runner::RunOptions opts;
  opts.ds = ds;
  opts.force = true;
  opts.trigger = a.command->name;
  auto summary = RunInterruptible(w, opts);
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

}  // namespace

Command ImportCommand() {
  return {
      "import",
      "import a MySQL/MariaDB or PostgreSQL table or query into the lake (Sqoop's import)",
      "sluice import --connect URL (--table T | --query SQL --target zone.name) (--lake DIR | "
      "--pipeline FILE) [-m N] [options]",
      WithPipelineFlags(ImportFlags(false)),
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
      0,
      0,
      CmdImport,
      ExpandSqoopArgs};
}

Command ImportAllTablesCommand() {
  return {
      "import-all-tables",
      "import every table of a MySQL/MariaDB or PostgreSQL database into the lake",
      "sluice import-all-tables --connect URL (--lake DIR | --pipeline FILE) [--exclude-tables "
      "A,B] [-m N] [options]",
      WithPipelineFlags(ImportFlags(true)),
      "  sluice import-all-tables --connect mysql://etl@127.0.0.1:3306/shop --password-env PW \\\n"
      "      --lake lake --exclude-tables audit_log -m 2 --date 2026-11-21\n",
      0,
      0,
      CmdImport,
      ExpandSqoopArgs};
}

}  // namespace sluice::cli
