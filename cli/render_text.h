#ifndef WAITGRAPH_CLI_RENDER_TEXT_H_
#define WAITGRAPH_CLI_RENDER_TEXT_H_

#include <string>
#include <vector>

#include "rules/finding.pb.h"

namespace waitgraph::cli {

// For people: each finding with its location, the stacks of each wait, the
// fix; then a one-line summary and the notes about the trace.
std::string RenderText(const std::vector<findings::Report>& reports);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_RENDER_TEXT_H_
