// `waitgraph export TRACE --format trace-event`: the timeline of a trace for
// trace viewers (ui.perfetto.dev, chrome://tracing).
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/options.h"
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

int Usage(const std::string& message) {
  std::cerr << "waitgraph: " << message << " (see `waitgraph export --help`)\n";
  return kExitBadInput;
}

}  // namespace

int ExportCommand(const Args& args) {
  auto opts = ParseOptions(args, {.with_value = {"--format", "--output", "--source-root"}});
  if (!opts.ok()) return Usage(std::string(opts.status().message()));
  if (opts->help()) {
    std::cout << kExportHelp;
    return kExitOk;
  }
  if (opts->positional.size() != 1) return Usage("export takes one trace");
  std::optional<std::string> format = opts->Get("--format");
  if (!format) return Usage("say which format: --format trace-event");
  if (*format != "trace-event") return Usage(absl::StrCat("unknown --format ", *format, "; use trace-event"));
  std::string root = opts->Get("--source-root").value_or(std::filesystem::current_path().string());

  findings::Report report;
  analyzer::TraceHistory history;
  if (absl::Status status = ReadTraceForPictures(opts->positional[0], report, history); !status.ok()) {
    std::cerr << "waitgraph: " << status.message()
              << "; pass a trace written by `waitgraph run --trace` or WAITGRAPH_TRACE\n";
    return kExitBadInput;
  }
  std::string error;
  if (!WriteOutput(opts->Get("--output").value_or("-"),
                   TraceEventJson(BuildTimelineView(history, report, root)), error)) {
    std::cerr << "waitgraph: " << error << "; choose another --output\n";
    return kExitCannotWrite;
  }
  return kExitOk;
}

}  // namespace waitgraph::cli
