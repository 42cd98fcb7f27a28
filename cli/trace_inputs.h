// What `analyze` and `check` read: trace files, and directories of traces
// (a `waitgraph run` directory, or a service's WAITGRAPH_TRACE directory,
// one trace per process).
#ifndef WAITGRAPH_CLI_TRACE_INPUTS_H_
#define WAITGRAPH_CLI_TRACE_INPUTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace waitgraph::cli {

// Each argument as is, except that a directory becomes the regular files
// named *.wgtrace directly inside it, sorted by name. An error (one line)
// for a directory that holds none or cannot be read.
absl::StatusOr<std::vector<std::string>> ExpandTraceInputs(const std::vector<std::string>& args);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_TRACE_INPUTS_H_
