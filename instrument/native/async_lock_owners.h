// Who holds each asyncio.Lock. asyncio.Lock has no owner attribute, so a C
// pre-hook on Lock.acquire notes which task called:
//
//   async_lock_acquire_pre(lock)   the `pre` of Hook(Lock.acquire). If the
//       lock is free with nobody queued (Lock.acquire's fast path, checked
//       the same way) the calling task has it now: noted in a fixed table
//       keyed by the lock's address, and the lock's pending acquirers are
//       forgotten (none of them holds it). Otherwise the task becomes a
//       pending acquirer (it queues; it will hold the lock after waking,
//       unless cancelled).
//   async_lock_owner(lock) -> (fast-path taker or 0, known, [pending ids])
//   set_async_lock_helpers(get_running_loop, current_tasks)
//       asyncio's get_running_loop and its loop -> current task dict
//       (asyncio.tasks._current_tasks).
//
// Lock.release is not hooked: a released lock is seen unlocked, and a lock
// taken again is re-noted by that acquire. The snapshot
// (waitgraph/_hooks_tasks.py) names an owner only when one candidate is
// left: of the fast-path taker and the pending acquirers, those alive and not
// queued on the lock; two or more (a hand-off to a woken waiter while the
// previous holder lives, a cancelled waiter) or an entry lost to a table
// collision: no owner, never a wrong one.
//
// Cost of an uncontended acquire: one C call of get_running_loop, a dict
// look-up, two attribute reads and a store into the table; only contended
// locks get a heap entry. Nothing is added to the lock or the task; task ids
// are entity ids (object_ids.h). Writes no event.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_ASYNC_LOCK_OWNERS_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_ASYNC_LOCK_OWNERS_H_

#include <Python.h>

namespace waitgraph::shim {

bool InitAsyncLockOwners(PyObject* module);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_ASYNC_LOCK_OWNERS_H_
