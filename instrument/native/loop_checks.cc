#include "instrument/native/loop_checks.h"
#include "trace/waitgraph_trace.pb.h"

#include <pythread.h>

#include <cstring>
#include <new>
#include <unordered_map>

#include "instrument/native/emit.h"
#include "instrument/native/instance_attrs.h"
#include "instrument/native/interp_frames.h"
#include "instrument/native/object_ids.h"
#include "instrument/native/recorder.h"
#include "instrument/native/stack_walker.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

// Stacks of frequent bindings (every future, task and primitive a server
// makes) keep only their innermost frames: enough for the user's line when
// user code made the object, or the framework's call site when a framework
// did. Transports and first uses are rarer and keep the whole stack.
constexpr int kShortStack = 6;

uint32_t ShortStack() {
  try {
    return TheStackWalker().CaptureCurrent(TheRecorder(), kShortStack);
  } catch (const std::bad_alloc&) {
    TheRecorder().Disable("out of memory");
    return 0;
  }
}

// Proto values used here (trace/waitgraph_trace.proto).
constexpr uint32_t kLoopBound = trace::LOOP_BOUND, kLoopObjectCreated = trace::LOOP_OBJECT_CREATED,
                   kLoopForeignUse = trace::LOOP_FOREIGN_USE, kLoopCall = trace::LOOP_CALL;
constexpr int64_t kEntityTask = trace::ENTITY_TASK, kEntityAsyncFuture = trace::ENTITY_ASYNC_FUTURE,
                  kEntityAsyncPrimitive = trace::ENTITY_ASYNC_PRIMITIVE,
                  kEntityAsyncQueue = trace::ENTITY_ASYNC_QUEUE,
                  kEntityTransport = trace::ENTITY_TRANSPORT;
// loop_call_pre flags (mirrored in waitgraph/_hooks_loops.py).
constexpr long kCheckThread = 1, kBindResult = 2;

PyObject *s_loop, *s_closed, *s_thread_id, *s_future_blocking, *s_cancelled, *s_cst_name;
// Resolved on first use: by then asyncio is imported (these hooks sit on
// asyncio classes).
PyObject* g_get_running_loop = nullptr;  // _asyncio._get_running_loop
PyObject* g_task_type = nullptr;         // asyncio.Task
PyObject* g_queue_type = nullptr;        // asyncio.Queue
PyObject* g_future_type = nullptr;       // asyncio.Future

bool Intern(PyObject** slot, const char* s) {
  *slot = PyUnicode_InternFromString(s);
  return *slot != nullptr;
}

PyObject* ImportAttr(const char* module, const char* name) {
  PyObject* m = PyImport_ImportModule(module);
  if (m == nullptr) {
    PyErr_Clear();
    return nullptr;
  }
  PyObject* v = PyObject_GetAttrString(m, name);
  Py_DECREF(m);
  if (v == nullptr) PyErr_Clear();
  return v;
}

bool Resolve() {
  if (g_get_running_loop != nullptr) return true;
  g_task_type = ImportAttr("asyncio", "Task");
  g_queue_type = ImportAttr("asyncio", "Queue");
  g_future_type = ImportAttr("asyncio", "Future");
  g_get_running_loop = ImportAttr("asyncio.events", "_get_running_loop");
  return g_get_running_loop != nullptr;
}

// The loop running on this thread (borrowed-like: a new reference the
// caller releases), or Py_None.
PyObject* RunningLoop() {
  if (!Resolve()) return Py_NewRef(Py_None);
  PyObject* r = PyObject_CallNoArgs(g_get_running_loop);
  if (r == nullptr) {
    PyErr_Clear();
    return Py_NewRef(Py_None);
  }
  return r;
}

// loop._closed and loop._thread_id, read per call_soon/create_* (and per
// call_soon_threadsafe): straight from the loop's inline values when they
// are there (instance_attrs.h), else by the generic look-up.
WgAttrSlot g_closed_slot, g_threadsafe_closed_slot, g_thread_id_slot;

// `loop`'s attribute `name`: 1 and a new reference in *value, 0 if it has
// none, -1 with an exception set (as _PyObject_LookupAttr).
int LoopAttr(PyObject* loop, PyObject* name, WgAttrSlot* slot, PyObject** value) {
  if (PyObject* v = WgInstanceAttr(loop, name, slot)) {
    *value = Py_NewRef(v);
    return 1;
  }
  return _PyObject_LookupAttr(loop, name, value);
}

