// The timeline as an SVG picture for the HTML report: a row per thread and
// per event loop, waits and stalls as bars, loop runs behind them, hand-offs
// as arrows from the sending thread to the loop, loop life as marks and
// findings as red lines across every row; each item has a tooltip.
#ifndef WAITGRAPH_CLI_TIMELINE_SVG_H_
#define WAITGRAPH_CLI_TIMELINE_SVG_H_

#include <string>

#include "cli/timeline_view.h"

namespace waitgraph::cli {

// Text for XML/HTML content and attribute values.
std::string XmlEscape(const std::string& text);

std::string TimelineSvg(const TimelineView& view);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_TIMELINE_SVG_H_
