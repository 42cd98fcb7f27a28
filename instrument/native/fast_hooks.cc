#include "instrument/native/fast_hooks.h"
#include "trace/waitgraph_trace.pb.h"

#include "instrument/native/emit.h"
#include "instrument/native/lock_hooks.h"
#include "instrument/native/object_ids.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

// Proto values used here.
constexpr int64_t kEntityExecutor = trace::ENTITY_EXECUTOR;
constexpr uint32_t kWorkBegin = trace::WORK_BEGIN, kWorkEnd = trace::WORK_END,
                   kExecutorSubmit = trace::EXECUTOR_SUBMIT, kFutureDone = trace::FUTURE_DONE;
constexpr int64_t kEntityFuture = trace::ENTITY_FUTURE, kWaitHasTimeout = trace::WAIT_HAS_TIMEOUT;

PyObject *s_state, *s_pending, *s_cancelled, *s_cancelled_notified, *s_finished, *s_timeout,
    *s_future, *s_executor_attr, *s_qualname, *s_func, *s_args, *s_name_result, *s_name_exception;
PyTypeObject* g_partial_type = nullptr;

bool Intern(PyObject** slot, const char* s) {
  *slot = PyUnicode_InternFromString(s);
  return *slot != nullptr;
}

bool SameStr(PyObject* a, PyObject* b) {
  if (a == b) return true;
  if (!PyUnicode_Check(a)) return false;
  return PyUnicode_Compare(a, b) == 0;
}

// -1 unknown, 0 pending/running, 1 done (finished or cancelled).
int FutureDone(PyObject* future) {
  PyObject* state = PyObject_GetAttr(future, s_state);
  if (state == nullptr) {
    PyErr_Clear();
    return -1;
  }
  int done = SameStr(state, s_finished) || SameStr(state, s_cancelled) ||
             SameStr(state, s_cancelled_notified);
  Py_DECREF(state);
  return done;
}

bool IsPending(PyObject* future) {
  PyObject* state = PyObject_GetAttr(future, s_state);
  if (state == nullptr) {
    PyErr_Clear();
    return false;
  }
  bool pending = SameStr(state, s_pending);
  Py_DECREF(state);
  return pending;
}

// The `timeout` argument of f(self, timeout=None): nullptr if absent/None.
PyObject* TimeoutArg(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* t = nargs >= 2 ? args[1] : nullptr;
  if (t == nullptr && kwnames != nullptr) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i)
      if (SameStr(PyTuple_GET_ITEM(kwnames, i), s_timeout)) t = args[nargs + i];
  }
  return t == Py_None ? nullptr : t;
}

bool NonPositive(PyObject* t) {
  if (PyFloat_Check(t)) return PyFloat_AS_DOUBLE(t) <= 0;
  if (PyLong_Check(t)) return _PyLong_Sign(t) <= 0;
  return false;
}

PyObject* WaitOnFuture(PyObject* const* args, size_t nargsf, PyObject* kwnames, PyObject* name) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs < 1 || FutureDone(args[0]) != 0) Py_RETURN_NONE;
  PyObject* timeout = TimeoutArg(args, nargs, kwnames);
  if (timeout != nullptr && NonPositive(timeout)) Py_RETURN_NONE;
  PyObject* arg = PyLong_FromLongLong(kEntityFuture | (timeout ? kWaitHasTimeout : 0));
  if (arg == nullptr) return nullptr;
  PyObject* r = PyTuple_Pack(3, args[0], arg, name);
  Py_DECREF(arg);
  return r;
}

// Future.result / Future.exception pre: a wait on the future unless it
// cannot block.
PyObject* FutureResultPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  return WaitOnFuture(args, nargsf, kwnames, s_name_result);
}
PyObject* FutureExceptionPre(PyObject*, PyObject* const* args, size_t nargsf,
                             PyObject* kwnames) {
  return WaitOnFuture(args, nargsf, kwnames, s_name_exception);
}

