// "Nothing can move" (Go's "all goroutines are asleep"): the state in which
// no thread of the process can run and no event loop can be woken, so every
// waiter waits forever, whoever was meant to wake it.
//
// Every live thread the shim knows is one of:
//   blocked      in a recorded wait (WAIT_BEGIN) without a timeout;
//   idle worker  an executor worker between work items (only a submit, from
//                a thread that can move, would give it work);
//   idle loop    runs an event loop that sits in its selector per its latest
//                snapshot (not woken since), with no pending timer and no
//                descriptor or signal handler besides its self-pipe that
//                could wake it, every task of it waiting (the shim writes a
//                snapshot only then);
// and at least one thread or task waits, and no Python signal handler could
// run on a blocked main thread (SIGNAL_HANDLER). Any other thread (running, or in a
// call the shim does not record) can move, and a clean end of the trace
// (SHIM_STOPPED) means the program moved on: no standstill.
#ifndef WAITGRAPH_ANALYZER_STANDSTILL_H_
#define WAITGRAPH_ANALYZER_STANDSTILL_H_

#include <optional>
#include <vector>

#include "analyzer/model.h"

namespace waitgraph::analyzer {

struct Standstill {
  std::vector<ThreadId> blocked_threads;    // in a recorded wait without timeout
  std::vector<ThreadId> idle_workers;       // executor workers with nothing to do
  std::vector<ThreadId> idle_loop_threads;  // run a loop nothing can wake
  std::vector<EntityId> waiting_tasks;      // the tasks of those loops, all waiting
  // When the last of these states began: the standstill has held since.
  TimeNs since = 0;
};

// The standstill at the end of what `model` has seen, if any.
std::optional<Standstill> FindStandstill(const Model& model);

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_STANDSTILL_H_
