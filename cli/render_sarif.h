#ifndef WAITGRAPH_CLI_RENDER_SARIF_H_
#define WAITGRAPH_CLI_RENDER_SARIF_H_

#include <string>
#include <vector>

#include "rules/finding.pb.h"

namespace waitgraph::cli {

// SARIF 2.1.0 for code scanning (GitHub and others): every rule with its doc
// as help, each finding a result with its locations, related locations, a
// codeFlow through the waits of a cycle, and partialFingerprints. Paths under
// `source_root` become relative URIs against %SRCROOT%.
std::string RenderSarif(const std::vector<findings::Report>& reports, const std::string& source_root);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_RENDER_SARIF_H_