// Future.set_result / set_exception pre: FUTURE_DONE just before the
// transition (before waiters wake and done-callbacks run).
PyObject* FutureSetDonePre(PyObject*, PyObject* const* args, size_t nargsf, PyObject*) {
  if (PyVectorcall_NARGS(nargsf) >= 1 && FutureDone(args[0]) == 0)
    EmitRaw(kFutureDone, ObjectId(args[0]), 0, 0, 0, 0);
  Py_RETURN_NONE;
}

// Future.cancel pre: it transitions only from PENDING.
PyObject* FutureCancelPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject*) {
  if (PyVectorcall_NARGS(nargsf) >= 1 && IsPending(args[0]))
    EmitRaw(kFutureDone, ObjectId(args[0]), 0, 0, 0, 0);
  Py_RETURN_NONE;
}

// A bound contextvars Context.run: what it is handed is the job.
bool IsContextRun(PyObject* fn) {
  return PyCFunction_Check(fn) && PyCFunction_GET_SELF(fn) != nullptr &&
         PyContext_CheckExact(PyCFunction_GET_SELF(fn));
}

// What a partial will call, as a new reference (nullptr if `fn` is no
// partial): its function, or, past a Context.run, the job that runs in the
// context -- partial(ctx.run, job) (asyncio.to_thread) or asgiref's
// partial(thread_handler, loop, task, exc_info, ctx.run, job) -- so that a
// sync_to_async job is named by the user's function, not the trampoline.
PyObject* CalleeOfPartial(PyObject* fn) {
  if (g_partial_type == nullptr || !PyObject_TypeCheck(fn, g_partial_type)) return nullptr;
  PyObject* func = PyObject_GetAttr(fn, s_func);
  PyObject* args = func == nullptr ? nullptr : PyObject_GetAttr(fn, s_args);
  if (args == nullptr || !PyTuple_Check(args)) {
    PyErr_Clear();
    Py_XDECREF(args);
    return func;
  }
  PyObject* job = nullptr;
  Py_ssize_t n = PyTuple_GET_SIZE(args);
  if (IsContextRun(func) && n >= 1) job = PyTuple_GET_ITEM(args, 0);
  for (Py_ssize_t i = 0; job == nullptr && i + 1 < n; ++i) {
    if (IsContextRun(PyTuple_GET_ITEM(args, i))) job = PyTuple_GET_ITEM(args, i + 1);
  }
  if (job != nullptr) {
    Py_INCREF(job);
    Py_DECREF(func);
    func = job;
  }
  Py_DECREF(args);
  return func;
}

uint32_t QualnameOf(PyObject* fn) {
  Py_INCREF(fn);
  for (int i = 0; i < 8; ++i) {
    PyObject* inner = CalleeOfPartial(fn);
    if (inner == nullptr) break;
    Py_DECREF(fn);
    fn = inner;
  }
  PyObject* q = PyObject_GetAttr(fn, s_qualname);
  if (q == nullptr || !PyUnicode_Check(q)) {
    PyErr_Clear();
    Py_XDECREF(q);
    q = PyObject_GetAttr(reinterpret_cast<PyObject*>(Py_TYPE(fn)), s_qualname);
    if (q == nullptr) PyErr_Clear();
  }
  Py_DECREF(fn);
  uint32_t id = NameOf(q);
  Py_XDECREF(q);
  return id;
}

// _WorkItem.__init__(self, future, fn, args, kwargs) pre: EXECUTOR_SUBMIT,
// while ThreadPoolExecutor.submit (a CONTEXT hook) is running on this
// thread; the executor id rides on the internal work item.
PyObject* WorkItemInitPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject*) {
  HookContext& ctx = t_hook_context;
  if (ctx.receiver == nullptr || PyVectorcall_NARGS(nargsf) < 3) Py_RETURN_NONE;
  uint64_t eid = ObjectId(ctx.receiver);
  uint32_t stack = ctx.stack;
  ctx.receiver = nullptr;  // one work item per submit()
  PyObject* id = PyLong_FromUnsignedLongLong(eid);
  if (id == nullptr || PyObject_SetAttr(args[0], s_executor_attr, id) < 0) {
    PyErr_Clear();
    Py_XDECREF(id);
    Py_RETURN_NONE;
  }
  Py_DECREF(id);
  EmitRaw(kExecutorSubmit, eid, ObjectId(args[1]), QualnameOf(args[2]), 0, stack);
  Py_RETURN_NONE;
}

