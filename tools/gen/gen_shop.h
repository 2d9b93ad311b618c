#pragma once

// `sluice gen shop`: a generated shop database (regions, customers, products, orders,
// order_items) in a MySQL/MariaDB or PostgreSQL server, for trying and testing db_import.
//
// Sizes follow --rows N (the orders): regions 20, customers max(10, N/10), products
// max(100, N/1000), order_items 1..4 per order (about 2.5 N). Every value is a pure function of
// (seed, table, row), so the same seed writes the same rows, table by table.
//
// products is the every-type table: rows 1..7 hold the extremes (1 the minimum and 2 the
// maximum of every type, strings and BLOBs at their longest; 3 NULL in every nullable column;
// 4 '' in every text column; 5 quotes, backslashes, tabs, newlines, emoji and the smallest
// positive values; 6 and 7 subnormal floats (MySQL) or NaN and infinities (PostgreSQL)).
//
// Order ids are deliberately uneven, so a range splitter that divides min..max evenly is
// skewed: row k has id k+1, but the ids of the last tenth of the rows are shifted up by N/4
// (a hole of N/4 ids near the end), and the very last order has id 10^12 (for N >= 20; with
// --rows 2000: 1..1800, 2301..2499, 1000000000000). Orders are dated over the three years
// ending 2026-11-20 in id order; updated_at >= created_at and is indexed.
//
// Tables load by LOAD DATA LOCAL INFILE (INSERT when the server refuses it) or binary COPY;
// primary keys (PostgreSQL), secondary indexes and foreign keys are added after the load,
// foreign keys only between tables generated in the same run.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/spec.h"

namespace sluice::gen {

struct GenShopOptions {
  uint64_t orders = 100000;         // the scale: customers, items etc. follow from it
  std::vector<std::string> tables;  // a subset to generate; empty = all five
  uint64_t seed = 42;               // the same seed writes the same rows
  bool replace = false;             // drop and recreate tables that exist; else refuse
  // Called now and then while a table fills: rows written so far and the table's total. May
  // run on a thread of the MySQL connector (never two calls at once).
  std::function<void(const std::string& table, uint64_t rows, uint64_t total)> on_progress;
};

struct GenShopReport {
  std::vector<std::pair<std::string, uint64_t>> tables;  // table -> rows, in creation order
};

// Creates and fills the shop tables in the database of `connection` (type mysql or postgres;
// secrets resolved against base_dir). Throws sluice::Error naming the table on failure:
// kInvalidInput for an unknown name in options.tables (listing the valid ones) and for tables
// that exist while options.replace is false (naming them and --replace), before changing
// anything.
GenShopReport GenerateShop(const pipeline::ConnectionSpec& connection, const std::string& base_dir,
                           const GenShopOptions& options);

}  // namespace sluice::gen
