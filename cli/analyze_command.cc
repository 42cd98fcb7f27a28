// `waitgraph analyze TRACE` and `waitgraph check TRACE...`: offline reports.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/report.h"

namespace waitgraph::cli {
namespace {

constexpr char kAnalyzeHelp[] = R"(usage: waitgraph analyze TRACE [--format text|json] [--output FILE]

Reads a trace recorded by the shim (complete, truncated, or still being
written) and prints every finding: deadlocks in force at the end of the trace,
latent deadlocks seen over the whole run, starved executors.

  --format text|json   text for people (default), json for tools
  --output FILE        write the report to FILE instead of stdout

exit status: 0 report printed (whatever it found); 2 unreadable trace or bad
usage; 4 the output file cannot be written
)";

constexpr char kCheckHelp[] = R"(usage: waitgraph check TRACE... [--format text|json] [--fail-on LEVEL] [--output FILE]

Like analyze, over one or more traces, with an exit status for CI.

  --fail-on error|warning|note|never
                       fail when a finding is at or above LEVEL (default warning)
  --format text|json   (default text)
  --output FILE        write the report to FILE instead of stdout

exit status: 0 no finding at or above --fail-on; 1 there are; 2 unreadable
trace or bad usage; 4 the output file cannot be written
)";

int Usage(const std::string& message, const char* help) {
  std::cerr << "waitgraph: " << message << " (see `waitgraph " << help << " --help`)\n";
  return kExitBadInput;
}

struct CommonOptions {
  Format format = Format::kText;
  std::string output = "-";
  std::vector<std::string> traces;
};

// Parses what analyze and check share; returns an exit status on error.
std::optional<int> ParseCommon(const ParsedOptions& opts, const char* command, const char* help,
                               CommonOptions& out) {
  if (opts.help()) {
    std::cout << help;
    return kExitOk;
  }
  if (auto f = opts.Get("--format")) {
    auto parsed = ParseFormat(*f);
    if (!parsed) return Usage(absl::StrCat("unknown --format ", *f, "; use text or json"), command);
    out.format = *parsed;
  }
  if (auto o = opts.Get("--output")) out.output = *o;
  out.traces = opts.positional;
  out.traces.insert(out.traces.end(), opts.after_dashes.begin(), opts.after_dashes.end());
  if (out.traces.empty()) return Usage("no trace given", command);
  return std::nullopt;
}

// Analyses every trace; on the first unusable one prints one line and
// returns its exit status.
std::optional<int> AnalyzeAll(const std::vector<std::string>& traces,
                              std::vector<findings::Report>& reports) {
  for (const auto& path : traces) {
    std::string error;
    auto report = AnalyzeTraceFile(path, error);
    if (!report) {
      std::cerr << "waitgraph: " << error
                << "; pass a trace written by `waitgraph run --trace` or WAITGRAPH_TRACE\n";
      return kExitBadInput;
    }
    reports.push_back(std::move(*report));
  }
  return std::nullopt;
}

int Emit(const std::vector<findings::Report>& reports, const CommonOptions& common) {
  std::string error;
  if (!WriteOutput(common.output, Render(reports, common.format), error)) {
    std::cerr << "waitgraph: " << error << "; choose another --output\n";
    return kExitCannotWrite;
  }
  return kExitOk;
}

}  // namespace

int AnalyzeCommand(const Args& args) {
  auto opts = ParseOptions(args, {.with_value = {"--format", "--output"}});
  if (!opts.ok()) return Usage(std::string(opts.status().message()), "analyze");
  CommonOptions common;
  if (auto exit = ParseCommon(*opts, "analyze", kAnalyzeHelp, common)) return *exit;
  if (common.traces.size() != 1) return Usage("analyze takes one trace; use check for several", "analyze");
  std::vector<findings::Report> reports;
  if (auto exit = AnalyzeAll(common.traces, reports)) return *exit;
  return Emit(reports, common);
}

int CheckCommand(const Args& args) {
  auto opts = ParseOptions(args, {.with_value = {"--format", "--output", "--fail-on"}});
  if (!opts.ok()) return Usage(std::string(opts.status().message()), "check");
  CommonOptions common;
  if (auto exit = ParseCommon(*opts, "check", kCheckHelp, common)) return *exit;
  std::string fail_on = opts->Get("--fail-on").value_or("warning");
  int threshold;
  if (fail_on == "error") threshold = findings::ERROR;
  else if (fail_on == "warning") threshold = findings::WARNING;
  else if (fail_on == "note") threshold = findings::NOTE;
  else if (fail_on == "never") threshold = findings::ERROR + 1;
  else return Usage(absl::StrCat("unknown --fail-on ", fail_on, "; use error, warning, note or never"), "check");

  std::vector<findings::Report> reports;
  if (auto exit = AnalyzeAll(common.traces, reports)) return *exit;
  if (int exit = Emit(reports, common); exit != kExitOk) return exit;
  for (const auto& report : reports) {
    for (const auto& f : report.findings()) {
      if (f.severity() >= threshold) return kExitFindings;
    }
  }
  return kExitOk;
}

}  // namespace waitgraph::cli
