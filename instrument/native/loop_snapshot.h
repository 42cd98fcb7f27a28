// asyncio tasks as waiters: what each task of an idle event loop awaits,
// and what could still wake the loop (trace events LOOP_IDLE, TASK_INFO,
// TASK_WAITING, ASYNC_LOCK_OWNER, LOOP_WOKEN).
//
//   SelectHook(original)   the replacement of a selector class's `select`
//                          (a method descriptor, like Hook). Per call: a
//                          clock read and two relaxed stores into this
//                          thread's slot before, one store after; nothing is
//                          recorded unless a snapshot was taken meanwhile,
//                          then LOOP_WOKEN on the way out.
//   start_loop_snapshots(idle_ms, snapshot)
//       snapshot(frame) -> None or (loop, [(kind, subject, object, name,
//           arg, stack), ...]): called by the watchdog with the GIL held and
//           recording suppressed, with the innermost frame of a thread that
//           has sat in its selector for `idle_ms`; the events are written as
//           happening on that thread.
//   stop_loop_snapshots()  joins the watchdog (releases the GIL meanwhile)
//   stack_of_frames([frame, ...]) -> interned stack of exactly those frames,
//                          innermost first (0 when not recording); for the
//                          snapshot, whose own thread records nothing.
//
// Zero cost while a loop is busy: the watchdog (a C++ thread, invisible to
// `threading`) reads the slots without the GIL and takes the GIL only for a
// thread that has been in `select` for `idle_ms`. A thread in `select` has
// released the GIL and must take it back to leave, and it writes its slot
// only while holding the GIL: so with the GIL held the watchdog sees a loop
// that runs nothing, and its snapshot is consistent. Each stay in the
// selector is snapshotted at most once, and a loop at most once a second.
//
// Fork: the watchdog uses no mutex or condition variable (it sleeps in short
// steps and reads an atomic stop flag), so a forked child inherits no lock
// mid-use; the child forgets the parent's thread and slots
// (pthread_atfork) and starts its own watchdog if it records.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_LOOP_SNAPSHOT_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_LOOP_SNAPSHOT_H_

#include <Python.h>

namespace waitgraph::shim {

// Adds SelectHook and the functions above to `module`.
bool InitLoopSnapshot(PyObject* module);
// Stops and joins the watchdog if running. Call without the GIL.
void StopLoopSnapshots();

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_LOOP_SNAPSHOT_H_
