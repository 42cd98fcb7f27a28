#include "instrument/native/async_lock_owners.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "instrument/native/emit.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

// A lock with a pending acquirer that is never released keeps its entry;
// past this many pending acquirers a lock is left unknown (no owner).
constexpr size_t kMaxPending = 64;

struct LockTrack {
  uint64_t owner = 0;  // the task that took it on the fast path, 0: unknown
  std::vector<uint64_t> pending;
};

// Keyed by the lock's entity id. GIL-protected.
std::unordered_map<uint64_t, LockTrack> g_locks;
PyObject* g_current_task = nullptr;
PyObject* g_waiting_task_ids = nullptr;
PyObject* g_str_locked = nullptr;
PyObject* g_str_waiters = nullptr;

uint64_t CurrentTaskId() {
  if (g_current_task == nullptr) return 0;
  PyObject* task = PyObject_CallNoArgs(g_current_task);
  if (task == nullptr) {
    PyErr_Clear();  // no running loop: acquire() will fail by itself
    return 0;
  }
  uint64_t id = task == Py_None ? 0 : EntityOf(task);
  Py_DECREF(task);
  return id;
}

// lock._locked is True (-1: unreadable).
int IsLocked(PyObject* lock) {
  PyObject* locked = PyObject_GetAttr(lock, g_str_locked);
  if (locked == nullptr) {
    PyErr_Clear();
    return -1;
  }
  int r = locked == Py_True ? 1 : locked == Py_False ? 0 : -1;
  Py_DECREF(locked);
  return r;
}

// Nobody queued: lock._waiters is None or empty.
bool NoWaiters(PyObject* lock) {
  PyObject* waiters = PyObject_GetAttr(lock, g_str_waiters);
  if (waiters == nullptr) {
    PyErr_Clear();
    return false;
  }
  bool none = waiters == Py_None;
  if (!none) {
    Py_ssize_t n = PyObject_Length(waiters);
    if (n < 0) PyErr_Clear();
    none = n == 0;
  }
  Py_DECREF(waiters);
  return none;
}

void Forget(std::vector<uint64_t>& v, uint64_t id) { v.erase(std::remove(v.begin(), v.end(), id), v.end()); }

PyObject* AcquirePre(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || !Active()) Py_RETURN_NONE;
  PyObject *et, *ev, *tb;
  PyErr_Fetch(&et, &ev, &tb);
  PyObject* lock = args[0];
  uint64_t task = CurrentTaskId();
  int locked = task != 0 ? IsLocked(lock) : -1;
  if (locked >= 0) {
    LockTrack& t = g_locks[EntityOf(lock)];
    if (locked == 0 && NoWaiters(lock)) {  // Lock.acquire's fast path: it has it now
      t.owner = task;
      Forget(t.pending, task);
    } else if (std::find(t.pending.begin(), t.pending.end(), task) == t.pending.end()) {
      if (t.pending.size() < kMaxPending) t.pending.push_back(task);
    }
  }
  PyErr_Restore(et, ev, tb);
  Py_RETURN_NONE;
}

// Keeps only the pending acquirers still queued on `lock`.
void KeepQueued(PyObject* lock, LockTrack& t) {
  if (t.pending.empty() || g_waiting_task_ids == nullptr) return;
  PyObject* ids = PyObject_CallOneArg(g_waiting_task_ids, lock);
  std::vector<uint64_t> queued;
  if (ids != nullptr && PyList_Check(ids)) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ids); ++i) {
      queued.push_back(PyLong_AsUnsignedLongLong(PyList_GET_ITEM(ids, i)));
    }
  }
  Py_XDECREF(ids);
  if (PyErr_Occurred()) PyErr_Clear();
  t.pending.erase(std::remove_if(t.pending.begin(), t.pending.end(),
                                 [&](uint64_t id) {
                                   return std::find(queued.begin(), queued.end(), id) ==
                                          queued.end();
                                 }),
                  t.pending.end());
}

PyObject* ReleasePre(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || !Active() || g_locks.empty()) Py_RETURN_NONE;
  PyObject *et, *ev, *tb;
  PyErr_Fetch(&et, &ev, &tb);
  PyObject* lock = args[0];
  if (IsLocked(lock) == 1) {  // else release() raises and nothing changes
    auto it = g_locks.find(EntityOf(lock));
    if (it != g_locks.end()) {
      it->second.owner = 0;
      KeepQueued(lock, it->second);
      if (it->second.pending.empty()) g_locks.erase(it);
    }
  }
  PyErr_Restore(et, ev, tb);
  Py_RETURN_NONE;
}

PyObject* OwnerPy(PyObject*, PyObject* lock) {
  uint64_t owner = 0;
  PyObject* pending = PyList_New(0);
  if (pending == nullptr) return nullptr;
  auto it = g_locks.find(EntityOf(lock));
  if (it != g_locks.end()) {
    owner = it->second.owner;
    for (uint64_t id : it->second.pending) {
      PyObject* v = PyLong_FromUnsignedLongLong(id);
      if (v == nullptr || PyList_Append(pending, v) < 0) {
        Py_XDECREF(v);
        Py_DECREF(pending);
        return nullptr;
      }
      Py_DECREF(v);
    }
  }
  PyObject* r = Py_BuildValue("(KN)", static_cast<unsigned long long>(owner), pending);
  return r;
}

PyObject* SetHelpersPy(PyObject*, PyObject* args) {
  PyObject *current_task, *waiting;
  if (!PyArg_ParseTuple(args, "OO:set_async_lock_helpers", &current_task, &waiting)) return nullptr;
  Py_XSETREF(g_current_task, Py_NewRef(current_task));
  Py_XSETREF(g_waiting_task_ids, Py_NewRef(waiting));
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"async_lock_acquire_pre",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(AcquirePre)), METH_FASTCALL,
     "Hook pre of asyncio.Lock.acquire."},
    {"async_lock_release_pre",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(ReleasePre)), METH_FASTCALL,
     "Hook pre of asyncio.Lock.release."},
    {"async_lock_owner", OwnerPy, METH_O, "(owner task id or 0, [pending task ids])"},
    {"set_async_lock_helpers", SetHelpersPy, METH_VARARGS,
     "set_async_lock_helpers(current_task, waiting_task_ids)"},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

bool InitAsyncLockOwners(PyObject* module) {
  g_str_locked = PyUnicode_InternFromString("_locked");
  g_str_waiters = PyUnicode_InternFromString("_waiters");
  if (g_str_locked == nullptr || g_str_waiters == nullptr) return false;
  return PyModule_AddFunctions(module, kMethods) == 0;
}

}  // namespace waitgraph::shim
