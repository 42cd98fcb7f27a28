#include "cli/report.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/output_file.h"
#include "cli/render_json.h"
#include "cli/render_junit.h"
#include "cli/render_sarif.h"
#include "cli/render_text.h"
#include "rules/registry.h"

namespace waitgraph::cli {

findings::Report BuildReport(const analyzer::TraceAnalysis& analysis,
                             const std::vector<analyzer::Deadlock>& deadlocks, bool writer_gone) {
  static const rules::Registry* registry = [] {
    auto* r = new rules::Registry();
    rules::RegisterAllRules(*r);
    return r;
  }();
  findings::Report report;
  report.set_trace(analysis.path());
  report.set_events(analysis.model().stats().events);
  const trace::ProcessInfo& process = analysis.model().process();
  report.set_pid(process.pid());
  report.set_parent_pid(process.parent_pid());
  if (process.argv_size() > 0) report.set_program(process.argv(0));
  report.set_origin(process.origin());
  report.set_start_monotonic_ns(process.start_monotonic_ns());
  report.set_superseded_by_exec(analysis.model().superseded_by_exec());
  rules::AnalysisInput input = rules::InputFor(analysis, deadlocks);
  for (auto& f : registry->Run(input)) {
    if (f.time_ns() != 0) f.set_scope(analysis.model().ScopeAt(f.time_ns()));
    *report.add_findings() = std::move(f);
  }
  for (auto& note : analysis.Notes(writer_gone)) report.add_notes(std::move(note));
  std::set<std::string> files;
  for (const auto& [id, frame] : analysis.model().frames()) {
    if (!frame.library && !frame.file.empty() && frame.file[0] != '<') files.insert(frame.file);
  }
  for (const auto& file : files) report.add_source_files(file);
  return report;
}

// Keeps `analysis` reachable (a leak checker does not count it) and never
// destroys it: the process's exit reclaims its memory.
static void LeaveToExit(std::unique_ptr<analyzer::TraceAnalysis> analysis) {
  static auto* const kept = new std::vector<std::unique_ptr<analyzer::TraceAnalysis>>();
  kept->push_back(std::move(analysis));
}

std::optional<findings::Report> AnalyzeTraceFile(const std::string& path, std::string& error,
                                                 const std::string& source_root,
                                                 bool leave_to_exit) {
  auto analysis = std::make_unique<analyzer::TraceAnalysis>(path, source_root);
  analysis->Poll();
  if (analysis->unusable()) {
    error = std::string(analysis->status().message());
    return std::nullopt;
  }
  if (analysis->model().stats().chunks == 0) {
    error = absl::StrCat(path, " holds no complete chunk (empty or cut off before the first)");
    return std::nullopt;
  }
  findings::Report report =
      BuildReport(*analysis, analyzer::FindDeadlocks(analysis->model()), /*writer_gone=*/true);
  if (leave_to_exit) LeaveToExit(std::move(analysis));
  return report;
}

std::optional<Format> ParseFormat(const std::string& name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  if (name == "sarif") return Format::kSarif;
  if (name == "junit") return Format::kJunit;
  return std::nullopt;
}

std::string Render(const std::vector<findings::Report>& reports, const RenderOptions& options) {
  switch (options.format) {
    case Format::kJson: return RenderJson(reports);
    case Format::kSarif: return RenderSarif(reports, options.source_root);
    case Format::kJunit: return RenderJunit(reports, options.fail_on);
    case Format::kText: break;
  }
  return RenderText(reports, options.text);
}

bool WriteOutput(const std::string& path, const std::string& text, std::string& error) {
  if (path == "-") {
    std::cout << text << std::flush;
    return true;
  }
  return WriteOutputFile(path, text, error);
}

}  // namespace waitgraph::cli
