// C pre-callbacks of the threading and queue waits that run on every call
// (queue.Queue.get/put, threading.Event.wait, threading.Condition.wait):
// a ThreadPoolExecutor worker takes every work item with Queue.get, so a
// Python callback there ran per work item. Semantics are those of the
// Python callbacks they replace (waitgraph/_hooks_queue.py,
// _hooks_threading.py document them): None when the call cannot block,
// else the wait token (target, arg, api name) the Hook records.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_WAIT_PRE_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_WAIT_PRE_H_

#include <Python.h>

namespace waitgraph::shim {

// Adds queue_get_pre, queue_put_pre, event_wait_pre and condition_wait_pre
// to `module`. False (with a Python error) on failure.
bool InitWaitPre(PyObject* module);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_WAIT_PRE_H_