// _WorkItem.run pre/post: WORK_BEGIN/END on the worker, unless the future
// was cancelled (then run() does not call the function).
PyObject* WorkItemRunPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject*) {
  if (PyVectorcall_NARGS(nargsf) < 1) Py_RETURN_NONE;
  PyObject* item = args[0];
  PyObject* eid = nullptr;
  if (_PyObject_LookupAttr(item, s_executor_attr, &eid) <= 0) {
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  PyObject* future = PyObject_GetAttr(item, s_future);
  if (future == nullptr) {
    PyErr_Clear();
    Py_DECREF(eid);
    Py_RETURN_NONE;
  }
  if (!IsPending(future)) {
    Py_DECREF(future);
    Py_DECREF(eid);
    Py_RETURN_NONE;
  }
  EmitRaw(kWorkBegin, EntityOf(eid), ObjectId(future), 0, 0, 0);
  EnterLockWork(kEntityExecutor, EntityOf(eid));  // locks it takes are "taken by its work"
  PyObject* token = PyList_New(2);  // a list: "not a wait"
  if (token == nullptr) {
    PyErr_Clear();
    Py_DECREF(future);
    Py_DECREF(eid);
    Py_RETURN_NONE;
  }
  PyList_SET_ITEM(token, 0, eid);
  PyList_SET_ITEM(token, 1, future);
  return token;
}

PyObject* WorkItemRunPost(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs >= 1 && PyList_CheckExact(args[0]) && PyList_GET_SIZE(args[0]) == 2) {
    LeaveLockWork(EntityOf(PyList_GET_ITEM(args[0], 0)));
    EmitRaw(kWorkEnd, EntityOf(PyList_GET_ITEM(args[0], 0)),
            ObjectId(PyList_GET_ITEM(args[0], 1)), 0, 0, 0);
  }
  Py_RETURN_NONE;
}

#define FASTKW(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f))
PyMethodDef kFastMethods[] = {
    {"future_result_pre", FASTKW(FutureResultPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"future_exception_pre", FASTKW(FutureExceptionPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"future_set_done_pre", FASTKW(FutureSetDonePre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"future_cancel_pre", FASTKW(FutureCancelPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"workitem_init_pre", FASTKW(WorkItemInitPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"workitem_run_pre", FASTKW(WorkItemRunPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"workitem_run_post", FASTKW(WorkItemRunPost), METH_FASTCALL, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

bool InitFastHooks(PyObject* module) {
  if (!Intern(&s_state, "_state") || !Intern(&s_pending, "PENDING") ||
      !Intern(&s_cancelled, "CANCELLED") ||
      !Intern(&s_cancelled_notified, "CANCELLED_AND_NOTIFIED") ||
      !Intern(&s_finished, "FINISHED") || !Intern(&s_timeout, "timeout") ||
      !Intern(&s_future, "future") || !Intern(&s_executor_attr, "_waitgraph_executor") ||
      !Intern(&s_qualname, "__qualname__") || !Intern(&s_func, "func") ||
      !Intern(&s_args, "args") ||
      !Intern(&s_name_result, "Future.result") || !Intern(&s_name_exception, "Future.exception")) {
    return false;
  }
  PyObject* functools = PyImport_ImportModule("functools");
  if (functools != nullptr) {
    PyObject* partial = PyObject_GetAttrString(functools, "partial");
    if (partial != nullptr && PyType_Check(partial)) {
      g_partial_type = reinterpret_cast<PyTypeObject*>(partial);  // keep the reference
    } else {
      Py_XDECREF(partial);
    }
    Py_DECREF(functools);
  }
  PyErr_Clear();
  return PyModule_AddFunctions(module, kFastMethods) == 0;
}

}  // namespace waitgraph::shim
