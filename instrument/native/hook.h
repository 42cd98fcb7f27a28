// waitgraph._native.Hook: the C wrapper that replaces a patched function.
//
//   Hook(original, pre, post=None, flags=0, timeout_exc=None)
//
// Calling it (as a function or, through __get__, as a method) does:
//   * not recording, or the shim is already active on this thread (nested
//     call): call `original` directly;
//   * token = pre(*args, **kwargs); errors in pre are swallowed (set
//     WAITGRAPH_DEBUG=1 to see them) except KeyboardInterrupt/SystemExit-like
//     BaseExceptions, which propagate as if raised just before the call;
//   * token None: call `original` plainly;
//   * token a tuple (target, wait_arg, name, ...): a blocking wait. WAIT_BEGIN
//     (target may be a list: the rest become WAIT_TARGETs) with the caller's
//     stack, then `original`, then WAIT_END whose outcome is TIMED_OUT for an
//     exception matching `timeout_exc` or (flag FALSE_IS_TIMEOUT) a returned
//     False, RAISED for other exceptions, else COMPLETED; if `post` is given
//     its int return value (post(token, result, exception)) is the outcome;
//   * any other token: `original`, then post(token, result, exception).
// With flag QUIET the original runs with recording suppressed on this thread
// (for originals that run no user code but would record their internals).
// The original's result or exception is passed on untouched; being C, the
// hook adds no frame to tracebacks.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_HOOK_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_HOOK_H_

#include <Python.h>

namespace waitgraph::shim {

enum HookFlags : int {
  kHookQuiet = 1,
  kHookFalseIsTimeout = 2,
  // Context only (pre is not called): while the original runs, its first
  // argument and the call-site stack are this thread's HookContext
  // (fast_hooks.h). Used for ThreadPoolExecutor.submit.
  kHookContext = 4,
};

// What every transparent wrapper type of the shim (Hook, StallTimer, the
// create_task hook) shares, so it looks like the function it wraps:
// bound like a function (Class.method gives the wrapper, instance.method a
// bound method) ...
PyObject* WrapperDescrGet(PyObject* self, PyObject* obj, PyObject* type);
// ... and attribute look-ups other than its own answered by `original`
// (__name__, __qualname__, __doc__, __module__, ...); __wrapped__ is the
// original, so inspect.signature() sees the original's signature.
PyObject* WrapperGetattr(PyObject* wrapper, PyObject* original, PyObject* name);

// A wrapper whose only state is the callable it wraps (StallTimer,
// SelectHook): its C call records what it needs and calls `original`.
struct PlainWrapperObject {
  PyObject_HEAD
  vectorcallfunc vectorcall;
  PyObject* original;
};

// Fills `type` as a transparent plain wrapper (GC, bound like a function,
// attributes and repr from `original`) whose instances are made by
// `new_fn`, readies it and adds it to `module` as `attr`. False (with a
// Python error) on failure. Use through AddPlainWrapperType<Call>.
bool InitPlainWrapperType(PyObject* module, PyTypeObject& type, const char* attr,
                          const char* qualified_name, const char* doc, newfunc new_fn);

// `Type(original)`: a PlainWrapperObject whose call is `Call`.
template <vectorcallfunc Call>
PyObject* PlainWrapperNew(PyTypeObject* type, PyObject* args, PyObject* /*kwds*/) {
  PyObject* original;
  if (!PyArg_ParseTuple(args, "O", &original)) return nullptr;
  auto* self = reinterpret_cast<PlainWrapperObject*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  self->vectorcall = Call;
  self->original = Py_NewRef(original);
  return reinterpret_cast<PyObject*>(self);
}

template <vectorcallfunc Call>
bool AddPlainWrapperType(PyObject* module, PyTypeObject& type, const char* attr,
                         const char* qualified_name, const char* doc) {
  return InitPlainWrapperType(module, type, attr, qualified_name, doc, PlainWrapperNew<Call>);
}

// Adds the Hook type to `module`. False (with a Python error) on failure.
bool InitHookType(PyObject* module);
// Set from WAITGRAPH_DEBUG: print errors raised by pre/post hooks.
void SetHookDebug(bool on);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_HOOK_H_
