#include "instrument/native/hook.h"

#include <cstddef>
#include <optional>

#include "instrument/native/emit.h"
#include "instrument/native/fast_hooks.h"
#include "instrument/native/stack_walker.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

bool g_debug = false;

struct HookObject {
  PyObject_HEAD
  vectorcallfunc vectorcall;
  PyObject* original;
  PyObject* pre;
  PyObject* post;         // or nullptr
  PyObject* timeout_exc;  // or nullptr
  int flags;
};

// Handles an exception raised by pre/post: returns true if it must
// propagate (a BaseException that is not an Exception: KeyboardInterrupt,
// SystemExit, ...); otherwise clears it.
bool SwallowHookError() {
  if (!PyErr_ExceptionMatches(PyExc_Exception)) return true;
  if (g_debug) {
    PySys_WriteStderr("waitgraph: error in a hook (ignored):\n");
    PyErr_Print();
  }
  PyErr_Clear();
  return false;
}

PyObject* CallOriginal(HookObject* self, PyObject* const* args, size_t nargsf,
                       PyObject* kwnames) {
  if (self->flags & kHookQuiet) {
    QuietScope quiet;
    return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
  }
  return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
}

// Calls post(token, result, exception) while the original's outcome is held
// aside. Returns post's result (new ref) or nullptr; on a propagating error
// the original's outcome is discarded and *propagate is set.
PyObject* CallPost(HookObject* self, PyObject* token, PyObject* result, PyObject* exc,
                   bool* propagate) {
  *propagate = false;
  // A vector call: no argument tuple or va_list walk (a post runs per
  // create_future and create_task).
  PyObject* argv[3] = {token, result != nullptr ? result : Py_None, exc != nullptr ? exc : Py_None};
  PyObject* r = PyObject_Vectorcall(self->post, argv, 3, nullptr);
  if (r == nullptr) *propagate = SwallowHookError();
  return r;
}

PyObject* HookVectorcall(PyObject* callable, PyObject* const* args, size_t nargsf,
                         PyObject* kwnames) {
  HookObject* self = reinterpret_cast<HookObject*>(callable);
  if (!Active()) return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
  // Pre, post and the hooks nested in a context hook share one walk of the
  // caller's stack; a hook with neither post nor context (call_soon,
  // asyncio.Lock.acquire: the hottest) captures at most once and skips it.
  std::optional<StackWalker::CallScope> one_walk;
  if (self->post != nullptr || (self->flags & kHookContext)) one_walk.emplace();

  if (self->flags & kHookContext) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    HookContext saved = t_hook_context;
    t_hook_context.receiver = nargs >= 1 ? args[0] : nullptr;
    t_hook_context.stack = CaptureStack();
    PyObject* result = PyObject_Vectorcall(self->original, args, nargsf, kwnames);
    t_hook_context = saved;
    return result;
  }

  // pre/post are the shim's own code: they call no patched API, and they
  // emit through _native directly.
  PyObject* token = PyObject_Vectorcall(self->pre, args, nargsf, kwnames);
  if (token == nullptr) {
    if (SwallowHookError()) return nullptr;
    token = Py_NewRef(Py_None);
  }
  if (token == Py_None) {  // nothing to record for this call
    Py_DECREF(token);
    return CallOriginal(self, args, nargsf, kwnames);
  }

  const bool is_wait = PyTuple_CheckExact(token) && PyTuple_GET_SIZE(token) >= 3;
  uint64_t wait_id = 0;
  if (is_wait) {
    int64_t arg = PyLong_AsLongLong(PyTuple_GET_ITEM(token, 1));
    if (arg == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      arg = 0;
    }
    wait_id = BeginWait(PyTuple_GET_ITEM(token, 0), arg, PyTuple_GET_ITEM(token, 2));
  }

  PyObject* result = CallOriginal(self, args, nargsf, kwnames);

  PyObject *exc_type = nullptr, *exc = nullptr, *exc_tb = nullptr;
  if (result == nullptr) {
    PyErr_Fetch(&exc_type, &exc, &exc_tb);
    PyErr_NormalizeException(&exc_type, &exc, &exc_tb);
    if (exc_tb != nullptr && exc != nullptr) PyException_SetTraceback(exc, exc_tb);
  }

  int64_t outcome = kWaitCompleted;
  if (is_wait) {
    if (result == nullptr) {
      outcome = (self->timeout_exc != nullptr && exc_type != nullptr &&
                 PyErr_GivenExceptionMatches(exc_type, self->timeout_exc))
                    ? kWaitTimedOut
                    : kWaitRaised;
    } else if ((self->flags & kHookFalseIsTimeout) && result == Py_False) {
      outcome = kWaitTimedOut;
    }
  }

  bool propagate = false;
  if (self->post != nullptr) {
    PyObject* r = CallPost(self, token, result, exc, &propagate);
    if (r != nullptr) {
      if (is_wait && PyLong_Check(r)) {
        int64_t v = PyLong_AsLongLong(r);
        if (v == -1 && PyErr_Occurred()) {
          PyErr_Clear();
        } else {
          outcome = v;
        }
      }
      Py_DECREF(r);
    }
  }
  if (is_wait) EndWait(wait_id, outcome);
  Py_DECREF(token);

  if (propagate) {  // post raised KeyboardInterrupt & co.: that wins
    Py_XDECREF(result);
    Py_XDECREF(exc_type);
    Py_XDECREF(exc);
    Py_XDECREF(exc_tb);
    return nullptr;
  }
  if (result == nullptr) PyErr_Restore(exc_type, exc, exc_tb);
  return result;
}

