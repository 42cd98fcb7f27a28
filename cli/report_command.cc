// `waitgraph report TRACE --format html`: the findings, their cycles and the
// timeline on one self-contained page.
#include <iostream>
#include <variant>

#include "cli/commands.h"
#include "cli/html_report.h"
#include "cli/picture_args.h"
#include "cli/process_tree.h"
#include "cli/report.h"
#include "cli/timeline_view.h"
#include "cli/trace_inputs.h"

namespace waitgraph::cli {
namespace {

constexpr char kReportHelp[] = R"(usage: waitgraph report TRACE|DIR... --format html --output FILE

Writes one self-contained HTML page (no scripts, no fonts, nothing fetched
from the network) about TRACE: every finding as `analyze` reports it, the
wait-for cycle of each deadlock as a picture, and a timeline of the threads
and event loops (waits, loop stalls, hand-offs, loop life, findings). A
directory stands for the traces in it (a `waitgraph run` directory: one per
process); several traces give a section each, with its process and role.

  --format html        the only format (required, so others can come)
  --output FILE        the page (default: stdout)
  --source-root DIR    paths under DIR are shown relative to it (default: cwd)

exit status: 0 written; 2 unreadable trace or bad usage; 4 the output cannot
be written
)";

}  // namespace

int ReportCommand(const Args& args) {
  auto parsed = ParsePictureArgs(args, {.name = "report",
                                        .help = kReportHelp,
                                        .formats = {"html"},
                                        .format_required = true,
                                        .many_traces = true,
                                        .traces_wanted = "report takes a trace (or a run directory)"});
  if (const int* exit = std::get_if<int>(&parsed)) return *exit;
  const PictureArgs& picture = std::get<PictureArgs>(parsed);

  absl::StatusOr<std::vector<std::string>> paths = ExpandTraceInputs(picture.traces);
  if (!paths.ok()) {
    std::cerr << "waitgraph: " << paths.status().message()
              << "; pass traces written by `waitgraph run` or WAITGRAPH_TRACE, or their directory\n";
    return kExitBadInput;
  }
  std::vector<TracePage> pages;
  std::vector<findings::Report> reports;
  for (const std::string& path : *paths) {
    findings::Report report;
    analyzer::TraceHistory history;
    if (absl::Status status = ReadTraceForPictures(path, report, history); !status.ok()) {
      return UnreadableTrace(std::string(status.message()));
    }
    TimelineView timeline = BuildTimelineView(history, report, picture.source_root);
    pages.push_back({std::move(report), std::move(timeline)});
  }
  for (const TracePage& page : pages) reports.push_back(page.report);
  AssignRoles(reports);  // master, worker N: among the traces read together
  for (size_t i = 0; i < pages.size(); ++i) pages[i].report = std::move(reports[i]);
  return WritePicture(picture, HtmlReport(pages, picture.source_root));
}

}  // namespace waitgraph::cli
