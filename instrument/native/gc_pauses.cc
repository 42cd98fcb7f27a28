#include "instrument/native/gc_pauses.h"

#include <algorithm>

#include "instrument/native/emit.h"
#include "instrument/native/state.h"
#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::shim {

std::atomic<int> g_gc_generation_now{-1};

namespace {

constexpr uint32_t kLoopStallGc = trace::LOOP_STALL_GC;
// Shorter collections cannot make a stall of their own (the threshold is
// 100 ms by default); keeping them would only push the long ones out.
constexpr uint64_t kMinGcNs = 500'000;
constexpr int kRingSize = 256;
// LOOP_STALL_GC per stall at most (a stall of thousands of short
// collections is the code's allocation rate, not one pause).
constexpr int kMaxPerStall = 64;

struct Collection {
  uint64_t begin = 0, end = 0, tid = 0;
  int generation = 0;
};

// Written and read with the GIL held (gc callbacks and stall reports run
// under it), so plain fields suffice.
Collection g_ring[kRingSize];
uint64_t g_ring_next = 0;  // total kept so far; slot = next % size
uint64_t g_started_ns = 0;
int g_started_generation = -1;

PyObject* g_generation_key = nullptr;  // interned "generation"

void OnStart(PyObject* info) {
  int generation = 0;
  if (info != nullptr && PyDict_Check(info)) {
    PyObject* g = PyDict_GetItemWithError(info, g_generation_key);
    if (g != nullptr && PyLong_Check(g)) generation = static_cast<int>(PyLong_AsLong(g));
    if (PyErr_Occurred()) PyErr_Clear();
  }
  g_started_generation = generation;
  g_started_ns = MonotonicNs();
  g_gc_generation_now.store(generation, std::memory_order_relaxed);
}

void OnStop() {
  if (g_started_generation < 0) return;  // installed mid-collection
  uint64_t end = MonotonicNs();
  if (end - g_started_ns >= kMinGcNs) {
    Collection& c = g_ring[g_ring_next++ % kRingSize];
    c = Collection{g_started_ns, end, NativeThreadId(), g_started_generation};
  }
  g_started_generation = -1;
  g_gc_generation_now.store(-1, std::memory_order_relaxed);
}

// gc.callbacks entry: callback(phase, info). Never raises.
PyObject* GcCallbackPy(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs >= 1 && PyUnicode_Check(args[0])) {
    if (PyUnicode_CompareWithASCIIString(args[0], "start") == 0) {
      OnStart(nargs >= 2 ? args[1] : nullptr);
    } else {
      OnStop();
    }
  }
  if (PyErr_Occurred()) PyErr_Clear();
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"gc_callback", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(GcCallbackPy)),
     METH_FASTCALL, "gc.callbacks entry: times collections for loop-stall attribution."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

void ReportGcDuring(uint64_t stall_id, uint64_t begin_ns, uint64_t end_ns) {
  uint64_t first = g_ring_next > kRingSize ? g_ring_next - kRingSize : 0;
  int written = 0;
  // Newest first: the collections that ended inside the stall are the last
  // ones kept.
  for (uint64_t i = g_ring_next; i > first && written < kMaxPerStall; --i) {
    const Collection& c = g_ring[(i - 1) % kRingSize];
    if (c.end <= begin_ns) break;  // older ones ended before the stall too
    uint64_t from = std::max(c.begin, begin_ns), to = std::min(c.end, end_ns);
    if (to <= from) continue;
    EmitOn(c.tid, kLoopStallGc, stall_id, static_cast<uint64_t>(c.generation), 0,
           static_cast<int64_t>(to - from), 0);
    ++written;
  }
}

bool InitGcPauses(PyObject* module) {
  g_generation_key = PyUnicode_InternFromString("generation");
  if (g_generation_key == nullptr) return false;
  return PyModule_AddFunctions(module, kMethods) == 0;
}

}  // namespace waitgraph::shim
