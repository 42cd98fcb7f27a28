#include "cli/live_tree.h"

#include "absl/strings/str_cat.h"
#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "cli/process_tree.h"
#include "cli/report.h"
#include "cli/shim_locator.h"
#include "trace/private_files.h"

namespace waitgraph::cli {

int DiagnoseDescendants(pid_t pid, std::vector<findings::Report>& reports,
                        std::vector<std::string>& blocked,
                        const std::function<std::string(const analyzer::Model&)>& blocked_now,
                        const std::string& source_root) {
  int added = 0;
  for (pid_t child : Descendants(pid)) {
    std::optional<trace::LivePointer> pointer = trace::ReadLivePointer(LivePointerPath(child));
    if (!pointer || !trace::PointerMatchesLiveProcess(*pointer, child)) continue;
    analyzer::TraceAnalysis analysis(pointer->trace_path, source_root,
                                     analyzer::ModelLimits::Following());
    analysis.Poll();
    if (analysis.unusable() || analysis.model().stats().chunks == 0) continue;
    analysis.AdvanceClock(MonotonicNowNs());  // alive: its open waits last until now
    reports.push_back(
        BuildReport(analysis, analyzer::FindDeadlocks(analysis.model()), /*writer_gone=*/false));
    blocked.push_back(blocked_now(analysis.model()));
    ++added;
  }
  return added;
}

std::string LiveBlockedText(const std::vector<findings::Report>& reports,
                            const std::vector<std::string>& blocked) {
  if (reports.size() == 1 && !blocked.empty()) return blocked[0];
  std::string out;
  for (size_t i = 0; i < reports.size() && i < blocked.size(); ++i) {
    std::string role = DescribeRole(reports[i]);
    absl::StrAppend(&out, "process ", reports[i].pid(), role.empty() ? "" : ", ", role, ": ",
                    blocked[i], i + 1 < reports.size() ? "\n" : "");
  }
  return out;
}

}  // namespace waitgraph::cli