// self._loop (new reference) or nullptr when absent/None.
PyObject* BoundLoop(PyObject* self) {
  PyObject* loop = nullptr;
  if (_PyObject_LookupAttr(self, s_loop, &loop) <= 0) {
    PyErr_Clear();
    return nullptr;
  }
  if (loop == Py_None) {
    Py_DECREF(loop);
    return nullptr;
  }
  return loop;
}

// Interned name ids per type, for the intern epoch they were interned in (types are
// few; a binding is frequent).
std::unordered_map<PyTypeObject*, uint32_t> g_type_names;
uint64_t g_type_names_generation = 0;

uint32_t TypeName(PyObject* obj) {
  Recorder& recorder = TheRecorder();
  if (g_type_names_generation != recorder.intern_epoch()) {
    g_type_names.clear();
    g_type_names_generation = recorder.intern_epoch();
  }
  auto it = g_type_names.find(Py_TYPE(obj));
  if (it != g_type_names.end()) return it->second;
  PyObject* name = PyType_GetName(Py_TYPE(obj));
  if (name == nullptr) {
    PyErr_Clear();
    return 0;
  }
  uint32_t id = NameOf(name);
  Py_DECREF(name);
  if (id != 0) g_type_names.emplace(Py_TYPE(obj), id);
  return id;
}

int64_t PrimitiveKind(PyObject* obj) {
  if (g_queue_type != nullptr && PyType_Check(g_queue_type) &&
      PyObject_TypeCheck(obj, reinterpret_cast<PyTypeObject*>(g_queue_type))) {
    return kEntityAsyncQueue;
  }
  return kEntityAsyncPrimitive;
}

// A use of `self` from a loop other than the one it is bound to (or from a
// thread running no loop): LOOP_FOREIGN_USE. Returns nothing to the hook.
void CheckUse(PyObject* self, PyObject* name) {
  PyObject* loop = BoundLoop(self);
  if (loop == nullptr) return;
  PyObject* running = RunningLoop();
  if (running != loop) {
    EmitRaw(kLoopForeignUse, ObjectId(self), ObjectId(loop), NameOf(name),
            running == Py_None ? 0 : int64_t(ObjectId(running)), CaptureStack());
  }
  Py_DECREF(running);
  Py_DECREF(loop);
}

// A task awaiting a future of another loop: CPython's C Task step sees it,
// makes RuntimeError("Task ... got Future ... attached to a different loop")
// and schedules it into the task with loop.call_soon(TaskStepMethWrapper).
// Nothing Python-level sees the future, so read it from the wrapper and the
// task's suspended coroutine chain. These two layouts are CPython 3.11's
// private ones (Modules/_asynciomodule.c); they are checked by type name and
// size before use, and the module is built for one minor version.
struct TaskStepMethWrapperLayout {
  PyObject_HEAD PyObject* sw_task;
  PyObject* sw_arg;
};
struct FutureIterLayout {
  PyObject_HEAD PyObject* future;
};
PyTypeObject* g_step_wrapper_type = nullptr;
PyObject *s_await, *s_get_coro, *s_cr_await, *s_gi_yieldfrom, *s_cr_frame, *s_gi_frame;

bool IsStepWrapper(PyObject* cb) {
  PyTypeObject* t = Py_TYPE(cb);
  if (g_step_wrapper_type != nullptr) return t == g_step_wrapper_type;
  if (strcmp(t->tp_name, "TaskStepMethWrapper") != 0 ||
      t->tp_basicsize != sizeof(TaskStepMethWrapperLayout)) {
    return false;
  }
  g_step_wrapper_type = t;
  return true;
}

PyObject* AttrOrNull(PyObject* o, PyObject* name) {
  PyObject* v = nullptr;
  if (_PyObject_LookupAttr(o, name, &v) <= 0) {
    PyErr_Clear();
    return nullptr;
  }
  if (v == Py_None) {
    Py_DECREF(v);
    return nullptr;
  }
  return v;
}

