// `waitgraph export TRACE --format trace-event`: the timeline of a trace for
// trace viewers (ui.perfetto.dev, chrome://tracing).
#include <variant>

#include "cli/commands.h"
#include "cli/picture_args.h"
#include "cli/report.h"
#include "cli/timeline_view.h"
#include "cli/trace_event.h"

namespace waitgraph::cli {
namespace {

constexpr char kExportHelp[] = R"(usage: waitgraph export TRACE --format trace-event [--output FILE]

Writes the timeline of TRACE in the Trace Event Format (JSON) that
ui.perfetto.dev and chrome://tracing open: a track per thread and per event
loop; waits, loop stalls and loop runs as slices; hand-offs into a loop as
flow arrows; loop creation, stop and close and every finding as instants.

  --format trace-event the only format (required, so others can come)
  --output FILE        write to FILE instead of stdout
  --source-root DIR    paths under DIR are shown relative to it (default: cwd)

Open it: ui.perfetto.dev, "Open trace file", choose FILE (it stays in your
browser: the page loads the file locally).

exit status: 0 written; 2 unreadable trace or bad usage; 4 the output cannot
be written
)";

}  // namespace

int ExportCommand(const Args& args) {
  auto parsed = ParsePictureArgs(args, {.name = "export",
                                        .help = kExportHelp,
                                        .formats = {"trace-event"},
                                        .format_required = true,
                                        .traces_wanted = "export takes one trace"});
  if (const int* exit = std::get_if<int>(&parsed)) return *exit;
  const PictureArgs& picture = std::get<PictureArgs>(parsed);

  findings::Report report;
  analyzer::TraceHistory history;
  if (absl::Status status = ReadTraceForPictures(picture.traces[0], report, history); !status.ok()) {
    return UnreadableTrace(std::string(status.message()));
  }
  return WritePicture(picture, TraceEventJson(BuildTimelineView(history, report, picture.source_root)));
}

}  // namespace waitgraph::cli
