// A trace's history laid out as tracks (one per thread, one per event loop)
// holding spans (waits, stalls, loop runs), instants (loop life, findings)
// and flows (hand-offs into a loop): what both timeline renderers draw, the
// Trace Event JSON export and the HTML report's SVG.
#ifndef WAITGRAPH_CLI_TIMELINE_VIEW_H_
#define WAITGRAPH_CLI_TIMELINE_VIEW_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "analyzer/timeline.h"
#include "rules/finding.pb.h"

namespace waitgraph::cli {

using Args2 = std::vector<std::pair<std::string, std::string>>;  // shown as name: value

struct TimelineTrack {
  uint64_t tid = 0;  // the native thread id; for a loop a number of its own
  std::string name;  // "MainThread", "loop 1: event loop created at app.py:40"
  bool is_loop = false;
};

struct TimelineSpan {
  size_t track = 0;
  analyzer::TimeNs begin = 0, end = 0;
  std::string category;  // "wait", "stall", "loop"
  std::string name;      // "Thread.join", "stall: task step handle", "running on MainThread"
  Args2 args;
  bool open = false;     // still going when the trace ends
};

struct TimelineInstant {
  static constexpr size_t kGlobal = static_cast<size_t>(-1);
  size_t track = kGlobal;  // kGlobal: the whole process (findings)
  analyzer::TimeNs time = 0;
  std::string category;  // "loop", "finding"
  std::string name;      // "loop closed", "WG001 cross-call-deadlock"
  Args2 args;
};

struct TimelineFlow {
  size_t from = 0, to = 0;  // tracks: the sending thread, the loop
  analyzer::TimeNs time = 0;
  std::string name;  // "run_coroutine_threadsafe"
  Args2 args;
};

struct TimelineView {
  uint32_t pid = 0;
  std::string process_name;
  analyzer::TimeNs origin = 0, end = 0;  // the trace's first and last times
  std::vector<TimelineTrack> tracks;
  std::vector<TimelineSpan> spans;
  std::vector<TimelineInstant> instants;
  std::vector<TimelineFlow> flows;
};

// Loop tracks take ids from here up (native thread ids are below 2^22).
inline constexpr uint64_t kLoopTrackBase = 1000000000;

// Reads the trace at `path` twice: for its findings (every rule, as
// `analyze` reports them) and for its history.
absl::Status ReadTraceForPictures(const std::string& path, findings::Report& report,
                                  analyzer::TraceHistory& history);

TimelineView BuildTimelineView(const analyzer::TraceHistory& history, const findings::Report& report,
                               const std::string& source_root);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_TIMELINE_VIEW_H_
