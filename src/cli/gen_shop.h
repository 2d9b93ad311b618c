#pragma once

// `sluice gen shop`: a generated shop database (regions, customers, products, orders,
// order_items) in a MySQL/MariaDB or PostgreSQL server, for trying and testing db_import.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/spec.h"

namespace sluice::cli {

struct GenShopOptions {
  uint64_t orders = 100000;         // the scale: customers, items etc. follow from it
  std::vector<std::string> tables;  // a subset to generate; empty = all five
  uint64_t seed = 42;               // the same seed writes the same rows
  bool replace = false;             // drop and recreate tables that exist; else refuse
  // Called now and then while a table fills: rows written so far and the table's total.
  std::function<void(const std::string& table, uint64_t rows, uint64_t total)> on_progress;
};

struct GenShopReport {
  std::vector<std::pair<std::string, uint64_t>> tables;  // table -> rows, in creation order
};

// Creates and fills the shop tables in the database of `connection` (type mysql or postgres;
// secrets resolved against base_dir). Throws sluice::Error naming the table on failure.
GenShopReport GenerateShop(const pipeline::ConnectionSpec& connection, const std::string& base_dir,
                           const GenShopOptions& options);

}  // namespace sluice::cli
