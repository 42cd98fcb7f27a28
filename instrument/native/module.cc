// waitgraph._native: the Python bindings of the recorder.
//
//   emit(kind, subject=0, object=0, name=None, arg=0, stack=False)
//       subject/object: int (taken as is), None (0) or any object (its
//       entity id, see oid()). name: str (interned) or None. stack: True to
//       record the caller's Python stack, or an int stack id from
//       capture_stack(). Never raises; a no-op when not recording.
//   wait_begin(target, arg, name) -> wait id (0 when not recording)
//   wait_end(wait_id, outcome)
//   new_id() -> int        oid(obj) -> int        tid() -> native thread id
//   capture_stack() -> interned stack id of the caller (0 when not recording)
//   call_quiet(fn, *args, **kwargs): fn(...) with recording suppressed on
//       this thread
//   start(path, executable, python_version, argv, library_prefixes,
//         shim_prefix, flush_ms, run_id="", storage_timeout_ms=2000,
//         origin="", began_ns=0, max_bytes=0)  (origin: ProcessInfo.origin,
//         e.g. "fork"; began_ns: the process's start if not now, e.g. the
//         fork's time; max_bytes: the flight recorder's bound, 0 = none)
//       raises OSError if the trace cannot be created (ETIMEDOUT: the
//       storage did not answer); trace_path() then names the file created
//       (see trace/private_files.h: never an existing one)
//   stop(); is_recording(); trace_path(); set_debug(bool)
//   private_dir() -> the per-user directory, created and verified (OSError)
//   write_live_pointer(trace_path) -> path of this process's live pointer
//       (OSError); stale pointers of dead processes are removed
//   Hook: see hook.h
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "instrument/native/async_lock_owners.h"
#include "instrument/native/context_hooks.h"
#include "instrument/native/emit.h"
#include "instrument/native/exit_signals.h"
#include "instrument/native/fast_hooks.h"
#include "instrument/native/gc_pauses.h"
#include "instrument/native/hook.h"
#include "instrument/native/kept_counts.h"
#include "instrument/native/lock_hooks.h"
#include "instrument/native/loop_checks.h"
#include "instrument/native/loop_snapshot.h"
#include "instrument/native/loop_thread_sampler.h"
#include "instrument/native/object_ids.h"
#include "instrument/native/recorder.h"
#include "instrument/native/shim_thread.h"
#include "instrument/native/stack_walker.h"
#include "instrument/native/stall_watchdog.h"
#include "instrument/native/wait_pre.h"
#include "instrument/native/state.h"
#include "trace/private_files.h"

namespace waitgraph::shim {
namespace {

int64_t AsInt64(PyObject* o) {
  if (o == nullptr || o == Py_None) return 0;
  int64_t v = PyLong_AsLongLong(o);
  if (v == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    return 0;
  }
  return v;
}

PyObject* Emit(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (!Active() || nargs < 1) Py_RETURN_NONE;
  uint32_t kind = uint32_t(AsInt64(args[0]));
  uint64_t subject = nargs > 1 ? EntityOf(args[1]) : 0;
  uint64_t object = nargs > 2 ? EntityOf(args[2]) : 0;
  uint32_t name = nargs > 3 ? NameOf(args[3]) : 0;
  int64_t arg = nargs > 4 ? AsInt64(args[4]) : 0;
  uint32_t stack = 0;
  if (nargs > 5) {
    if (args[5] == Py_True) {
      stack = CaptureStack();
    } else if (args[5] != Py_False) {
      stack = uint32_t(AsInt64(args[5]));
    }
  }
  EmitRaw(kind, subject, object, name, arg, stack);
  Py_RETURN_NONE;
}

PyObject* WaitBeginPy(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (!Active() || nargs < 3) return PyLong_FromLong(0);
  return PyLong_FromUnsignedLongLong(BeginWait(args[0], AsInt64(args[1]), args[2]));
}

PyObject* WaitEndPy(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs >= 2) EndWait(uint64_t(AsInt64(args[0])), AsInt64(args[1]));
  Py_RETURN_NONE;
}

PyObject* NewId(PyObject*, PyObject*) { return PyLong_FromUnsignedLongLong(NewEntityId()); }

PyObject* Oid(PyObject*, PyObject* obj) { return PyLong_FromUnsignedLongLong(EntityOf(obj)); }

PyObject* Tid(PyObject*, PyObject*) { return PyLong_FromUnsignedLongLong(NativeThreadId()); }

PyObject* CaptureStackPy(PyObject*, PyObject*) {
  if (!Active()) return PyLong_FromLong(0);
  return PyLong_FromUnsignedLong(CaptureStack());
}

PyObject* CallQuiet(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs < 1) {
    PyErr_SetString(PyExc_TypeError, "call_quiet needs a callable");
    return nullptr;
  }
  QuietScope quiet;
  return PyObject_Vectorcall(args[0], args + 1, size_t(nargs - 1), kwnames);
}

