// Who blocked when: the history of a trace as spans and instants on the
// threads and event loops, for the timeline pictures (`waitgraph export
// --format trace-event`, the HTML report). The model keeps only the present
// (it forgets ended waits); this sink keeps the past.
#ifndef WAITGRAPH_ANALYZER_TIMELINE_H_
#define WAITGRAPH_ANALYZER_TIMELINE_H_

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "analyzer/model.h"
#include "analyzer/stall_model.h"

namespace waitgraph::analyzer {

// One blocking wait of a thread, from WAIT_BEGIN to WAIT_END.
struct WaitSpan {
  EntityId id = 0;
  ThreadId thread = 0;
  std::string api;
  StackId stack = 0;
  TimeNs begin = 0;
  std::optional<TimeNs> end;  // none: still waiting when the trace ends
  std::vector<Target> targets;
  bool timed_out = false;
  bool raised = false;
};

// An event loop running on a thread, from LOOP_RUN_BEGIN to LOOP_RUN_END.
struct LoopRun {
  EntityId loop = 0;
  ThreadId thread = 0;
  TimeNs begin = 0;
  std::optional<TimeNs> end;  // none: still running when the trace ends
};

// A moment in a loop's life: "created", "stopped", "closed".
struct LoopMark {
  EntityId loop = 0;
  ThreadId thread = 0;  // where it happened
  TimeNs time = 0;
  std::string what;
  StackId stack = 0;
};

// Work handed into a loop from another thread (LOOP_HANDOFF).
struct LoopHandoff {
  EntityId loop = 0;
  ThreadId from = 0;
  TimeNs time = 0;
  std::string api;  // "run_coroutine_threadsafe", "call_soon_threadsafe"
  EntityId future = 0;
};

class Timeline : public EventSink {
 public:
  void OnEvent(const Model& model, const trace::Event& event, TimeNs time) override;
  bool Wants(int kind) const override;

  const std::vector<WaitSpan>& waits() const { return waits_; }
  const std::vector<LoopRun>& loop_runs() const { return loop_runs_; }
  const std::vector<LoopMark>& loop_marks() const { return loop_marks_; }
  const std::vector<LoopHandoff>& handoffs() const { return handoffs_; }
  // Loops in the order they were first seen (their number in pictures).
  const std::vector<EntityId>& loops() const { return loops_; }

 private:
  void SeeLoop(EntityId loop);
  void OnWait(const Model& model, const trace::Event& event, TimeNs time);
  void OnLoop(const Model& model, const trace::Event& event, TimeNs time);

  std::vector<WaitSpan> waits_;
  std::map<EntityId, size_t> open_waits_;  // wait id -> index in waits_
  std::vector<LoopRun> loop_runs_;
  std::map<EntityId, std::vector<size_t>> open_runs_;  // loop -> runs (nested run_until_complete)
  std::vector<LoopMark> loop_marks_;
  std::vector<LoopHandoff> handoffs_;
  std::vector<EntityId> loops_;
  absl::flat_hash_set<EntityId> loops_seen_;  // loops_ as a set: one lookup per loop event
};

// A whole trace read for its history: the model at its end, its stalls and
// its timeline.
struct TraceHistory {
  TraceHistory() = default;
  TraceHistory(const TraceHistory&) = delete;  // the model points at the sinks
  TraceHistory& operator=(const TraceHistory&) = delete;
  Model model;
  StallModel stalls;
  Timeline timeline;
};

// Reads `path` into `history`. A corrupt or cut-off tail keeps what came
// before it; an error only if nothing usable was read.
absl::Status ReadHistory(const std::string& path, TraceHistory& history);

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_TIMELINE_H_
