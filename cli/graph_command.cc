// `waitgraph graph TRACE`: a picture of a deadlock's wait-for cycle, in DOT
// or SVG (Graphviz's library lays it out).
#include <iostream>
#include <optional>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/cycle_picture.h"
#include "cli/picture_args.h"
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
  auto parsed = ParsePictureArgs(args, {.name = "graph",
                                        .help = kGraphHelp,
                                        .formats = {"svg", "dot"},
                                        .traces_wanted = "graph takes one trace",
                                        .more_values = {"--finding"}});
  if (const int* exit = std::get_if<int>(&parsed)) return *exit;
  const PictureArgs& picture = std::get<PictureArgs>(parsed);
  std::optional<int> wanted;
  if (auto n = picture.options.Get("--finding")) {
    int value = 0;
    if (!absl::SimpleAtoi(*n, &value)) return PictureUsage("graph", absl::StrCat("--finding takes a number, not ", *n));
    wanted = value;
  }

  std::string error;
  auto report = AnalyzeTraceFile(picture.traces[0], error);
  if (!report) return UnreadableTrace(error);
  auto chosen = ChooseFinding(*report, wanted);
  if (const int* exit = std::get_if<int>(&chosen)) return *exit;
  const findings::Finding& f = *std::get<const findings::Finding*>(chosen);
  std::string title = absl::StrCat(f.code(), " ", f.name(), ": ", picture.traces[0]);
  const std::string& root = picture.source_root;
  auto drawing = picture.format == "dot" ? CycleDot(f.cycle(), title, root) : CycleSvg(f.cycle(), title, root);
  if (!drawing.ok()) {
    std::cerr << "waitgraph: " << drawing.status().message() << "\n";
    return kExitNoCycle;
  }
  return WritePicture(picture, *drawing);
}

}  // namespace waitgraph::cli
