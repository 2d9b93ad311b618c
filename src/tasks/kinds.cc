#include "tasks/kinds.h"

#include <mutex>
#include <vector>

#include "tasks/task.h"

namespace sluice::tasks {

Kind FileExportKind();  // tasks/file_export.cc

namespace {

const std::vector<Kind>& Kinds() {
  static const std::vector<Kind> kinds = {
      {{"csv_import", {}, nullptr}, RunCsvImport}, {{"sql", {}, nullptr}, RunSqlModel},
      {{"check", {}, nullptr}, RunCheck},          {{"db_load", {}, nullptr}, RunDbLoad},
      {{"db_import", {}, nullptr}, RunDbImport},   FileExportKind(),
  };
  return kinds;
}

}  // namespace

void RegisterTaskKinds() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (const auto& k : Kinds()) {
      if (k.parse.parse) pipeline::RegisterTaskKind(k.parse);
    }
  });
}

RunFn RunFunction(const std::string& kind) {
  for (const auto& k : Kinds()) {
    if (k.parse.name == kind) return k.run;
  }
  return nullptr;
}

}  // namespace sluice::tasks
