// The timeline in Chrome's Trace Event Format (JSON), which ui.perfetto.dev,
// chrome://tracing and speedscope open: one track per thread and per event
// loop, named by metadata events; waits, stalls and loop runs as complete
// ("X") slices; hand-offs as flows ("s" on the sending thread, "f" on the
// loop); loop life and findings as instants ("i").
#ifndef WAITGRAPH_CLI_TRACE_EVENT_H_
#define WAITGRAPH_CLI_TRACE_EVENT_H_

#include <string>

#include "cli/timeline_view.h"

namespace waitgraph::cli {

std::string TraceEventJson(const TimelineView& view);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_TRACE_EVENT_H_