// Called for each call_soon on the loop's own thread: cheap unless `cb` is a
// Task step carrying the different-loop error.
void CheckDifferentLoopAwait(PyObject* loop, PyObject* cb) {
  if (!IsStepWrapper(cb)) return;
  auto* w = reinterpret_cast<TaskStepMethWrapperLayout*>(cb);
  PyObject* exc = w->sw_arg;
  if (exc == nullptr || w->sw_task == nullptr ||
      !PyObject_TypeCheck(exc, reinterpret_cast<PyTypeObject*>(PyExc_RuntimeError)))
    return;
  PyObject* text = PyObject_Str(exc);
  if (text == nullptr) {
    PyErr_Clear();
    return;
  }
  const char* utf8 = PyUnicode_AsUTF8(text);
  bool different = utf8 != nullptr && strstr(utf8, "attached to a different loop") != nullptr;
  Py_DECREF(text);
  if (PyErr_Occurred()) PyErr_Clear();
  if (!different) return;
  PyObject* node = PyObject_CallMethodNoArgs(w->sw_task, s_get_coro);
  if (node == nullptr) {
    PyErr_Clear();
    return;
  }
  PyObject* innermost_coro = nullptr;  // new ref
  for (int depth = 0; depth < 64 && node != nullptr; ++depth) {
    PyObject* next = AttrOrNull(node, s_cr_await);
    if (next == nullptr) next = AttrOrNull(node, s_gi_yieldfrom);
    if (next == nullptr) break;
    Py_XDECREF(innermost_coro);
    innermost_coro = node;
    node = next;
  }
  PyObject* future = nullptr;
  if (node != nullptr && strstr(Py_TYPE(node)->tp_name, "FutureIter") != nullptr &&
      Py_TYPE(node)->tp_basicsize == sizeof(FutureIterLayout)) {
    future = reinterpret_cast<FutureIterLayout*>(node)->future;
    if (future != nullptr &&
        !(g_future_type != nullptr && PyType_Check(g_future_type) &&
          PyObject_TypeCheck(future, reinterpret_cast<PyTypeObject*>(g_future_type)))) {
      future = nullptr;
    }
  }
  if (future != nullptr) {
    Py_INCREF(future);
    // Where: the suspended coroutine's own frame (the `await` line); the
    // thread's stack here is only the loop's machinery.
    uint32_t stack = 0;
    if (innermost_coro != nullptr) {
      PyObject* frame = AttrOrNull(innermost_coro, s_cr_frame);
      if (frame == nullptr) frame = AttrOrNull(innermost_coro, s_gi_frame);
      if (frame != nullptr && PyFrame_Check(frame)) {
        try {
          stack =
              TheStackWalker().CaptureFrom(TheRecorder(), reinterpret_cast<PyFrameObject*>(frame));
        } catch (const std::bad_alloc&) {
          TheRecorder().Disable("out of memory");
        }
      }
      Py_XDECREF(frame);
    }
    if (stack == 0) stack = CaptureStack();
    PyObject* fut_loop = BoundLoop(future);
    if (fut_loop != nullptr) {
      EmitRaw(kLoopForeignUse, ObjectId(future), ObjectId(fut_loop), NameOf(s_await),
              int64_t(ObjectId(loop)), stack);
    }
    Py_XDECREF(fut_loop);
    Py_DECREF(future);
  }
  Py_XDECREF(node);
  Py_XDECREF(innermost_coro);
  if (PyErr_Occurred()) PyErr_Clear();
}

// loop_call_pre(api, flags, loop, *args, **kwargs) (bound with
// functools.partial): LOOP_CALL when `loop` is closed, or (kCheckThread)
// when another thread runs it. With kBindResult returns the loop as the
// token, so that loop_bind_post records what the call made.
PyObject* LoopCallPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject*) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs < 3) Py_RETURN_NONE;
  PyObject* api = args[0];
  long flags = PyLong_AsLong(args[1]);
  if (flags == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    flags = 0;
  }
  PyObject* loop = args[2];
  bool suspect = false;
  PyObject* closed = nullptr;
  if (LoopAttr(loop, s_closed, &g_closed_slot, &closed) > 0) {
    suspect = closed == Py_True;
    Py_DECREF(closed);
  }
  if (!suspect && (flags & kCheckThread)) {
    PyObject* tid = nullptr;
    if (LoopAttr(loop, s_thread_id, &g_thread_id_slot, &tid) > 0) {
      if (tid != Py_None && PyLong_Check(tid)) {
        unsigned long owner = PyLong_AsUnsignedLong(tid);
        if (PyErr_Occurred()) {
          PyErr_Clear();
        } else {
          suspect = owner != PyThread_get_thread_ident();
        }
      }
      Py_DECREF(tid);
    }
  }
  if (PyErr_Occurred()) PyErr_Clear();
  if (!suspect && nargs >= 4 && Resolve()) CheckDifferentLoopAwait(loop, args[3]);
  if (suspect) {
    // A future's done-callbacks are scheduled as call_soon(cb, future): a
    // future (or task) resolved from a foreign thread. Name it.
    uint64_t object = 0;
    if (nargs >= 5 && Resolve() && g_future_type != nullptr && PyType_Check(g_future_type) &&
        PyObject_TypeCheck(args[4], reinterpret_cast<PyTypeObject*>(g_future_type))) {
      object = ObjectId(args[4]);
    }
    EmitRaw(kLoopCall, ObjectId(loop), object, NameOf(api), 0, CaptureStack());
  }
  if (flags & kBindResult) return Py_NewRef(loop);
  Py_RETURN_NONE;
}

