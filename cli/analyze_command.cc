// `waitgraph analyze TRACE` and `waitgraph check TRACE...`: offline reports,
// the second with an exit status, baselines and CI formats.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "analyzer/model.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/policy.h"
#include "cli/process_tree.h"
#include "cli/progress.h"
#include "cli/report.h"
#include "cli/report_style.h"
#include "cli/trace_inputs.h"

namespace waitgraph::cli {
namespace {

constexpr char kSharedOptions[] = R"(
  --format text|json|sarif|junit
                       text for people (default); json for tools; SARIF 2.1.0
                       for code scanning; JUnit XML for CI test reports
  --output FILE        write the report to FILE instead of stdout
  --config FILE        project settings (default ./waitgraph.toml if present):
                         [rules] NAME = "off"|"error"|"warning"|"note"
                         [paths] ignore = ["glob", ...]
                                 project = "DIR"  (the user's code)
                         [run]   hang-timeout = SECONDS
  --baseline FILE      leave out findings recorded in FILE (fingerprints are
                       stable when lines shift)
  --write-baseline FILE
                       record the current findings in FILE
  --no-suppressions    ignore `# waitgraph: ignore[rule]` comments
)";

constexpr char kAnalyzeHelp[] = R"(usage: waitgraph analyze TRACE|DIR... [OPTIONS]

Reads a trace recorded by the shim (complete, truncated, or still being
written) and prints every finding: deadlocks in force at the end of the trace,
latent deadlocks seen over the whole run, starved executors.

A directory stands for the *.wgtrace files in it (a `waitgraph run`
directory, or a service's WAITGRAPH_TRACE directory: one trace per process).
With several processes' traces, each finding names its process and its role
(master, worker N: see the README's "Services with worker processes").
)";

constexpr char kAnalyzeExit[] = R"(
exit status: 0 report printed (whatever it found); 2 unreadable trace, config
or baseline, or bad usage; 4 an output file cannot be written
)";

constexpr char kCheckHelp[] = R"(usage: waitgraph check TRACE|DIR... [OPTIONS] [--fail-on LEVEL]

Like analyze, over one or more traces (a directory: the *.wgtrace files in
it), with an exit status for CI.

  --fail-on error|warning|note|never
                       fail when a finding is at or above LEVEL (default warning))";

constexpr char kCheckExit[] = R"(
exit status: 0 no finding at or above --fail-on; 1 there are; 2 unreadable
trace, config or baseline, or bad usage; 4 an output file cannot be written
)";

int Usage(const std::string& message, const char* command) {
  std::cerr << "waitgraph: " << message << " (see `waitgraph " << command << " --help`)\n";
  return kExitBadInput;
}

const OptionSpec kSpec = {
    .with_value = WithReportStyleValues({"--format", "--output", "--config", "--baseline",
                                         "--write-baseline", "--fail-on"}),
    .flags = WithReportStyleFlags({"--no-suppressions"})};

struct CommonOptions {
  RenderOptions render;
  std::string output = "-";
  std::string write_baseline;
  Policy policy;
  std::vector<std::string> traces;
  // WAITGRAPH_PROGRESS=always: the progress line even when stderr is no
  // terminal (tests).
  bool force_progress = false;
};

std::optional<int> ParseCommon(const ParsedOptions& opts, const char* command, CommonOptions& out) {
  if (auto f = opts.Get("--format")) {
    auto parsed = ParseFormat(*f);
    if (!parsed) return Usage(absl::StrCat("unknown --format ", *f, "; use text, json, sarif or junit"), command);
    out.render.format = *parsed;
  }
  if (auto o = opts.Get("--output")) out.output = *o;
  out.write_baseline = opts.Get("--write-baseline").value_or("");
  auto config = LoadConfig(opts.Get("--config").value_or(""));
  if (!config.ok()) return Usage(std::string(config.status().message()), command);
  out.policy.config = *config;
  ReportStyle style;
  const int report_fd = out.output == "-" ? STDOUT_FILENO : -1;
  if (auto error = ResolveReportStyle(opts, *config, report_fd, style)) return Usage(*error, command);
  out.render.source_root = style.source_root;
  out.render.text = style.text();
  out.policy.comment_suppressions = !opts.flags.count("--no-suppressions");
  out.policy.source_root = out.render.source_root;  // suppressions are read only under it
  if (auto b = opts.Get("--baseline")) {
    auto baseline = ReadBaseline(*b);
    if (!baseline.ok()) return Usage(std::string(baseline.status().message()), command);
    out.policy.baseline = *baseline;
  }
  const char* progress = std::getenv("WAITGRAPH_PROGRESS");
  out.force_progress = progress != nullptr && std::string(progress) == "always";
  // Tests: every analysis sees every event, whatever its Wants() says (the
  // report must not change; tests/integration/check_case.py compares).
  const char* unfiltered = std::getenv("WAITGRAPH_TESTING_EVERY_EVENT_TO_EVERY_SINK");
  analyzer::Model::SetEveryEventToEverySink(unfiltered != nullptr && std::string(unfiltered) == "1");
  out.traces = opts.positional;
  out.traces.insert(out.traces.end(), opts.after_dashes.begin(), opts.after_dashes.end());
  if (out.traces.empty()) return Usage("no trace given", command);
  return std::nullopt;
}

