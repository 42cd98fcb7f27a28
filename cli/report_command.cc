// `waitgraph report TRACE --format html`: the findings, their cycles and the
// timeline on one self-contained page.
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/html_report.h"
#include "cli/options.h"
#include "cli/report.h"
#include "cli/timeline_view.h"

namespace waitgraph::cli {
namespace {

constexpr char kReportHelp[] = R"(usage: waitgraph report TRACE --format html --output FILE

Writes one self-contained HTML page (no scripts, no fonts, nothing fetched
from the network) about TRACE: every finding as `analyze` reports it, the
wait-for cycle of each deadlock as a picture, and a timeline of the threads
and event loops (waits, loop stalls, hand-offs, loop life, findings).

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
  if (opts->positional.size() != 1) return Usage("report takes one trace");
  std::optional<std::string> format = opts->Get("--format");
  if (!format) return Usage("say which format: --format html");
  if (*format != "html") return Usage(absl::StrCat("unknown --format ", *format, "; use html"));
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
                   HtmlReport(report, BuildTimelineView(history, report, root), root), error)) {
    std::cerr << "waitgraph: " << error << "; choose another --output\n";
    return kExitCannotWrite;
  }
  return kExitOk;
}

}  // namespace waitgraph::cli
