#include "instrument/native/emit.h"

#include <new>

#include "instrument/native/lock_hooks.h"
#include "instrument/native/object_ids.h"
#include "instrument/native/recorder.h"
#include "instrument/native/stack_walker.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {

uint64_t EntityOf(PyObject* obj) {
  if (obj == nullptr || obj == Py_None) return 0;
  if (PyLong_CheckExact(obj)) {
    uint64_t v = PyLong_AsUnsignedLongLongMask(obj);
    if (PyErr_Occurred()) PyErr_Clear();
    return v;
  }
  return ObjectId(obj);
}

uint32_t NameOf(PyObject* name) {
  if (name == nullptr || name == Py_None) return 0;
  if (PyUnicode_Check(name)) {
    Py_ssize_t n = 0;
    const char* p = PyUnicode_AsUTF8AndSize(name, &n);
    if (p == nullptr) {
      PyErr_Clear();
      return 0;
    }
    try {
      return TheRecorder().InternString(std::string_view(p, size_t(n)));
    } catch (const std::bad_alloc&) {
      TheRecorder().Disable("out of memory");
      return 0;
    }
  }
  if (PyLong_CheckExact(name)) {
    uint32_t v = uint32_t(PyLong_AsUnsignedLongMask(name));
    if (PyErr_Occurred()) PyErr_Clear();
    return v;
  }
  return 0;
}

uint32_t CaptureStack() {
  try {
    return TheStackWalker().Capture(TheRecorder());
  } catch (const std::bad_alloc&) {
    TheRecorder().Disable("out of memory");
    return 0;
  }
}

void EmitRaw(uint32_t kind, uint64_t subject, uint64_t object, uint32_t name, int64_t arg,
             uint32_t stack) {
  if (!Active()) return;
  EmitOn(NativeThreadId(), kind, subject, object, name, arg, stack);
}

void EmitOn(uint64_t thread, uint32_t kind, uint64_t subject, uint64_t object, uint32_t name,
            int64_t arg, uint32_t stack) {
  EventRecord e;
  e.time_ns = MonotonicNs();
  e.thread = thread;
  e.subject = subject;
  e.object = object;
  e.arg = arg;
  e.stack = stack;
  e.name = name;
  e.kind = kind;
  try {
    TheRecorder().Append(e);
  } catch (const std::bad_alloc&) {
    TheRecorder().Disable("out of memory");
  }
}

uint64_t BeginWait(PyObject* target, int64_t arg, PyObject* name) {
  if (!Active()) return 0;
  TraceHeldLocksBeforeWait();  // what this thread holds across the wait
  uint64_t wait_id = NewEntityId();
  uint32_t name_id = NameOf(name);
  uint32_t stack = CaptureStack();
  if (target != nullptr && PyList_CheckExact(target)) {
    Py_ssize_t n = PyList_GET_SIZE(target);
    uint64_t first = n > 0 ? EntityOf(PyList_GET_ITEM(target, 0)) : 0;
    EmitRaw(kWaitBegin, wait_id, first, name_id, arg, stack);
    for (Py_ssize_t i = 1; i < PyList_GET_SIZE(target); ++i) {
      EmitRaw(kWaitTarget, wait_id, EntityOf(PyList_GET_ITEM(target, i)), 0, arg & 0xff, 0);
    }
  } else {
    EmitRaw(kWaitBegin, wait_id, EntityOf(target), name_id, arg, stack);
  }
  return wait_id;
}

void EndWait(uint64_t wait_id, int64_t outcome) {
  if (wait_id == 0) return;
  EmitRaw(kWaitEnd, wait_id, 0, 0, outcome, 0);
}

}  // namespace waitgraph::shim