// Analyses every trace and applies the policy; on the first unusable trace
// prints one line and returns its exit status.
std::optional<int> AnalyzeAll(const CommonOptions& common, std::vector<findings::Report>& reports) {
  absl::StatusOr<std::vector<std::string>> traces = ExpandTraceInputs(common.traces);
  if (!traces.ok()) {
    std::cerr << "waitgraph: " << traces.status().message()
              << "; pass traces written by `waitgraph run` or WAITGRAPH_TRACE, or their directory\n";
    return kExitBadInput;
  }
  for (const auto& path : *traces) {
    std::string error;
    std::optional<findings::Report> report;
    {
      Progress progress(path, STDERR_FILENO, 1000, common.force_progress);
      report = AnalyzeTraceFile(path, error, common.render.source_root,
                                /*leave_to_exit=*/&path == &traces->back());
    }
    if (!report) {
      std::cerr << "waitgraph: " << error
                << "; pass a trace written by `waitgraph run --trace` or WAITGRAPH_TRACE\n";
      return kExitBadInput;
    }
    reports.push_back(std::move(*report));
  }
  AssignRoles(reports);
  ApplyPolicy(common.policy, reports);
  return std::nullopt;
}

int Emit(const std::vector<findings::Report>& reports, const CommonOptions& common) {
  std::string error;
  if (!common.write_baseline.empty()) {
    if (auto status = WriteBaseline(common.write_baseline, reports); !status.ok()) {
      std::cerr << "waitgraph: " << status.message() << "; choose another --write-baseline\n";
      return kExitCannotWrite;
    }
  }
  if (!WriteOutput(common.output, Render(reports, common.render), error)) {
    std::cerr << "waitgraph: " << error << "; choose another --output\n";
    return kExitCannotWrite;
  }
  return kExitOk;
}

std::optional<int> ParseFailOn(const std::string& level) {
  if (level == "error") return findings::ERROR;
  if (level == "warning") return findings::WARNING;
  if (level == "note") return findings::NOTE;
  if (level == "never") return findings::ERROR + 1;
  return std::nullopt;
}

}  // namespace

int AnalyzeCommand(const Args& args) {
  auto opts = ParseOptions(args, kSpec);
  if (!opts.ok()) return Usage(std::string(opts.status().message()), "analyze");
  if (opts->help()) {
    std::cout << kAnalyzeHelp << kSharedOptions << kReportStyleHelp << kAnalyzeExit;
    return kExitOk;
  }
  if (opts->Get("--fail-on")) return Usage("--fail-on belongs to check", "analyze");
  CommonOptions common;
  if (auto exit = ParseCommon(*opts, "analyze", common)) return *exit;
  std::vector<findings::Report> reports;
  if (auto exit = AnalyzeAll(common, reports)) return *exit;
  return Emit(reports, common);
}

int CheckCommand(const Args& args) {
  auto opts = ParseOptions(args, kSpec);
  if (!opts.ok()) return Usage(std::string(opts.status().message()), "check");
  if (opts->help()) {
    std::cout << kCheckHelp << kSharedOptions << kReportStyleHelp << kCheckExit;
    return kExitOk;
  }
  CommonOptions common;
  if (auto exit = ParseCommon(*opts, "check", common)) return *exit;
  std::string fail_on = opts->Get("--fail-on").value_or("warning");
  std::optional<int> threshold = ParseFailOn(fail_on);
  if (!threshold) {
    return Usage(absl::StrCat("unknown --fail-on ", fail_on, "; use error, warning, note or never"), "check");
  }
  common.render.fail_on = *threshold;

  std::vector<findings::Report> reports;
  if (auto exit = AnalyzeAll(common, reports)) return *exit;
  if (int exit = Emit(reports, common); exit != kExitOk) return exit;
  for (const auto& report : reports) {
    for (const auto& f : report.findings()) {
      if (f.severity() >= *threshold) return kExitFindings;
    }
  }
  return kExitOk;
}

}  // namespace waitgraph::cli