// post(token=loop, result, exc) of create_future/create_task: LOOP_BOUND.
PyObject* LoopBindPost(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 3 || args[1] == Py_None || args[2] != Py_None) Py_RETURN_NONE;
  Resolve();
  PyObject* made = args[1];
  int64_t kind = (g_task_type != nullptr && PyType_Check(g_task_type) &&
                  PyObject_TypeCheck(made, reinterpret_cast<PyTypeObject*>(g_task_type)))
                     ? kEntityTask
                     : kEntityAsyncFuture;
  EmitRaw(kLoopBound, ObjectId(made), ObjectId(args[0]), TypeName(made), kind, ShortStack());
  Py_RETURN_NONE;
}

// pre(self, ...) -> self: the token for a post that needs the instance.
PyObject* SelfTokenPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject*) {
  if (PyVectorcall_NARGS(nargsf) < 1) Py_RETURN_NONE;
  return Py_NewRef(args[0]);
}

// post of Lock/Event/Condition/Semaphore/Queue.__init__: where it was made
// (it binds to a loop later, at first use).
PyObject* PrimitiveCreatedPost(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 3 || args[2] != Py_None) Py_RETURN_NONE;
  Resolve();
  PyObject* self = args[0];
  EmitRaw(kLoopObjectCreated, ObjectId(self), 0, TypeName(self), PrimitiveKind(self), ShortStack());
  Py_RETURN_NONE;
}

// _LoopBoundMixin._get_loop(self) pre: unbound -> binds now (token self,
// post records it); bound to another loop than the running one -> the
// original raises "is bound to a different event loop": record the use.
PyObject* GetLoopPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject*) {
  if (PyVectorcall_NARGS(nargsf) < 1) Py_RETURN_NONE;
  PyObject* self = args[0];
  PyObject* loop = BoundLoop(self);
  if (loop == nullptr) return Py_NewRef(self);
  PyObject* running = RunningLoop();
  const bool own_loop = running == loop;
  Py_DECREF(running);
  Py_DECREF(loop);
  if (own_loop) Py_RETURN_NONE;  // the common case: nothing to look up or record
  // The API is the caller (Queue.get, Lock.acquire, Event.wait...), read in
  // place (PyEval_GetFrame would make a frame object).
  PyObject* api = nullptr;
  if (FramesLayoutOk()) {
    InterpFrame* f = CompleteFrom(InnermostFrame());
    if (f != nullptr) api = Py_NewRef(f->f_code->co_qualname);
  } else if (PyFrameObject* frame = PyEval_GetFrame(); frame != nullptr) {  // borrowed
    PyCodeObject* code = PyFrame_GetCode(frame);
    api = Py_NewRef(code->co_qualname);
    Py_DECREF(code);
  }
  CheckUse(self, api);
  Py_XDECREF(api);
  Py_RETURN_NONE;
}

PyObject* GetLoopPost(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 3 || args[1] == Py_None || args[2] != Py_None) Py_RETURN_NONE;
  Resolve();
  PyObject* self = args[0];
  EmitRaw(kLoopBound, ObjectId(self), ObjectId(args[1]), TypeName(self), PrimitiveKind(self),
          CaptureStack());
  Py_RETURN_NONE;
}

// use_check_pre(api, self, ...) (bound with functools.partial).
PyObject* UseCheckPre(PyObject*, PyObject* const* args, size_t nargsf, PyObject*) {
  if (PyVectorcall_NARGS(nargsf) >= 2) CheckUse(args[1], args[0]);
  Py_RETURN_NONE;
}