bool StringList(PyObject* seq, std::vector<std::string>& out) {
  PyObject* fast = PySequence_Fast(seq, "expected a sequence of str");
  if (fast == nullptr) return false;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(fast, i);
    Py_ssize_t n;
    const char* p = PyUnicode_Check(item) ? PyUnicode_AsUTF8AndSize(item, &n) : nullptr;
    if (p == nullptr) {
      PyErr_Clear();
      continue;
    }
    out.emplace_back(p, size_t(n));
  }
  Py_DECREF(fast);
  return true;
}

PyObject* Start(PyObject*, PyObject* args) {
  PyObject *path_obj, *argv, *prefixes;
  const char *executable, *version, *shim_prefix;
  const char* run_id = "";
  int flush_ms;
  int storage_timeout_ms = 2000;
  const char* origin = "";
  unsigned long long began_ns = 0;   // a forked child: when the parent forked
  unsigned long long max_bytes = 0;  // the flight recorder's bound; 0: none
  if (!PyArg_ParseTuple(args, "UssOOsi|sisKK:start", &path_obj, &executable, &version, &argv,
                        &prefixes, &shim_prefix, &flush_ms, &run_id, &storage_timeout_ms,
                        &origin, &began_ns, &max_bytes)) {
    return nullptr;
  }
  Recorder& recorder = TheRecorder();
  if (g_forked_child.load()) {
    // A forked child may start its own trace; the parent's writer is gone.
    g_forked_child.store(false);
  }
  if (recorder.running()) {
    PyErr_SetString(PyExc_RuntimeError, "waitgraph is already recording");
    return nullptr;
  }
  std::vector<std::string> argv_list, prefix_list;
  if (!StringList(argv, argv_list) || !StringList(prefixes, prefix_list)) return nullptr;
  trace::ProcessInfo info;
  info.set_pid(uint32_t(getpid()));
  info.set_parent_pid(uint32_t(getppid()));
  info.set_run_id(run_id);
  info.set_origin(origin);
  info.set_executable(executable);
  info.set_python_version(version);
  for (auto& a : argv_list) info.add_argv(std::string(CutUtf8(a, Recorder::kMaxStringBytes)));
  const uint64_t now_ns = MonotonicNs();
  const uint64_t start_ns = began_ns > 0 && began_ns <= now_ns ? began_ns : now_ns;
  info.set_start_monotonic_ns(start_ns);
  info.set_start_unix_ns(RealtimeNs() - (now_ns - start_ns));
  for (auto& p : prefix_list) info.add_library_prefixes(p);
  TheStackWalker().Configure(shim_prefix, prefix_list);
  const char* path_utf8 = PyUnicode_AsUTF8(path_obj);
  if (path_utf8 == nullptr) return nullptr;
  std::string path = path_utf8;
  bool ok;
  int error = 0;
  // With the GIL held: Start resets the intern tables that producers use
  // under the GIL. It waits for the writer thread (which never takes the
  // GIL) at most storage_timeout_ms.
  try {
    ok = recorder.Start(path, std::move(info), {.flush_ms = flush_ms,
                                                .storage_timeout_ms = storage_timeout_ms,
                                                .max_bytes = max_bytes});
    error = errno;
  } catch (const std::exception& e) {
    ok = false;
    error = ENOMEM;
  }
  if (!ok) {
    errno = error;
    return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path_obj);
  }
  // Two writer ticks and a write: enough for the writer to take and write
  // the buffer, short beside a supervisor's grace period before SIGKILL.
  InstallExitSignalFlush(std::min(storage_timeout_ms, 2 * flush_ms + 100));
  Py_RETURN_NONE;
}

PyObject* StatusToOSError(const absl::Status& status) {
  PyErr_SetString(PyExc_OSError, std::string(status.message()).c_str());
  return nullptr;
}

PyObject* PrivateDirPy(PyObject*, PyObject*) {
  absl::StatusOr<std::string> dir = trace::EnsureUserDir();
  if (!dir.ok()) return StatusToOSError(dir.status());
  return PyUnicode_DecodeFSDefault(dir->c_str());
}

PyObject* WriteLivePointerPy(PyObject*, PyObject* path_obj) {
  if (!PyUnicode_Check(path_obj)) {
    PyErr_SetString(PyExc_TypeError, "write_live_pointer wants a str");
    return nullptr;
  }
  const char* path = PyUnicode_AsUTF8(path_obj);
  if (path == nullptr) return nullptr;
  absl::StatusOr<std::string> pointer = trace::WriteLivePointer(path);
  if (!pointer.ok()) return StatusToOSError(pointer.status());
  return PyUnicode_DecodeFSDefault(pointer->c_str());
}

// flush(): write what is buffered now, so a reader sees it (GIL released).
PyObject* FlushPy(PyObject*, PyObject*) {
  bool ok;
  Py_BEGIN_ALLOW_THREADS
  ok = TheRecorder().Flush();
  Py_END_ALLOW_THREADS
  return PyBool_FromLong(ok);
}

