// db_load into MySQL/MariaDB.
#include "common/error.h"
#include "tasks/db_load.h"

namespace sluice::tasks {

state::TaskCounts RunMySqlLoad(TaskContext& ctx, const std::vector<LoadSource>& sources) {
  throw InvalidInput(ctx.Name() + ": db_load into MySQL is not available in this build yet");
}

}  // namespace sluice::tasks
