// asyncio tasks as waiters, for an event loop that sits idle in its
// selector: what each task of the loop awaits (a task, a future, a gather,
// a Lock/Event/Semaphore/Condition/Queue), its await chain, who holds each
// awaited asyncio.Lock, and what could still wake the loop. The same
// LOOP_IDLE/TASK_INFO/TASK_WAITING/ASYNC_LOCK_OWNER events as the shim's
// loop snapshots.
#ifndef WAITGRAPH_ATTACH_ASYNCIO_TASKS_H_
#define WAITGRAPH_ATTACH_ASYNCIO_TASKS_H_

#include <vector>

#include "attach/blocking_calls.h"
#include "attach/python_reader.h"

namespace waitgraph::attach {

void ReadLoopTasks(PythonReader& reader, const std::vector<PyThread>& threads, std::vector<Fact>& out);

}  // namespace waitgraph::attach

#endif  // WAITGRAPH_ATTACH_ASYNCIO_TASKS_H_
