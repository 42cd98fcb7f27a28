// Who holds each asyncio.Lock. asyncio.Lock has no owner attribute, so C
// pre-hooks on Lock.acquire and Lock.release note which task called:
//
//   async_lock_acquire_pre(lock)   the `pre` of Hook(Lock.acquire): the
//       calling task takes the lock now if it is free with nobody queued
//       (the fast path of Lock.acquire, checked the same way), else it
//       becomes a pending acquirer.
//   async_lock_release_pre(lock)   the `pre` of Hook(Lock.release): the lock
//       is free again; pending acquirers that no longer wait for it (the one
//       that got it, or one cancelled) are forgotten.
//   async_lock_owner(lock) -> (owner task id or 0, [pending task ids])
//   set_async_lock_helpers(current_task, waiting_task_ids)
//       current_task() -> the running task or None (asyncio.current_task);
//       waiting_task_ids(lock) -> ids of the tasks queued on the lock.
//
// The snapshot (waitgraph/_hooks_tasks.py) names an owner only when it is
// certain: the fast-path taker, or the single pending acquirer that is alive
// and not queued on the lock. Nothing is added to the lock or the task; ids
// are entity ids (object_ids.h), never addresses. Writes no event.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_ASYNC_LOCK_OWNERS_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_ASYNC_LOCK_OWNERS_H_

#include <Python.h>

namespace waitgraph::shim {

bool InitAsyncLockOwners(PyObject* module);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_ASYNC_LOCK_OWNERS_H_
