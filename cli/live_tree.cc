#include "cli/live_tree.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "analyzer/trace_loader.h"
#include "attach/process_memory.h"
#include "attach/python_reader.h"
#include "attach/snapshot_trace.h"
#include "analyzer/wait_graph.h"
#include "cli/process_tree.h"
#include "cli/report.h"
#include "cli/shim_locator.h"
#include "trace/private_files.h"

namespace waitgraph::cli {
namespace {

// The effective uid of process `pid` ("Uid: real effective saved fs" in
// /proc/PID/status), if it exists.
std::optional<uid_t> EffectiveUidOf(long pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    long real = -1, effective = -1;
    if (fields >> real >> effective && effective >= 0) return static_cast<uid_t>(effective);
    return std::nullopt;
  }
  return std::nullopt;
}

// The trace of a living process, through its live pointer, if it has one.
std::optional<std::string> LiveTraceOf(pid_t pid) {
  for (const std::string& path : LivePointerCandidates(pid)) {
    std::optional<trace::LivePointer> pointer = trace::ReadLivePointer(path);
    if (pointer && trace::PointerMatchesLiveProcess(*pointer, pid)) return pointer->trace_path;
  }
  return std::nullopt;
}

// A descendant without a trace, read as `attach PID` reads it: nothing if it
// is not a CPython process we may read (a shell, a helper, no permission).
std::optional<findings::Report> AttachedReport(
    pid_t pid, std::string& blocked, const std::function<std::string(const analyzer::Model&)>& blocked_now,
    const std::string& source_root) {
  auto memory = attach::OpenProcess(pid);
  if (!memory.ok()) return std::nullopt;
  auto reader = attach::PythonReader::Open(**memory);
  if (!reader.ok()) return std::nullopt;
  attach::Snapshot snapshot = attach::TakeSnapshot(**reader);
  analyzer::TraceAnalysis analysis(absl::StrCat("process ", pid, " (read from its memory)"), source_root);
  for (const trace::TraceChunk& chunk : attach::ToTrace(snapshot)) analysis.AddChunk(chunk);
  findings::Report report =
      BuildReport(analysis, analyzer::FindDeadlocks(analysis.model()), /*writer_gone=*/false);
  report.add_notes(absl::StrCat("process ", pid,
                                " records no trace: read from its memory as `waitgraph attach` does "
                                "(one snapshot: no history, objects named by address)"));
  for (const std::string& note : snapshot.notes) report.add_notes(note);
  blocked = blocked_now(analysis.model());
  return report;
}

}  // namespace

std::vector<std::string> LivePointerCandidates(long pid) {
  std::vector<std::string> out = {LivePointerPath(pid)};
  std::optional<uid_t> owner = EffectiveUidOf(pid);
  if (!owner || *owner == geteuid()) return out;
  const char* tmp = std::getenv("TMPDIR");
  for (const std::string& dir :
       {absl::StrCat("/run/user/", *owner, "/waitgraph"),
        absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp", "/waitgraph-", *owner)}) {
    std::string live = absl::StrCat(dir, "/live");
    if (trace::CheckTrustedDir(dir, *owner).ok() && trace::CheckTrustedDir(live, *owner).ok()) {
      out.push_back(absl::StrCat(live, "/", pid));
    }
  }
  return out;
}

int DiagnoseDescendants(pid_t pid, std::vector<findings::Report>& reports,
                        std::vector<std::string>& blocked,
                        const std::function<std::string(const analyzer::Model&)>& blocked_now,
                        const std::string& source_root) {
  int added = 0;
  for (pid_t child : Descendants(pid)) {
    std::optional<std::string> trace_path = LiveTraceOf(child);
    if (!trace_path) {
      std::string blocked_text;
      if (auto report = AttachedReport(child, blocked_text, blocked_now, source_root)) {
        reports.push_back(std::move(*report));
        blocked.push_back(std::move(blocked_text));
        ++added;
      }
      continue;
    }
    analyzer::TraceAnalysis analysis(*trace_path, source_root, analyzer::ModelLimits::Following());
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
