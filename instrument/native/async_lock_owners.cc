#include "instrument/native/async_lock_owners.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "instrument/native/emit.h"
#include "instrument/native/kept_counts.h"
#include "instrument/native/object_ids.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

// A lock with a pending acquirer that is never released keeps its entry;
// past this many pending acquirers a lock is left unknown (no owner).
constexpr size_t kMaxPending = 64;

// Who took each lock on the fast path, in a direct-mapped table keyed by the
// lock's address: no allocation per acquire. A collision overwrites (that
// lock's owner becomes unknown: no edge is claimed). A stale entry of a dead
// lock never names the owner of a new lock at its address: a new lock is
// free, so its first acquire takes the fast path and overwrites the entry.
constexpr size_t kOwnerSlots = 4096;
struct OwnerSlot {
  PyObject* lock = nullptr;  // identity only, never dereferenced
  uint64_t task = 0;         // 0: free, or unknown
};
OwnerSlot g_owners[kOwnerSlots];

OwnerSlot& SlotOf(PyObject* lock) {
  uint64_t h = (reinterpret_cast<uintptr_t>(lock) >> 4) * 0x9E3779B97F4A7C15ull;
  return g_owners[h >> 52];  // top 12 bits: 4096 slots
}

// Pending acquirers (the slow path) of contended locks, keyed by the lock's
// entity id. GIL-protected, like everything here. A lock's entry goes when
// it is next taken with nobody queued, or when it dies (a lock made per
// request or per connection): ForgetDeadLock.
std::unordered_map<uint64_t, std::vector<uint64_t>> g_pending;

void ForgetDeadLock(uint64_t id) {
  if (!g_pending.empty()) g_pending.erase(id);
}
PyObject* g_get_running_loop = nullptr;
PyObject* g_current_tasks = nullptr;  // asyncio.tasks._current_tasks: loop -> task
PyObject* g_str_locked = nullptr;
PyObject* g_str_waiters = nullptr;

// The running task's entity id, 0 if none (no running loop: acquire() fails
// by itself). Reads asyncio's own map loop -> current task.
uint64_t CurrentTaskId() {
  if (g_get_running_loop == nullptr || g_current_tasks == nullptr) return 0;
  PyObject* loop = PyObject_CallNoArgs(g_get_running_loop);
  if (loop == nullptr) {
    PyErr_Clear();
    return 0;
  }
  PyObject* task = PyDict_GetItemWithError(g_current_tasks, loop);  // borrowed
  Py_DECREF(loop);
  if (task == nullptr) {
    PyErr_Clear();
    return 0;
  }
  return EntityOf(task);
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

PyObject* AcquirePre(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || !Active()) Py_RETURN_NONE;
  PyObject* lock = args[0];
  uint64_t task = CurrentTaskId();
  int locked = task != 0 ? IsLocked(lock) : -1;
  if (locked == 0 && NoWaiters(lock)) {  // Lock.acquire's fast path: it has it now
    OwnerSlot& slot = SlotOf(lock);
    slot.lock = lock;
    slot.task = task;
    // Free with nobody queued: no earlier pending acquirer holds it.
    if (!g_pending.empty()) g_pending.erase(EntityOf(lock));
  } else if (locked >= 0) {  // it queues (or retries after a cancelled waiter)
    std::vector<uint64_t>& pending = g_pending[EntityOf(lock)];
    if (std::find(pending.begin(), pending.end(), task) == pending.end() &&
        pending.size() <= kMaxPending) {
      pending.push_back(task);
    }
  }
  if (PyErr_Occurred()) PyErr_Clear();
  Py_RETURN_NONE;
}

// (fast-path taker or 0, known, [pending acquirers]); known is False when
// the table entry belongs to another lock (a collision) or too many
// acquirers queued: then nobody can be named.
PyObject* OwnerPy(PyObject*, PyObject* lock) {
  const OwnerSlot& slot = SlotOf(lock);
  bool known = slot.lock == lock;
  uint64_t owner = known ? slot.task : 0;
  PyObject* pending = PyList_New(0);
  if (pending == nullptr) return nullptr;
  if (auto it = g_pending.find(EntityOf(lock)); it != g_pending.end()) {
    if (it->second.size() > kMaxPending) known = false;
    for (uint64_t id : it->second) {
      PyObject* v = PyLong_FromUnsignedLongLong(id);
      if (v == nullptr || PyList_Append(pending, v) < 0) {
        Py_XDECREF(v);
        Py_DECREF(pending);
        return nullptr;
      }
      Py_DECREF(v);
    }
  }
  return Py_BuildValue("(KON)", static_cast<unsigned long long>(owner), known ? Py_True : Py_False,
                       pending);
}

PyObject* SetHelpersPy(PyObject*, PyObject* args) {
  PyObject *get_running_loop, *current_tasks;
  if (!PyArg_ParseTuple(args, "OO!:set_async_lock_helpers", &get_running_loop, &PyDict_Type,
                        &current_tasks)) {
    return nullptr;
  }
  Py_XSETREF(g_get_running_loop, Py_NewRef(get_running_loop));
  Py_XSETREF(g_current_tasks, Py_NewRef(current_tasks));
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"async_lock_acquire_pre",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(AcquirePre)), METH_FASTCALL,
     "Hook pre of asyncio.Lock.acquire."},
    {"async_lock_owner", OwnerPy, METH_O, "(fast-path taker or 0, known, [pending acquirer ids])"},
    {"set_async_lock_helpers", SetHelpersPy, METH_VARARGS,
     "set_async_lock_helpers(get_running_loop, current_tasks)"},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

bool InitAsyncLockOwners(PyObject* module) {
  g_str_locked = PyUnicode_InternFromString("_locked");
  g_str_waiters = PyUnicode_InternFromString("_waiters");
  if (g_str_locked == nullptr || g_str_waiters == nullptr) return false;
  AddObjectGoneListener(ForgetDeadLock);
  return PyModule_AddFunctions(module, kMethods) == 0;
}

void CountAsyncLockOwners(KeptCounts& out) { out.emplace_back("async_lock_owners.contended_locks", g_pending.size()); }

}  // namespace waitgraph::shim
