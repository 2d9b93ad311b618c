// sluice-gen: test and demo data, a tool beside sluice (not one of its commands): a citizens CSV
// with the flaws of real exports, or a shop database in MySQL/MariaDB or PostgreSQL.

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/connect.h"
#include "common/strings.h"
#include "common/time.h"
#include "gen/gen_citizens.h"
#include "gen/gen_shop.h"
#include "runner/progress.h"

namespace sluice::gen {
namespace {

using cli::Args;
using cli::Command;
using cli::UsageError;

int CmdGenShop(Args& a) {
  if (!a.Has("connect")) {
    throw UsageError(
        "gen shop needs --connect URL (the database to fill, e.g. "
        "mysql://etl@127.0.0.1:3306/shop)");
  }
  auto conn = cli::ConnectionFromUrl(a.Get("connect"), a);
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

int CmdCitizens(Args& a) {
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

}  // namespace
}  // namespace sluice::gen

int main(int argc, char** argv) {
  using sluice::cli::Flag;
  const std::vector<Flag> seed = {
      {"seed", true, "random seed; the same seed writes the same data (default 42)"}};
  sluice::cli::Program program = {
      "sluice-gen",
      "sample data for sluice's demo, tests and benchmarks",
      {{"citizens",
        "write a citizens CSV with duplicates and malformed rows, like a real export",
        "sluice-gen citizens [--rows N] [--out FILE] [--duplicates RATE] [--malformed RATE] "
        "[--seed S]",
        {{"rows", true, "data rows (default 10000; 37000000 is about 6.5 GB)"},
         {"out", true, "output file, - for stdout (default citizens_data.csv)"},
         {"duplicates", true, "fraction of rows repeating an earlier one (default 0.02)"},
         {"malformed", true, "fraction of rows a strict reader rejects (default 0.001)"},
         seed[0]},
        "  sluice-gen citizens --rows 1000000 --out incoming/citizens_data_20261121.csv\n",
        0,
        0,
        sluice::gen::CmdCitizens},
       {"shop",
        "create and fill the shop database (regions, customers, products, orders, order_items)",
        "sluice-gen shop --connect URL [--rows ORDERS] [--tables T,..] [--replace] [--seed S]",
        {{"connect", true, "mysql://USER@HOST:PORT/DB or postgresql://USER@HOST:PORT/DB"},
         {"username", true, "the user, when not in --connect"},
         {"password-file", true, "a file holding the password, readable by its owner only"},
         {"password-env", true, "an environment variable holding the password"},
         {"rows", true, "orders (default 100000)"},
         {"tables", true, "only these tables (regions,customers,products,orders,order_items)"},
         {"replace", false, "drop and recreate tables that exist (else it refuses)"},
         seed[0]},
        "  SHOP_PASSWORD=... sluice-gen shop --connect mysql://etl@127.0.0.1:3306/shop \\\n"
        "      --password-env SHOP_PASSWORD --rows 1000000\n",
        0,
        0,
        sluice::gen::CmdGenShop}},
      "\nexit codes: 0 success, 1 failure, 2 bad usage\n"};
  return sluice::cli::Dispatch(program, std::vector<std::string>(argv + 1, argv + argc));
}
