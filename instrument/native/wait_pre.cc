#include "instrument/native/wait_pre.h"

#include <cstdint>

#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::shim {
namespace {

constexpr int64_t kEntityQueue = trace::ENTITY_QUEUE, kEntityEvent = trace::ENTITY_EVENT,
                  kEntityCondition = trace::ENTITY_CONDITION,
                  kWaitHasTimeout = trace::WAIT_HAS_TIMEOUT;

PyObject *s_block, *s_timeout, *s_qsize, *s_maxsize, *s_flag, *s_quiet_queue, *s_zero;
PyObject *s_name_get, *s_name_put, *s_name_event, *s_name_condition;

bool Intern(PyObject** slot, const char* s) {
  *slot = PyUnicode_InternFromString(s);
  return *slot != nullptr;
}

// The argument at `position` (counting self) or passed by `name`; nullptr
// when absent (the default applies).
PyObject* Arg(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, Py_ssize_t position,
              PyObject* name) {
  if (position < nargs) return args[position];
  if (kwnames == nullptr) return nullptr;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i) {
    PyObject* k = PyTuple_GET_ITEM(kwnames, i);
    if (k == name || PyUnicode_Compare(k, name) == 0) return args[nargs + i];
  }
  if (PyErr_Occurred()) PyErr_Clear();
  return nullptr;
}

// 1 true, 0 false, -1 the comparison failed (the original will raise).
int Truth(PyObject* o) {
  int r = PyObject_IsTrue(o);
  if (r < 0) PyErr_Clear();
  return r;
}

// `timeout <= 0`: 1 yes, 0 no, -1 not comparable (the original raises).
int NonPositive(PyObject* timeout) {
  int r = PyObject_RichCompareBool(timeout, s_zero, Py_LE);
  if (r < 0) PyErr_Clear();
  return r;
}

// A wait token (target, arg, name): the Hook records a wait around the call.
PyObject* WaitToken(PyObject* target, int64_t entity, PyObject* timeout, PyObject* name) {
  PyObject* arg = PyLong_FromLongLong(entity | (timeout != nullptr ? kWaitHasTimeout : 0));
  if (arg == nullptr) return nullptr;
  PyObject* r = PyTuple_Pack(3, target, arg, name);
  Py_DECREF(arg);
  return r;
}

PyObject* TimeoutOrNull(PyObject* t) { return t == Py_None ? nullptr : t; }

// 1 when `self._qsize()` (or len(self.queue) through it) is non-zero; 0 when
// zero; -1 on error. Compared with `limit` (maxsize) when given.
int QsizeBelow(PyObject* self, PyObject* limit) {
  PyObject* size = PyObject_CallMethodNoArgs(self, s_qsize);
  if (size == nullptr) {
    PyErr_Clear();
    return -1;
  }
  int r = limit == nullptr ? PyObject_IsTrue(size) : PyObject_RichCompareBool(size, limit, Py_LT);
  Py_DECREF(size);
  if (r < 0) PyErr_Clear();
  return r;
}

// queue_get_pre(tls, self, block=True, timeout=None), tls bound with
// functools.partial: a wait when get() finds the queue empty and may block,
// unless this is the queue of the CurrentThreadExecutor this thread is
// running (tls.quiet_queue: its wait is recorded as run_until_future's).
PyObject* QueueGetPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs < 2) Py_RETURN_NONE;
  PyObject* tls = args[0];
  PyObject* self = args[1];
  PyObject* block = Arg(args + 1, nargs - 1, kwnames, 1, s_block);
  PyObject* timeout = TimeoutOrNull(Arg(args + 1, nargs - 1, kwnames, 2, s_timeout));
  if (block != nullptr && Truth(block) != 1) Py_RETURN_NONE;
  if (QsizeBelow(self, nullptr) != 0) Py_RETURN_NONE;  // does not block (or fails)
  if (timeout != nullptr && NonPositive(timeout) != 0) Py_RETURN_NONE;
  PyObject* quiet = nullptr;
  if (_PyObject_LookupAttr(tls, s_quiet_queue, &quiet) < 0) PyErr_Clear();
  bool is_quiet = quiet == self;
  Py_XDECREF(quiet);
  if (is_quiet) Py_RETURN_NONE;
  return WaitToken(self, kEntityQueue, timeout, s_name_get);
}

// queue_put_pre(self, item, block=True, timeout=None): a wait when put()
// finds a bounded queue full and may block.
PyObject* QueuePutPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs < 1) Py_RETURN_NONE;
  PyObject* self = args[0];
  PyObject* block = Arg(args, nargs, kwnames, 2, s_block);
  PyObject* timeout = TimeoutOrNull(Arg(args, nargs, kwnames, 3, s_timeout));
  if (block != nullptr && Truth(block) != 1) Py_RETURN_NONE;
  PyObject* maxsize = PyObject_GetAttr(self, s_maxsize);
  if (maxsize == nullptr) {
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  int unbounded = NonPositive(maxsize);
  int room = unbounded == 0 ? QsizeBelow(self, maxsize) : -1;
  Py_DECREF(maxsize);
  if (unbounded != 0 || room != 0) Py_RETURN_NONE;
  if (timeout != nullptr && NonPositive(timeout) != 0) Py_RETURN_NONE;
  return WaitToken(self, kEntityQueue, timeout, s_name_put);
}

// event_wait_pre(self, timeout=None): a wait unless the event is set.
PyObject* EventWaitPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs < 1) Py_RETURN_NONE;
  PyObject* self = args[0];
  PyObject* timeout = TimeoutOrNull(Arg(args, nargs, kwnames, 1, s_timeout));
  PyObject* flag = PyObject_GetAttr(self, s_flag);
  if (flag == nullptr) {
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  int set = Truth(flag);
  Py_DECREF(flag);
  if (set != 0) Py_RETURN_NONE;
  if (timeout != nullptr && NonPositive(timeout) != 0) Py_RETURN_NONE;
  return WaitToken(self, kEntityEvent, timeout, s_name_event);
}

// condition_wait_pre(self, timeout=None): always a wait, except a poll.
PyObject* ConditionWaitPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs < 1) Py_RETURN_NONE;
  PyObject* timeout = TimeoutOrNull(Arg(args, nargs, kwnames, 1, s_timeout));
  if (timeout != nullptr && NonPositive(timeout) != 0) Py_RETURN_NONE;
  return WaitToken(args[0], kEntityCondition, timeout, s_name_condition);
}

#define FASTKW(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f))
PyMethodDef kWaitPreMethods[] = {
    {"queue_get_pre", FASTKW(QueueGetPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"queue_put_pre", FASTKW(QueuePutPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"event_wait_pre", FASTKW(EventWaitPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"condition_wait_pre", FASTKW(ConditionWaitPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

bool InitWaitPre(PyObject* module) {
  if (!Intern(&s_block, "block") || !Intern(&s_timeout, "timeout") ||
      !Intern(&s_qsize, "_qsize") || !Intern(&s_maxsize, "maxsize") || !Intern(&s_flag, "_flag") ||
      !Intern(&s_quiet_queue, "quiet_queue") || !Intern(&s_name_get, "queue.Queue.get") ||
      !Intern(&s_name_put, "queue.Queue.put") || !Intern(&s_name_event, "Event.wait") ||
      !Intern(&s_name_condition, "Condition.wait")) {
    return false;
  }
  s_zero = PyLong_FromLong(0);
  return s_zero != nullptr && PyModule_AddFunctions(module, kWaitPreMethods) == 0;
}

}  // namespace waitgraph::shim
