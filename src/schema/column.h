#pragma once

// A column of a dataset: what the lake's manifests record and every engine produces. Its own
// home so that the lake does not depend on any engine (engine::Column is this type).

#include <string>

namespace sluice::schema {

struct Column {
  std::string name;
  std::string type;  // the lake's SQL type name (DuckDB's), e.g. BIGINT, DECIMAL(12,2), VARCHAR
};

}  // namespace sluice::schema
