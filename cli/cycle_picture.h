// Pictures of a wait-for cycle (a finding's CycleGraph), laid out and
// rendered by Graphviz's own library (libcgraph, libgvc), never a `dot`
// subprocess.
#ifndef WAITGRAPH_CLI_CYCLE_PICTURE_H_
#define WAITGRAPH_CLI_CYCLE_PICTURE_H_

#include <string>

#include "absl/status/statusor.h"
#include "rules/finding.pb.h"

namespace waitgraph::cli {

// "app.py:12": the path relative to `source_root` when the file is under
// it, else the file's name alone (a picture has no room for more).
std::string ShortWhere(const findings::Location& location, const std::string& source_root);

// The cycle in the DOT language (`title` becomes the graph's label).
absl::StatusOr<std::string> CycleDot(const findings::CycleGraph& cycle, const std::string& title,
                                     const std::string& source_root);
// The cycle laid out by Graphviz's dot layout, as a standalone SVG document.
absl::StatusOr<std::string> CycleSvg(const findings::CycleGraph& cycle, const std::string& title,
                                     const std::string& source_root);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_CYCLE_PICTURE_H_