int HookTraverse(PyObject* o, visitproc visit, void* arg) {
  HookObject* self = reinterpret_cast<HookObject*>(o);
  Py_VISIT(self->original);
  Py_VISIT(self->pre);
  Py_VISIT(self->post);
  Py_VISIT(self->timeout_exc);
  return 0;
}

int HookClear(PyObject* o) {
  HookObject* self = reinterpret_cast<HookObject*>(o);
  Py_CLEAR(self->original);
  Py_CLEAR(self->pre);
  Py_CLEAR(self->post);
  Py_CLEAR(self->timeout_exc);
  return 0;
}

void HookDealloc(PyObject* o) {
  PyObject_GC_UnTrack(o);
  HookClear(o);
  Py_TYPE(o)->tp_free(o);
}

PyObject* HookNew(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  static const char* kwlist[] = {"original", "pre", "post", "flags", "timeout_exc", nullptr};
  PyObject *original, *pre, *post = Py_None, *timeout_exc = Py_None;
  int flags = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|OiO:Hook", const_cast<char**>(kwlist),
                                   &original, &pre, &post, &flags, &timeout_exc)) {
    return nullptr;
  }
  HookObject* self = reinterpret_cast<HookObject*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  self->vectorcall = HookVectorcall;
  self->original = Py_NewRef(original);
  self->pre = Py_NewRef(pre);
  self->post = post == Py_None ? nullptr : Py_NewRef(post);
  self->timeout_exc = timeout_exc == Py_None ? nullptr : Py_NewRef(timeout_exc);
  self->flags = flags;
  return reinterpret_cast<PyObject*>(self);
}

PyObject* HookGetattro(PyObject* o, PyObject* name) {
  return WrapperGetattr(o, reinterpret_cast<HookObject*>(o)->original, name);
}

PyObject* HookRepr(PyObject* o) {
  HookObject* self = reinterpret_cast<HookObject*>(o);
  return PyObject_Repr(self->original);
}

PyTypeObject g_hook_type = {PyVarObject_HEAD_INIT(nullptr, 0)};

}  // namespace

void SetHookDebug(bool on) { g_debug = on; }

PyObject* WrapperDescrGet(PyObject* self, PyObject* obj, PyObject* type) {
  if (obj == nullptr || obj == Py_None) return Py_NewRef(self);
  return PyMethod_New(self, obj);
}

