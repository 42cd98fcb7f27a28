// threading.Lock / threading.RLock in C: factories that replace the two
// module attributes and return a wrapper forwarding to the real lock, so
// the shim knows who holds each lock, since where, and in which order locks
// of different classes are taken (trace/waitgraph_trace.proto, LOCK_*).
//
// Hot path (an uncontended acquire + release): a try-lock straight on the
// real lock's C state (CPython 3.11 layout, checked at start-up), the
// holder's native tid and one-frame site kept in the wrapper, and a push /
// pop on this thread's list of held locks. Nothing is written. Written:
//   * LOCK_CLASS once per class (creation site, lockdep's lock class);
//   * LOCK_TRACED when a lock is first contended, or is held while its
//     holder begins another recorded blocking wait; from then on every
//     acquire (LOCK_ACQUIRED) and release (LOCK_RELEASED) of it;
//   * WAIT_BEGIN/WAIT_END around a blocking acquire (ENTITY_LOCK);
//   * LOCK_ORDER the first time per process a class is taken while another
//     is held; LOCK_IN_WORK the first time a class is taken by work of an
//     executor or a loop (lockdep's workqueue pseudo-lock).
// Lock ids are NewEntityId() values kept in the wrapper: an address reused
// by a new lock never inherits an owner.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_LOCK_HOOKS_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_LOCK_HOOKS_H_

#include <Python.h>

#include <cstdint>

namespace waitgraph::shim {

// Adds lock_factories(), lock_work() to `module`. False (with a Python
// error) on failure.
bool InitLockHooks(PyObject* module);

// Called just before a WAIT_BEGIN of any recorded wait on this thread:
// every lock this thread holds becomes traced (LOCK_TRACED), so the
// analyzer knows what is held across the wait. GIL held.
void TraceHeldLocksBeforeWait();

// Work of an executor (kind ENTITY_EXECUTOR) or a loop (ENTITY_LOOP) runs on
// this thread from Enter to Leave: locks taken meanwhile are "taken by that
// work" (LOCK_IN_WORK). Nested: innermost last. GIL held.
void EnterLockWork(int64_t kind, uint64_t entity);
void LeaveLockWork(uint64_t entity);

// The child of fork() (pthread_atfork, after the thread-id cache is
// cleared): the forking thread has a new native id there; the locks it
// holds are held under that id.
void LockHooksAfterForkInChild();

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_LOCK_HOOKS_H_
