// `waitgraph report TRACE --format html`: the findings, their cycles and the
// timeline on one self-contained page.
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/html_report.h"
#include "cli/options.h"
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

int Usage(const std::string& message) {
  std::cerr << "waitgraph: " << message << " (see `waitgraph report --help`)\n";
  return kExitBadInput;
}

}  // namespace

int ReportCommand(const Args& args) {
  auto opts = ParseOptions(args, {.with_value = {"--format", "--output", "--source-root"}});
  if (!opts.ok()) return Usage(std::string(opts.status().message()));
  if (opts->help()) {
    std::cout << kReportHelp;
    return kExitOk;
  }
  if (opts->positional.empty()) return Usage("report takes a trace (or a run directory)");
  std::optional<std::string> format = opts->Get("--format");
  if (!format) return Usage("say which format: --format html");
  if (*format != "html") return Usage(absl::StrCat("unknown --format ", *format, "; use html"));
  std::string root = opts->Get("--source-root").value_or(std::filesystem::current_path().string());

  absl::StatusOr<std::vector<std::string>> paths = ExpandTraceInputs(opts->positional);
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
      std::cerr << "waitgraph: " << status.message()
                << "; pass a trace written by `waitgraph run --trace` or WAITGRAPH_TRACE\n";
      return kExitBadInput;
    }
    TimelineView timeline = BuildTimelineView(history, report, root);
    pages.push_back({std::move(report), std::move(timeline)});
  }
  for (const TracePage& page : pages) reports.push_back(page.report);
  AssignRoles(reports);  // master, worker N: among the traces read together
  for (size_t i = 0; i < pages.size(); ++i) pages[i].report = std::move(reports[i]);
  std::string error;
  if (!WriteOutput(opts->Get("--output").value_or("-"),
                   HtmlReport(pages, root), error)) {
    std::cerr << "waitgraph: " << error << "; choose another --output\n";
    return kExitCannotWrite;
  }
  return kExitOk;
}

}  // namespace waitgraph::cli
