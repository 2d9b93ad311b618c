#pragma once

// The task kinds. Adding one: write src/tasks/<kind>.cc with a `Kind <Name>Kind()` that returns
// its parse function (pipeline/task_kind.h) and its run function, and add that function to the
// list in src/tasks/kinds.cc. Nothing else changes: the parser, `sluice validate`, the runner,
// the DAG and the UI see the kind through this table.

#include <string>

#include "pipeline/task_kind.h"
#include "state/state_store.h"

namespace sluice::tasks {

struct TaskContext;
using RunFn = state::TaskCounts (*)(TaskContext&);

struct Kind {
  pipeline::TaskKind parse;  // name, keys and parse function; parse is empty for the kinds
                             // the parser reads itself (csv_import, sql, check, db_*)
  RunFn run = nullptr;
};

// Registers every kind's parse function with the pipeline parser. Idempotent and thread-safe;
// the CLI calls it before reading any pipeline file.
void RegisterTaskKinds();

// The run function of kind, or nullptr.
RunFn RunFunction(const std::string& kind);

}  // namespace sluice::tasks
