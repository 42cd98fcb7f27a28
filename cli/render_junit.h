#ifndef WAITGRAPH_CLI_RENDER_JUNIT_H_
#define WAITGRAPH_CLI_RENDER_JUNIT_H_

#include <string>
#include <vector>

#include "rules/finding.pb.h"

namespace waitgraph::cli {

// JUnit XML: one test suite per trace, one test case per rule; a case fails
// when the rule has findings at or above `fail_on` (a Severity value; above
// ERROR = never), with each finding in the failure text.
std::string RenderJunit(const std::vector<findings::Report>& reports, int fail_on);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_RENDER_JUNIT_H_