// post of _SelectorTransport.__init__: the transport is bound to self._loop.
PyObject* TransportBoundPost(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 3 || args[2] != Py_None) Py_RETURN_NONE;
  PyObject* self = args[0];
  PyObject* loop = BoundLoop(self);
  if (loop == nullptr) Py_RETURN_NONE;
  EmitRaw(kLoopBound, ObjectId(self), ObjectId(loop), TypeName(self), kEntityTransport,
          CaptureStack());
  Py_DECREF(loop);
  Py_RETURN_NONE;
}

// call_soon_threadsafe_pre(chain_set_state_code, self, callback, *args)
// (bound with functools.partial; it runs per executor hop): LOOP_HANDOFF
// into `self`, or LOOP_CALL when it is closed (the original then raises).
// Nothing for asyncio's _chain_future _set_state carrying a late result to
// a future that was cancelled: _set_state drops it, nobody waits for it.
bool IsCancelledFuture(PyObject* obj) {
  PyObject* marker = nullptr;
  if (_PyObject_LookupAttr(reinterpret_cast<PyObject*>(Py_TYPE(obj)), s_future_blocking,
                           &marker) <= 0) {
    PyErr_Clear();
    return false;
  }
  Py_DECREF(marker);
  PyObject* blocking = nullptr;
  if (_PyObject_LookupAttr(obj, s_future_blocking, &blocking) <= 0) {
    PyErr_Clear();
    return false;
  }
  bool is_future = blocking != Py_None;  // asyncio.isfuture()
  Py_DECREF(blocking);
  if (!is_future) return false;
  PyObject* r = PyObject_CallMethodNoArgs(obj, s_cancelled);
  if (r == nullptr) {
    PyErr_Clear();
    return false;
  }
  bool cancelled = r == Py_True;
  Py_DECREF(r);
  return cancelled;
}

PyObject* CallSoonThreadsafePre(PyObject*, PyObject* const* args, size_t nargsf, PyObject*) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs < 2) Py_RETURN_NONE;
  PyObject* chain_code = args[0];
  PyObject* loop = args[1];
  if (nargs >= 4 && PyFunction_Check(args[2]) && PyFunction_GET_CODE(args[2]) == chain_code &&
      IsCancelledFuture(args[3])) {
    Py_RETURN_NONE;
  }
  PyObject* closed = nullptr;
  if (LoopAttr(loop, s_closed, &g_threadsafe_closed_slot, &closed) <= 0) {  // not a loop as we know it
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  int is_closed = PyObject_IsTrue(closed);
  Py_DECREF(closed);
  if (is_closed < 0) {
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  const uint32_t kind = is_closed ? kLoopCall : uint32_t(trace::LOOP_HANDOFF);
  EmitRaw(kind, ObjectId(loop), 0, NameOf(s_cst_name), 0, CaptureStack());
  Py_RETURN_NONE;
}

#define FASTKW(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f))
PyMethodDef kLoopMethods[] = {
    {"loop_call_pre", FASTKW(LoopCallPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"loop_bind_post", FASTKW(LoopBindPost), METH_FASTCALL, nullptr},
    {"self_token_pre", FASTKW(SelfTokenPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"primitive_created_post", FASTKW(PrimitiveCreatedPost), METH_FASTCALL, nullptr},
    {"get_loop_pre", FASTKW(GetLoopPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"get_loop_post", FASTKW(GetLoopPost), METH_FASTCALL, nullptr},
    {"use_check_pre", FASTKW(UseCheckPre), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"transport_bound_post", FASTKW(TransportBoundPost), METH_FASTCALL, nullptr},
    {"call_soon_threadsafe_pre", FASTKW(CallSoonThreadsafePre), METH_FASTCALL | METH_KEYWORDS,
     nullptr},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

bool InitLoopChecks(PyObject* module) {
  if (!Intern(&s_loop, "_loop") || !Intern(&s_closed, "_closed") ||
      !Intern(&s_thread_id, "_thread_id") || !Intern(&s_get_coro, "get_coro") ||
      !Intern(&s_await, "await") || !Intern(&s_cr_await, "cr_await") ||
      !Intern(&s_gi_yieldfrom, "gi_yieldfrom") || !Intern(&s_cr_frame, "cr_frame") ||
      !Intern(&s_gi_frame, "gi_frame") ||
      !Intern(&s_future_blocking, "_asyncio_future_blocking") ||
      !Intern(&s_cancelled, "cancelled") || !Intern(&s_cst_name, "call_soon_threadsafe")) {
    return false;
  }
  return PyModule_AddFunctions(module, kLoopMethods) == 0;
}

}  // namespace waitgraph::shim
