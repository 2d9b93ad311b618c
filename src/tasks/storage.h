#pragma once

#include <memory>
#include <string>

#include "lake/lake.h"
#include "pipeline/spec.h"
#include "state/state_store.h"

namespace sluice::tasks {

// Opens the lake of spec: on local disk, or on HDFS through WebHDFS (lake: webhdfs://..., with
// the hdfs: section), with the local folder a remote lake needs (<state_dir>/lake-local:
// staging before upload, and the read cache of hdfs.cache_size, default 10GB). With create,
// the lake's folder is made when missing.
std::unique_ptr<lake::Lake> OpenLake(const pipeline::PipelineSpec& spec, state::StateStore* state,
                                     const std::string& state_dir, bool create);

}  // namespace sluice::tasks
