// Loop stall detection: a timer around every asyncio callback and task step
// (asyncio.events.Handle._run) and a C++ watchdog thread that notices, without
// the GIL, a loop thread stuck in one callback longer than a threshold, and
// then samples that thread's Python stack while it is still stuck.
//
//   StallTimer(original)            the replacement of Handle._run (a method
//                                   descriptor, like Hook). Per call: two
//                                   clock reads and two relaxed stores into
//                                   this thread's slot; nothing is recorded
//                                   unless the callback overran.
//   start_stall_watchdog(threshold_ms, on_stall, describe_call)
//       on_stall(handle, duration_ns) -> (loop, callback_name,
//           [(count, delay_ns, what), ...]) or None: called on the loop
//           thread after an overrun callback, to say what it was and what it
//           held up (LOOP_STALL, LOOP_STALL_DELAYED).
//       describe_call(frame) -> "time.sleep" or None: the call the stalled
//           frame is in, called by the watchdog with the GIL held.
//   stop_stall_watchdog()           joins the watchdog (call without the GIL)
//   capture_frame_stack(frame) -> interned stack id of `frame` outwards
//
// How the watchdog samples another thread: it polls the slots (atomics) every
// threshold/4; a slot whose callback began more than `threshold` ago makes it
// take the GIL (PyGILState_Ensure). A stalled thread that blocks in C
// (time.sleep, socket I/O, lock waits) has released the GIL; one busy in
// Python bytecode gives it up within the switch interval (5 ms) when another
// thread asks. With the GIL held, the slot is re-checked (loop threads only
// change it while holding the GIL) and the stalled thread's frames are read
// from its PyThreadState, as sys._current_frames() does. A thread stuck in C
// code that keeps the GIL delays the sample until it lets go. A slow GIL
// is the stalled thread's own computing only if it held the GIL; another
// thread holding it leaves the stalled one waiting for the GIL (gil_wait.h).
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_STALL_WATCHDOG_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_STALL_WATCHDOG_H_

#include <Python.h>

#include <cstdint>

#include "instrument/native/gil_wait.h"

namespace waitgraph::shim {

// Adds StallTimer and the functions above to `module`.
bool InitStallWatchdog(PyObject* module);
// Stops and joins the watchdog if running. Call without the GIL.
void StopStallWatchdog();
// The child of fork(): the watchdog thread does not exist there.
void AbandonStallWatchdogAfterFork();

// The stall threshold (WAITGRAPH_STALL_MS), in ns.
uint64_t StallThresholdNs();
// With the GIL held, from a thread other than `ts`'s: one LOOP_STALL_SAMPLE
// of thread `tid` (state `ts`) for stall `stall_id`, whose callback began at
// `start_ns`: its stack and the call it is in, as the watchdog samples (see
// above; `gil` says what the thread did while the GIL was asked for, and a
// LOOP_STALL_GIL follows the sample when it was waiting for the GIL). Also
// used by the loop-thread sampler (loop_thread_sampler.h).
void SampleStalledThread(uint64_t tid, uint64_t stall_id, PyThreadState* ts, uint64_t start_ns,
                         const GilVerdict& gil);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_STALL_WATCHDOG_H_
