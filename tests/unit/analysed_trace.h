// The unit tests' one way to analyse a hand-written trace: the same
// TraceAnalysis (every analysis wired) and rule input the CLI uses, so a
// test cannot forget an analysis the product runs.
#ifndef WAITGRAPH_TESTS_UNIT_ANALYSED_TRACE_H_
#define WAITGRAPH_TESTS_UNIT_ANALYSED_TRACE_H_

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "gtest/gtest.h"
#include "rules/registry.h"

namespace waitgraph::testing_support {

inline std::string TraceDir() { return std::string(WAITGRAPH_SOURCE_DIR) + "/testdata/traces/"; }

// A trace, its analyses and every rule's findings on it.
struct Analysed {
  explicit Analysed(std::unique_ptr<analyzer::TraceAnalysis> a)
      : analysis(std::move(a)),
        model(analysis->model()),
        classes(analysis->classes()),
        contexts(analysis->contexts()),
        loops(analysis->loop_affinity()),
        stalls(analysis->stalls()),
        saturation(analysis->saturation()) {}

  std::unique_ptr<analyzer::TraceAnalysis> analysis;
  const analyzer::Model& model;
  const analyzer::ClassGraph& classes;
  const analyzer::ContextModel& contexts;
  const analyzer::LoopAffinity& loops;
  const analyzer::StallModel& stalls;
  const analyzer::SaturationModel& saturation;
  std::vector<findings::Finding> findings;
};

// The hand-written traces' project lives in /srv (their stdlib and
// site-packages in /usr): the user's files show as "app.py:12".
inline constexpr char kTraceSourceRoot[] = "/srv";

// Analyses the TextTrace at `path` and runs every rule, as the CLI does.
inline std::unique_ptr<Analysed> AnalyseTextTraceOnce(const std::string& path) {
  auto a = std::make_unique<Analysed>(
      std::make_unique<analyzer::TraceAnalysis>(path, kTraceSourceRoot));
  absl::Status status = a->analysis->LoadTextTrace();
  EXPECT_TRUE(status.ok()) << status;
  std::vector<analyzer::Deadlock> deadlocks = analyzer::FindDeadlocks(a->model);
  rules::Registry registry;
  rules::RegisterAllRules(registry);
  a->findings = registry.Run(rules::InputFor(*a->analysis, deadlocks));
  return a;
}

// What an analysis reports: its findings in full and the trace's notes.
inline std::string ReportOf(const Analysed& a) {
  std::string report;
  for (const auto& f : a.findings) report += f.DebugString() + "\n";
  for (const auto& note : a.analysis->Notes(/*writer_gone=*/true)) report += "note: " + note + "\n";
  return report;
}

// AnalyseTextTraceOnce, checking on the way that no analysis misses an event
// kind it handles: the same trace, with every event sent to every sink
// whatever its Wants() says, must give the same report.
inline std::unique_ptr<Analysed> AnalyseTextTraceAt(const std::string& path) {
  auto a = AnalyseTextTraceOnce(path);
  analyzer::Model::SetEveryEventToEverySink(true);
  auto unfiltered = AnalyseTextTraceOnce(path);
  analyzer::Model::SetEveryEventToEverySink(false);
  EXPECT_EQ(ReportOf(*a), ReportOf(*unfiltered))
      << path << ": a sink's Wants() leaves out an event kind it handles (left: filtered, right: every "
      << "event to every sink)";
  return a;
}

// testdata/traces/<name>.textproto.
inline std::unique_ptr<Analysed> Analyse(const std::string& name) {
  return AnalyseTextTraceAt(TraceDir() + name + ".textproto");
}

// testdata/traces/<name>.expected: "CODE name" per line; empty = silent.
inline std::vector<std::string> ExpectedFindings(const std::string& name) {
  std::ifstream in(TraceDir() + name + ".expected");
  EXPECT_TRUE(in) << "missing " << name << ".expected";
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace waitgraph::testing_support

#endif  // WAITGRAPH_TESTS_UNIT_ANALYSED_TRACE_H_
