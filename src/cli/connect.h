#pragma once

// The database and lake options that sluice import, export and sluice-gen shop share.

#include <string>

#include "cli/cli.h"
#include "pipeline/spec.h"

namespace sluice::cli {

// The URL with any password in it replaced by ***, for messages.
std::string RedactUrl(const std::string& url);

// Parses a Sqoop-style --connect URL (postgresql://USER@HOST:PORT/DB or mysql://...) and the
// --username, --password-file and --password-env flags of a into a connection named "target".
// Throws UsageError for a password in the URL and for parameters a pipeline file would not
// accept.
pipeline::ConnectionSpec ConnectionFromUrl(const std::string& raw_url, const Args& a);

// The pipeline that `sluice export` and `sluice import` run: one task (added by the caller),
// with the lake, state and engine of --pipeline FILE (as pipeline <name>_<what>), or the lake
// --lake DIR with its state in DIR/_<what>_state.
pipeline::PipelineSpec OneTaskSpec(const Args& a, const std::string& what);

}  // namespace sluice::cli
