// `waitgraph report --format html`: one self-contained page (no scripts, no
// fonts, nothing fetched) with the findings, each deadlock's cycle as SVG and
// the trace's timeline as SVG.
#ifndef WAITGRAPH_CLI_HTML_REPORT_H_
#define WAITGRAPH_CLI_HTML_REPORT_H_

#include <string>

#include "cli/timeline_view.h"
#include "rules/finding.pb.h"

namespace waitgraph::cli {

std::string HtmlReport(const findings::Report& report, const TimelineView& timeline,
                       const std::string& source_root);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_HTML_REPORT_H_
