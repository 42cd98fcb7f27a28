// C versions of the hottest pre/post callbacks (Future and ThreadPoolExecutor
// work items), so that the per-future cost is a few C calls rather than
// several Python calls. Semantics are those of the Python callbacks they
// replace in waitgraph/_hooks_futures.py (which documents them).
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_FAST_HOOKS_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_FAST_HOOKS_H_

#include <Python.h>

#include <cstdint>

namespace waitgraph::shim {

// Adds the fast callbacks to `module`. False (with a Python error) on failure.
bool InitFastHooks(PyObject* module);

// The "hook context" of this thread: the receiver and call-site stack of the
// innermost running Hook with flag CONTEXT (ThreadPoolExecutor.submit), read
// by the _WorkItem.__init__ callback. Borrowed: valid while that call runs.
struct HookContext {
  PyObject* receiver = nullptr;
  uint32_t stack = 0;
};
inline thread_local HookContext t_hook_context;

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_FAST_HOOKS_H_
