#pragma once

#include <string>
#include <vector>

namespace sluice::cli {

// Runs the sluice command line; returns the process exit code: 0 success, 1 a task failed,
// 2 bad usage or an invalid pipeline file, 130 interrupted.
int Main(const std::vector<std::string>& args);

}  // namespace sluice::cli