PyObject* Stop(PyObject*, PyObject*) {
  Recorder& recorder = TheRecorder();
  if (!recorder.running() || g_forked_child.load()) Py_RETURN_NONE;
  if (Active()) EmitRaw(kShimStopped, 0, 0, 0, 0, 0);
  g_recording.store(false);  // with the GIL held: no producer is mid-event
  Py_BEGIN_ALLOW_THREADS
  StopStallWatchdog();  // before the recorder: it may be sampling
  StopLoopSnapshots();
  StopLoopThreadSampler();
  recorder.Stop();
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

PyObject* IsRecording(PyObject*, PyObject*) {
  return PyBool_FromLong(g_recording.load() && !g_forked_child.load());
}

PyObject* TracePath(PyObject*, PyObject*) {
  Recorder& recorder = TheRecorder();
  if (!recorder.running()) Py_RETURN_NONE;
  return PyUnicode_DecodeFSDefault(recorder.path().c_str());
}

PyObject* EventsAppended(PyObject*, PyObject*) {
  return PyLong_FromUnsignedLongLong(TheRecorder().events_appended());
}

// kept_counts(): {"module.table": entries} of what the shim keeps now.
PyObject* KeptCountsPy(PyObject*, PyObject*) {
  KeptCounts counts;
  CountObjectIds(counts);
  CountContextHooks(counts);
  CountLockHooks(counts);
  CountAsyncLockOwners(counts);
  CountStackWalker(counts);
  CountRecorder(counts);
  PyObject* dict = PyDict_New();
  for (const auto& [name, n] : counts) {
    PyObject* value = dict == nullptr ? nullptr : PyLong_FromUnsignedLongLong(n);
    if (value == nullptr || PyDict_SetItemString(dict, name, value) < 0) {
      Py_XDECREF(value);
      Py_XDECREF(dict);
      return nullptr;
    }
    Py_DECREF(value);
  }
  return dict;
}

PyObject* SetDebug(PyObject*, PyObject* on) {
  SetHookDebug(PyObject_IsTrue(on) == 1);
  Py_RETURN_NONE;
}

void OnForkChild() {
  t_native_tid = 0;  // the forking thread's id in the child
  LockHooksAfterForkInChild();
  g_forked_child.store(true);
  TheRecorder().AbandonAfterFork();
  AbandonStallWatchdogAfterFork();
}

PyMethodDef kMethods[] = {
    {"emit", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Emit)), METH_FASTCALL,
     "emit(kind, subject, object, name, arg, stack)"},
    {"wait_begin", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(WaitBeginPy)),
     METH_FASTCALL, "wait_begin(target, arg, name) -> wait id"},
    {"wait_end", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(WaitEndPy)),
     METH_FASTCALL, "wait_end(wait_id, outcome)"},
    {"new_id", NewId, METH_NOARGS, "A new trace-unique entity id."},
    {"oid", Oid, METH_O, "The entity id of an object (stable for its lifetime)."},
    {"tid", Tid, METH_NOARGS, "The native id of the calling thread."},
    {"capture_stack", CaptureStackPy, METH_NOARGS, "Interned id of the caller's stack."},
    {"call_quiet", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(CallQuiet)),
     METH_FASTCALL | METH_KEYWORDS, "call_quiet(fn, *args, **kwargs)"},
    {"start", Start, METH_VARARGS, "Open the trace and start the writer."},
    {"stop", Stop, METH_NOARGS, "Emit SHIM_STOPPED, flush and close the trace."},
    {"flush", FlushPy, METH_NOARGS, "Write what is buffered now."},
    {"is_recording", IsRecording, METH_NOARGS, nullptr},
    {"trace_path", TracePath, METH_NOARGS, nullptr},
    {"events_appended", EventsAppended, METH_NOARGS, "Events recorded by this process so far."},
    {"set_debug", SetDebug, METH_O, nullptr},
    {"kept_counts", KeptCountsPy, METH_NOARGS, "What the shim keeps now: {table: entries}."},
    {"private_dir", PrivateDirPy, METH_NOARGS, "The per-user directory (created, verified)."},
    {"write_live_pointer", WriteLivePointerPy, METH_O, "Write this process's live pointer."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "waitgraph._native",
                       "waitgraph's native recorder.", -1, kMethods};

}  // namespace
}  // namespace waitgraph::shim

PyMODINIT_FUNC PyInit__native() {
  using namespace waitgraph::shim;
  PyObject* module = PyModule_Create(&kModule);
  if (module == nullptr) return nullptr;
  if (!InitObjectIds(module) || !InitHookType(module) || !InitFastHooks(module) || !InitWaitPre(module) || !InitContextHooks(module) ||
      !InitLockHooks(module) ||
      !InitLoopChecks(module) || !InitStallWatchdog(module) || !InitGcPauses(module) || !InitLoopSnapshot(module) ||
      !InitLoopThreadSampler(module) ||
      !InitAsyncLockOwners(module)) {
    Py_DECREF(module);
    return nullptr;
  }
  AtForkChildOnce(OnForkChild);
  return module;
}
