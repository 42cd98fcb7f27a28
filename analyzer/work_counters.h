// Counts of the steps the analyses' searches take (entries and copies
// looked at), so that tests guard against a quadratic search coming back by
// counting work on a crafted trace, never by timing it.
#ifndef WAITGRAPH_ANALYZER_WORK_COUNTERS_H_
#define WAITGRAPH_ANALYZER_WORK_COUNTERS_H_

#include <cstdint>

namespace waitgraph::analyzer {

struct WorkCounters {
  uint64_t binding_steps = 0;     // ContextModel: accesses and copies looked at per query
  uint64_t handoff_steps = 0;     // ContextModel::HandoffFor: work spans looked at
  uint64_t lost_write_steps = 0;  // lost-context-write: later accesses looked at per write
  uint64_t pending_steps = 0;     // LoopAffinity: pending uses looked at when a loop runs
  uint64_t task_steps = 0;        // Model: tasks looked at per loop snapshot
};

// This thread's counters (an analysis runs on one thread).
inline WorkCounters& Work() {
  thread_local WorkCounters counters;
  return counters;
}

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_WORK_COUNTERS_H_
