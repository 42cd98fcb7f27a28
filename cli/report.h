// From an analysed trace to the findings report every command prints.
#ifndef WAITGRAPH_CLI_REPORT_H_
#define WAITGRAPH_CLI_REPORT_H_

#include <optional>
#include <string>
#include <vector>

#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "cli/render_text.h"
#include "rules/finding.pb.h"

namespace waitgraph::cli {

// Runs every rule over the trace as read so far. `deadlocks` are the active
// cycles to report (all of FindDeadlocks, or those that held long enough).
findings::Report BuildReport(const analyzer::TraceAnalysis& analysis,
                             const std::vector<analyzer::Deadlock>& deadlocks, bool writer_gone);

// Reads a whole trace and reports on it; nullopt (with `error` set to one
// line) if nothing usable could be read. Frames under `source_root` are the
// user's (see analyzer/source_root.h). `leave_to_exit`: the process exits
// soon after (the last trace `analyze` reads): the analysis is not torn
// down, its memory is left for the exit to reclaim at once (freeing a large
// trace's model entity by entity took a tenth of the analyzer's time).
std::optional<findings::Report> AnalyzeTraceFile(const std::string& path, std::string& error,
                                                 const std::string& source_root = "",
                                                 bool leave_to_exit = false);

enum class Format { kText, kJson, kSarif, kJunit };
std::optional<Format> ParseFormat(const std::string& name);

struct RenderOptions {
  Format format = Format::kText;
  int fail_on = findings::WARNING;  // JUnit: which findings fail a case
  std::string source_root;          // SARIF: paths below it become relative
  TextStyle text;                   // text: width, colour, folding
};
std::string Render(const std::vector<findings::Report>& reports, const RenderOptions& options);

// Writes `text` to `path` ("-" = stdout; a file as output_file.h says).
// False, with `error`, if it cannot.
bool WriteOutput(const std::string& path, const std::string& text, std::string& error);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_REPORT_H_
