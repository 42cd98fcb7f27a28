#ifndef WAITGRAPH_CLI_RENDER_JSON_H_
#define WAITGRAPH_CLI_RENDER_JSON_H_

#include <string>
#include <vector>

#include "rules/finding.pb.h"

namespace waitgraph::cli {

// {"version": 1, "findings": [...], "traces": [...], "notes": [...]}; each
// finding: code, name, severity ("error"|"warning"|"note"), message,
// locations [{path, line, function}], related, fix, fingerprint, trace.
std::string RenderJson(const std::vector<findings::Report>& reports);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_RENDER_JSON_H_