PyObject* WrapperGetattr(PyObject* wrapper, PyObject* original, PyObject* name) {
  if (PyUnicode_Check(name)) {
    if (PyUnicode_CompareWithASCIIString(name, "__wrapped__") == 0) return Py_NewRef(original);
    if (PyUnicode_CompareWithASCIIString(name, "__class__") != 0 &&
        PyUnicode_CompareWithASCIIString(name, "__call__") != 0 &&
        PyUnicode_CompareWithASCIIString(name, "__get__") != 0) {
      PyObject* r = PyObject_GetAttr(original, name);
      if (r != nullptr) return r;
      if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return nullptr;
      PyErr_Clear();
    }
  }
  return PyObject_GenericGetAttr(wrapper, name);
}

namespace {

int PlainWrapperTraverse(PyObject* o, visitproc visit, void* arg) {
  Py_VISIT(reinterpret_cast<PlainWrapperObject*>(o)->original);
  return 0;
}

int PlainWrapperClear(PyObject* o) {
  Py_CLEAR(reinterpret_cast<PlainWrapperObject*>(o)->original);
  return 0;
}

void PlainWrapperDealloc(PyObject* o) {
  PyObject_GC_UnTrack(o);
  PlainWrapperClear(o);
  Py_TYPE(o)->tp_free(o);
}

PyObject* PlainWrapperGetattro(PyObject* o, PyObject* name) {
  return WrapperGetattr(o, reinterpret_cast<PlainWrapperObject*>(o)->original, name);
}

PyObject* PlainWrapperRepr(PyObject* o) {
  return PyObject_Repr(reinterpret_cast<PlainWrapperObject*>(o)->original);
}

}  // namespace

bool InitPlainWrapperType(PyObject* module, PyTypeObject& type, const char* attr,
                          const char* qualified_name, const char* doc, newfunc new_fn) {
  type.tp_name = qualified_name;
  type.tp_basicsize = sizeof(PlainWrapperObject);
  type.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                  Py_TPFLAGS_METHOD_DESCRIPTOR;
  type.tp_doc = doc;
  type.tp_new = new_fn;
  type.tp_dealloc = PlainWrapperDealloc;
  type.tp_traverse = PlainWrapperTraverse;
  type.tp_clear = PlainWrapperClear;
  type.tp_call = PyVectorcall_Call;
  type.tp_vectorcall_offset = offsetof(PlainWrapperObject, vectorcall);
  type.tp_descr_get = WrapperDescrGet;
  type.tp_getattro = PlainWrapperGetattro;
  type.tp_repr = PlainWrapperRepr;
  if (PyType_Ready(&type) < 0) return false;
  Py_INCREF(&type);
  if (PyModule_AddObject(module, attr, reinterpret_cast<PyObject*>(&type)) < 0) {
    Py_DECREF(&type);
    return false;
  }
  return true;
}

bool InitHookType(PyObject* module) {
  g_hook_type.tp_name = "waitgraph._native.Hook";
  g_hook_type.tp_basicsize = sizeof(HookObject);
  g_hook_type.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                         Py_TPFLAGS_METHOD_DESCRIPTOR;
  g_hook_type.tp_doc = "A transparent recording wrapper around a patched callable.";
  g_hook_type.tp_new = HookNew;
  g_hook_type.tp_dealloc = HookDealloc;
  g_hook_type.tp_traverse = HookTraverse;
  g_hook_type.tp_clear = HookClear;
  g_hook_type.tp_call = PyVectorcall_Call;
  g_hook_type.tp_vectorcall_offset = offsetof(HookObject, vectorcall);
  g_hook_type.tp_descr_get = WrapperDescrGet;
  g_hook_type.tp_getattro = HookGetattro;
  g_hook_type.tp_repr = HookRepr;
  if (PyType_Ready(&g_hook_type) < 0) return false;
  Py_INCREF(&g_hook_type);
  if (PyModule_AddObject(module, "Hook", reinterpret_cast<PyObject*>(&g_hook_type)) < 0) {
    Py_DECREF(&g_hook_type);
    return false;
  }
  return true;
}

}  // namespace waitgraph::shim
