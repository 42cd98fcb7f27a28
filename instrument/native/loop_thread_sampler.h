// Loop stalls on event loops whose callbacks the shim cannot time (uvloop
// runs its handles, timers and transport callbacks in C: there is no
// Handle._run to wrap), found by sampling the loop's thread instead (issue
// 11 item 6).
//
// What tells, with no per-callback hook, that a loop thread is inside one
// callback: uvloop runs every Python callback inside a contextvars.Context
// -- handles and timers through Context_Enter/Exit, and from 0.16 on its
// transports' protocol callbacks (data_received, ...) through Context.run
// (before 0.16 those run in the loop's own context and are not seen) --
// and CPython bumps the thread state's `context_ver` on every switch of the
// current context. Between callbacks, and while it waits in libuv's poll, the
// thread is back in the context it had when the loop started running. So:
//   thread state's context != the loop's base context -> inside a callback
//   same context_ver as at the previous look          -> the same callback
// A C++ thread reads those two words of each watched thread state every
// threshold/10 (2 ms at least), without the GIL (plain loads; the pointer is
// only compared, never followed), and once one callback has lasted the
// threshold it takes the GIL, checks again and samples the thread's stack as
// the stall watchdog does (LOOP_STALL_SAMPLE). When it sees the callback
// over, it writes LOOP_STALL (and LOOP_STALL_GC) on the loop thread's behalf.
// The duration is known to within one look (threshold/10).
//
// What it cannot see: a callback that switches contexts itself while it
// blocks (Context.run inside it) is seen from that switch on; a C callback
// with no Python frame is timed but its sample shows only the loop's caller;
// Python code uvloop runs outside any context (signal handlers) is not
// watched. These make it miss stalls, never invent one.
//
//   watch_loop_thread(loop, base_frame)
//       with the GIL, on the thread that is starting to run `loop` (an
//       uncovered loop, from asyncio._set_running_loop(loop)): watch it.
//       base_frame: the Python frame that called the loop's run method
//       (names the callback: the outermost frame above it), or None.
//   LoopRunEnd(original)
//       the replacement of asyncio._set_running_loop (around the shim's
//       Hook): with None, it stops watching this thread first, recording or
//       not, so that no thread state is read after its loop stopped.
//
// Safety of the lock-free reads: a thread is watched only between the two
// calls above, i.e. while it is inside the loop's run method, so its thread
// state is alive; un-watching clears the slot and then waits for a read in
// progress (a per-slot `reading` flag, sequentially consistent) to finish.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_LOOP_THREAD_SAMPLER_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_LOOP_THREAD_SAMPLER_H_

#include <Python.h>

namespace waitgraph::shim {

// Adds watch_loop_thread and LoopRunEnd to `module`.
bool InitLoopThreadSampler(PyObject* module);
// Stops and joins the sampler thread if running. Call without the GIL.
void StopLoopThreadSampler();

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_LOOP_THREAD_SAMPLER_H_
