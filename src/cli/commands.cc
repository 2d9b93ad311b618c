#include "cli/commands.h"

#include "cli/cli.h"
#include "tasks/kinds.h"

namespace sluice::cli {

// Every command, each defined in a file of its own (cmd_*.cc). A new command is a new file
// and one line here.
Command RunCommand();
Command ValidateCommand();
Command NextCommand();
Command BackfillCommand();
Command ClearCommand();
Command SchedulerCommand();
Command PauseCommand();
Command UnpauseCommand();
Command CrontabCommand();
Command AirflowCommand();
Command UiCommand();
Command RunsCommand();
Command StatusCommand();
Command LogsCommand();
Command QueryCommand();
Command ImportCommand();
Command ImportAllTablesCommand();
Command ExportCommand();
Command LsCommand();
Command GetCommand();
Command PutCommand();
Command DfsCommand();

int Main(const std::vector<std::string>& args) {
  tasks::RegisterTaskKinds();
  static const Program program = {
      "sluice",
      "batch data pipelines, CSV and databases -> lake -> SQL -> warehouse, on a schedule",
      {RunCommand(),
       ValidateCommand(),
       NextCommand(),
       BackfillCommand(),
       ClearCommand(),
       SchedulerCommand(),
       UiCommand(),
       PauseCommand(),
       UnpauseCommand(),
       CrontabCommand(),
       AirflowCommand(),
       RunsCommand(),
       StatusCommand(),
       LogsCommand(),
       QueryCommand(),
       ImportCommand(),
       ImportAllTablesCommand(),
       ExportCommand(),
       LsCommand(),
       GetCommand(),
       PutCommand(),
       DfsCommand()},
      "\nexit codes: 0 success, 1 a task failed, 2 bad usage or invalid pipeline file, "
      "130 interrupted\n"};
  return Dispatch(program, args);
}

}  // namespace sluice::cli
