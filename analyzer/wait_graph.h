// The wait-for graph of a moment: threads -> what they block on -> who must
// act for that to end -> the thread that would act. A node that can never
// make progress is deadlocked; a cycle of such nodes is what we report.
//
// Node semantics (see DESIGN.md "The wait-for graph"):
//   thread      AND over its active waits (a thread returns only when every
//               nested wait returns); no waits = running = progress
//   wait        AND over its targets, or OR for any-of waits; a wait with a
//               timeout ends by itself = progress
//   future      -> its producer: the loop for hand-offs, the worker running
//               its work item, or the executor's queue if not started yet;
//               AND every future it completes only after (an AsyncToSync
//               result whose task awaits executor work)
//   loop        -> the thread running it now
//   executor queue   OR over its busy workers, only when all are busy (a
//                    CurrentThreadExecutor's one worker is its own thread)
//   executor drain   AND over its busy workers (shutdown(wait=True))
//   lock        -> the thread holding it (a traced threading Lock/RLock;
//               an untraced lock, a Semaphore or a Barrier has no known
//               holder: free; so has a Lock its own waiter holds or that
//               was once released by a thread not holding it: a Lock used
//               as a signal is released by someone else)
//   semaphore   OR over the threads holding its tokens, when they are known
//               (made while recording, never released by a non-holder)
//   task        an asyncio task waiting per its loop's latest snapshot: AND
//               over what it awaits (or OR, via a task-any-of node) and the
//               thread running its loop (a task runs only on that thread);
//               a timeout-bounded or non-waiting task = progress
//   async lock  -> the task holding it (asyncio.Lock, owner per snapshot)
// Targets with no known producer (a queue, an event) count as progress: we
// never claim a deadlock we cannot show.
#ifndef WAITGRAPH_ANALYZER_WAIT_GRAPH_H_
#define WAITGRAPH_ANALYZER_WAIT_GRAPH_H_

#include <cstdint>
#include <vector>

#include "analyzer/model.h"

namespace waitgraph::analyzer {

enum class NodeKind {
  kThread, kWait, kFuture, kLoop, kExecutorQueue, kExecutorDrain, kLock, kSemaphore,
  kTask, kTaskAnyOf, kAsyncLock,
};

struct NodeKey {
  NodeKind kind;
  uint64_t id;
  bool operator==(const NodeKey& o) const { return kind == o.kind && id == o.id; }
  bool operator<(const NodeKey& o) const {
    return kind != o.kind ? kind < o.kind : id < o.id;
  }
};

struct Deadlock {
  // The cycle, in wait order: each node waits for the next; the last waits
  // for the first.
  std::vector<NodeKey> cycle;
  // Threads that cannot progress because of this cycle but are not on it.
  std::vector<ThreadId> also_blocked;
  // Tasks that cannot progress because of this cycle but are not on it.
  std::vector<EntityId> also_blocked_tasks;
  // Set when the cycle is one executor starving itself: every worker waits
  // for that executor's own queued work (not another pool's, a loop's or a
  // task's).
  std::optional<EntityId> starved_executor;
  // When the last of the cycle's waits began: the cycle has held since.
  TimeNs held_since = 0;
};

// Deadlocks among the waits active at the end of what `model` has seen.
std::vector<Deadlock> FindDeadlocks(const Model& model);

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_WAIT_GRAPH_H_
