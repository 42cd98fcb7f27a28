// C pre/post callbacks for loop affinity (waitgraph/_hooks_loops.py installs
// them): which loop each asyncio future, task, primitive and transport is
// bound to (LOOP_BOUND, LOOP_OBJECT_CREATED), and the uses that are already
// suspect when they happen (LOOP_FOREIGN_USE: the object's loop is not the
// one running on this thread; LOOP_CALL: a loop method called from a thread
// that does not run the loop, or on a closed loop). Calls from the loop's own
// thread, by far the most frequent, cost a couple of attribute reads and
// emit nothing; the analyzer (analyzer/loop_affinity.h) decides the rest.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_LOOP_CHECKS_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_LOOP_CHECKS_H_

#include <Python.h>

namespace waitgraph::shim {

// Adds the callbacks to `module`. False (with a Python error) on failure.
bool InitLoopChecks(PyObject* module);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_LOOP_CHECKS_H_
