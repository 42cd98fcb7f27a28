// The hot path shared by the Python-facing emit() and the C hooks: turn
// Python arguments into ids and append one fixed-size record. GIL held.
// Nothing here raises: Python errors are cleared, C++ failures disable
// recording with one warning.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_EMIT_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_EMIT_H_

#include <Python.h>

#include <cstdint>

#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::shim {

// Event kinds and enum values used by the C side, from the trace format.
enum : uint32_t {
  kWaitBegin = trace::WAIT_BEGIN,
  kWaitTarget = trace::WAIT_TARGET,
  kWaitEnd = trace::WAIT_END,
  kShimStopped = trace::SHIM_STOPPED,
};
enum : int64_t {
  kWaitCompleted = trace::WAIT_COMPLETED,
  kWaitTimedOut = trace::WAIT_TIMED_OUT,
  kWaitRaised = trace::WAIT_RAISED,
};

// None -> 0, exact int -> its value, anything else -> its object id.
uint64_t EntityOf(PyObject* obj);
// None -> 0, str -> interned id, int -> taken as an id already.
uint32_t NameOf(PyObject* name);
// Interned id of the current Python stack (0 if none).
uint32_t CaptureStack();
// Appends an event on the current thread if recording is active.
void EmitRaw(uint32_t kind, uint64_t subject, uint64_t object, uint32_t name, int64_t arg,
             uint32_t stack);
// Appends an event stamped as happening on `thread` (the stall watchdog
// records samples on behalf of the stalled thread). The caller checks that
// recording is on.
void EmitOn(uint64_t thread, uint32_t kind, uint64_t subject, uint64_t object, uint32_t name,
            int64_t arg, uint32_t stack);

// WAIT_BEGIN (+ WAIT_TARGET for each extra target when `target` is a list)
// with the caller's stack; returns the wait id, or 0 when not recording.
uint64_t BeginWait(PyObject* target, int64_t arg, PyObject* name);
void EndWait(uint64_t wait_id, int64_t outcome);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_EMIT_H_
