#pragma once

#include <ostream>

#include "pipeline/spec.h"

namespace sluice::cli {

// For `sluice validate`: asks the pipeline's Spark Connect server to analyze every sql model
// and sql check that runs on Spark, with the datasets they read stood in for by empty views of
// their known schema. Prints progress to out and each problem to err as file:line: message.
// Returns the number of problems (0 when no task runs on Spark).
int ValidateOnSpark(const pipeline::PipelineSpec& spec, std::ostream& out, std::ostream& err);

}  // namespace sluice::cli
