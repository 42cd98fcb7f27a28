// `waitgraph graph TRACE`: a picture of a deadlock's wait-for cycle, in DOT
// or SVG (Graphviz's library lays it out).
#include <filesystem>
#include <iostream>
#include <optional>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/cycle_picture.h"
#include "cli/options.h"
#include "cli/report.h"

namespace waitgraph::cli {
namespace {

constexpr char kGraphHelp[] = R"(usage: waitgraph graph TRACE [--finding N] [--format dot|svg] [--output FILE]

Draws the wait-for cycle of a deadlock found in TRACE: threads, event loops,
executors, futures, locks and tasks as nodes (with their roles), each wait
and hand-off as a labelled edge with the user's file:line. A latent cycle
(potential-cross-call-deadlock, lock-order-inversion: each edge seen, never
all at once) is drawn over its classes with dashed edges.

  --finding N          the Nth finding of `waitgraph analyze TRACE` (from 1);
                       default: the first finding with a cycle
  --format dot|svg     DOT text for Graphviz, or SVG laid out by Graphviz's
                       library (default svg)
  --output FILE        write to FILE instead of stdout
  --source-root DIR    paths under DIR are shown relative to it (default: cwd)

exit status: 0 picture written; 2 unreadable trace or bad usage; 4 the output
cannot be written; 6 no such finding, or it has no wait-for cycle to draw
)";

int Usage(const std::string& message) {
  std::cerr << "waitgraph: " << message << " (see `waitgraph graph --help`)\n";
  return kExitBadInput;
}

// Numbers (from 1) of the findings that carry a cycle.
std::vector<int> FindingsWithCycle(const findings::Report& report) {
  std::vector<int> out;
  for (int i = 0; i < report.findings_size(); ++i) {
    if (report.findings(i).cycle().nodes_size() > 0) out.push_back(i + 1);
  }
  return out;
}

// The finding to draw, or an exit status after saying why there is none.
std::variant<const findings::Finding*, int> ChooseFinding(const findings::Report& report,
                                                          std::optional<int> wanted) {
  std::vector<int> with_cycle = FindingsWithCycle(report);
  std::string choices = with_cycle.empty()
                            ? "no finding of this trace has one (no deadlock, actual or latent)"
                            : absl::StrCat("findings with one: ", absl::StrJoin(with_cycle, ", "));
  if (!wanted) {
    if (with_cycle.empty()) {
      std::cerr << "waitgraph: nothing to draw: " << choices << "\n";
      return kExitNoCycle;
    }
    return &report.findings(with_cycle.front() - 1);
  }
  if (*wanted < 1 || *wanted > report.findings_size()) {
    std::cerr << "waitgraph: there is no finding " << *wanted << " (the trace has "
              << report.findings_size() << "); " << choices << "\n";
    return kExitNoCycle;
  }
  const findings::Finding& f = report.findings(*wanted - 1);
  if (f.cycle().nodes_size() == 0) {
    std::cerr << "waitgraph: finding " << *wanted << " (" << f.code() << " " << f.name()
              << ") has no wait-for cycle to draw; " << choices << "\n";
    return kExitNoCycle;
  }
  return &f;
}

}  // namespace

int GraphCommand(const Args& args) {
  auto opts = ParseOptions(args, {.with_value = {"--finding", "--format", "--output", "--source-root"}});
  if (!opts.ok()) return Usage(std::string(opts.status().message()));
  if (opts->help()) {
    std::cout << kGraphHelp;
    return kExitOk;
  }
  if (opts->positional.size() != 1) return Usage("graph takes one trace");
  std::string format = opts->Get("--format").value_or("svg");
  if (format != "dot" && format != "svg") return Usage(absl::StrCat("unknown --format ", format, "; use dot or svg"));
  std::optional<int> wanted;
  if (auto n = opts->Get("--finding")) {
    int value = 0;
    if (!absl::SimpleAtoi(*n, &value)) return Usage(absl::StrCat("--finding takes a number, not ", *n));
    wanted = value;
  }
  std::string root = opts->Get("--source-root").value_or(std::filesystem::current_path().string());

  std::string error;
  auto report = AnalyzeTraceFile(opts->positional[0], error);
  if (!report) {
    std::cerr << "waitgraph: " << error << "; pass a trace written by `waitgraph run --trace` or WAITGRAPH_TRACE\n";
    return kExitBadInput;
  }
  auto chosen = ChooseFinding(*report, wanted);
  if (const int* exit = std::get_if<int>(&chosen)) return *exit;
  const findings::Finding& f = *std::get<const findings::Finding*>(chosen);
  std::string title = absl::StrCat(f.code(), " ", f.name(), ": ", opts->positional[0]);
  auto picture = format == "dot" ? CycleDot(f.cycle(), title, root) : CycleSvg(f.cycle(), title, root);
  if (!picture.ok()) {
    std::cerr << "waitgraph: " << picture.status().message() << "\n";
    return kExitNoCycle;
  }
  if (!WriteOutput(opts->Get("--output").value_or("-"), *picture, error)) {
    std::cerr << "waitgraph: " << error << "; choose another --output\n";
    return kExitCannotWrite;
  }
  return kExitOk;
}

}  // namespace waitgraph::cli
