// Garbage collections, so that a loop stall spent collecting is called a
// garbage collection pause, not blamed on the line that happened to
// allocate (issue 11 item 5).
//
//   gc_callback(phase, info)   appended to gc.callbacks by _hooks_stall.py.
//                              Per collection: two clock reads and a few
//                              stores (GIL held); nothing is recorded here.
//
// Collections of kMinGcNs or more are kept in a small ring; after an
// overrun callback the stall watchdog asks which of them overlapped it
// (ReportGcDuring) and writes one LOOP_STALL_GC each. A collection on any
// thread counts: it holds the GIL, so the loop thread cannot run meanwhile.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_GC_PAUSES_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_GC_PAUSES_H_

#include <Python.h>

#include <atomic>
#include <cstdint>

namespace waitgraph::shim {

// The generation being collected now, -1 when none. Read by the watchdog
// without the GIL (a collection holds it, so the sample it takes after
// waiting for the GIL shows the allocation that triggered it, not a cause).
extern std::atomic<int> g_gc_generation_now;

// Writes LOOP_STALL_GC for stall `stall_id` for every kept collection that
// overlapped [begin_ns, end_ns]. GIL held, recording active.
void ReportGcDuring(uint64_t stall_id, uint64_t begin_ns, uint64_t end_ns);

// Adds gc_callback to `module`.
bool InitGcPauses(PyObject* module);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_GC_PAUSES_H_
