// `waitgraph report --format html`: one self-contained page (no scripts, no
// fonts, nothing fetched) with the findings, each deadlock's cycle as SVG and
// the trace's timeline as SVG.
#ifndef WAITGRAPH_CLI_HTML_REPORT_H_
#define WAITGRAPH_CLI_HTML_REPORT_H_

#include <string>
#include <vector>

#include "cli/timeline_view.h"
#include "rules/finding.pb.h"

namespace waitgraph::cli {

std::string HtmlReport(const findings::Report& report, const TimelineView& timeline,
                       const std::string& source_root);

// One trace of a page about several (a run directory: one per process).
struct TracePage {
  findings::Report report;
  TimelineView timeline;
};
// One page, a section per trace (its process, notes, findings and timeline).
std::string HtmlReport(const std::vector<TracePage>& traces, const std::string& source_root);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_HTML_REPORT_H_
