#ifndef WAITGRAPH_CLI_SHIM_LOCATOR_H_
#define WAITGRAPH_CLI_SHIM_LOCATOR_H_

#include <optional>
#include <string>

namespace waitgraph::cli {

// The directory holding the `waitgraph` Python package and its
// sitecustomize.py: $WAITGRAPH_SHIM_DIR if set, else ../lib/waitgraph/python
// beside this executable (the same in the build tree and an install).
std::optional<std::string> FindShimDir(std::string& error);

// <per-user dir>/live/PID (trace/private_files.h): where a traced process of
// this user says where its trace is (written by the shim at start, removed
// at a clean stop).
std::string LivePointerPath(long pid);

// CLOCK_MONOTONIC now, in ns: the clock the shim stamps events with.
long long MonotonicNowNs();

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_SHIM_LOCATOR_H_
