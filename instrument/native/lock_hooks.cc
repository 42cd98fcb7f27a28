#include "instrument/native/lock_hooks.h"
#include "trace/waitgraph_trace.pb.h"

#include <pythread.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "instrument/native/emit.h"
#include "instrument/native/kept_counts.h"
#include "instrument/native/object_ids.h"
#include "instrument/native/recorder.h"
#include "instrument/native/stack_walker.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

// Proto values (trace/waitgraph_trace.proto).
constexpr uint32_t kLockClass = trace::LOCK_CLASS, kLockTraced = trace::LOCK_TRACED,
                   kLockAcquired = trace::LOCK_ACQUIRED, kLockReleased = trace::LOCK_RELEASED,
                   kLockOrder = trace::LOCK_ORDER, kLockInWork = trace::LOCK_IN_WORK;
constexpr int64_t kEntityLock = trace::ENTITY_LOCK, kWaitHasTimeout = trace::WAIT_HAS_TIMEOUT;

// --- CPython 3.11 layouts (Modules/_threadmodule.c, internal/pycore_frame.h).
// Checked against the running interpreter by SelfCheck() before any lock is
// wrapped; if they do not match, the hooks are not installed.
struct RealLock {
  PyObject_HEAD
  PyThread_type_lock lock_lock;
  PyObject* in_weakreflist;
  char locked;
};
struct RealRLock {
  PyObject_HEAD
  PyThread_type_lock rlock_lock;
  unsigned long rlock_owner;
  unsigned long rlock_count;
  PyObject* in_weakreflist;
};
struct InterpreterFrame {
  PyObject* f_func;
  PyObject* f_globals;
  PyObject* f_builtins;
  PyObject* f_locals;
  PyCodeObject* f_code;
  PyObject* frame_obj;
  InterpreterFrame* previous;
  _Py_CODEUNIT* prev_instr;
  int stacktop;
  bool is_entry;
  char owner;
};
constexpr char kFrameOwnedByGenerator = 1;

// A lock class: where locks were made (code object + instruction).
struct LockClass {
  uint64_t id = 0;
  std::string type_name;     // "Lock", "RLock of Condition"
  uint32_t stack = 0;        // creation stack of the first lock (trace `generation`)
  uint64_t generation = ~0ull;
  uint64_t stack_epoch = 0;  // the recorder's intern epoch of `stack`
  PyCodeObject* site_code = nullptr;  // where its locks are made (the class's key)
  int site_lasti = 0;
  uint64_t emitted_generation = ~0ull;
};

struct LockObject {
  PyObject_HEAD
  PyObject* inner;  // the real _thread.lock / _thread.RLock
  PyObject* weakrefs;
  LockClass* cls;
  uint64_t id;
  uint64_t holder;      // native tid of the holder, 0 = free
  uint64_t traced_generation;
  PyCodeObject* site_code;  // where the holder took it (strong), or nullptr
  int site_lasti;           // byte offset in site_code
  uint32_t seq;             // bumped by every fresh acquire
  bool reentrant;
};

// One lock this thread holds (strong reference), valid while the lock's
// holder is still this thread and its seq unchanged (a Lock may be
// released by another thread, which cannot touch this list).
struct Held {
  LockObject* lock;
  uint32_t seq;
};
constexpr size_t kMaxHeld = 32;

struct Work {
  uint64_t entity;
  int64_t kind;
};

// Everything per thread in one thread-local block: the hot path looks it
// up once per call (a TLS look-up in a shared object is a function call).
struct ThreadLocks {
  uint64_t tid = 0;  // native thread id
  std::vector<Held> held;
  std::vector<Work> work;
  PyCodeObject* last_code = nullptr;  // SkipCode's one-entry cache
  bool last_skip = false;
};
thread_local ThreadLocks t_locks;

ThreadLocks& Me() {
  ThreadLocks& me = t_locks;
  if (me.tid == 0) me.tid = NativeThreadId();
  return me;
}

PyTypeObject* g_lock_type;
PyTypeObject* g_rlock_type;
PyObject* g_allocate_lock;  // _thread.allocate_lock
PyObject* g_real_rlock;     // _thread.RLock
// Method descriptors of the real types, called with the real lock first.
PyObject *g_lock_acquire, *g_lock_release, *g_rlock_acquire, *g_rlock_release,
    *g_rlock_release_save, *g_rlock_acquire_restore;
std::string g_shim_prefix;
std::vector<std::string> g_skip_suffixes;  // "/threading.py", "/queue.py"

struct SiteKeyHash {
  size_t operator()(const std::pair<PyObject*, int>& k) const {
    return std::hash<void*>()(k.first) * 31 + size_t(k.second);
  }
};
// Both maps hold a strong reference to each code object key.
std::unordered_map<std::pair<PyObject*, int>, LockClass*, SiteKeyHash>* g_classes;
std::unordered_map<PyObject*, bool>* g_skip_code;
// (held class or work entity, taken class) pairs already written.
std::unordered_set<uint64_t>* g_pairs_seen;
uint64_t g_pairs_generation = ~0ull;

bool Recording() {
  return g_recording.load(std::memory_order_relaxed) && !g_forked_child.load(std::memory_order_relaxed);
}

uint64_t Generation() { return TheRecorder().generation(); }

// --- Frames -------------------------------------------------------------

InterpreterFrame* CurrentFrame() {
  PyThreadState* ts = PyThreadState_Get();
  if (ts->cframe == nullptr) return nullptr;
  return reinterpret_cast<InterpreterFrame*>(ts->cframe->current_frame);
}

bool Complete(InterpreterFrame* f) {
  if (f->owner == kFrameOwnedByGenerator) return true;
  return f->prev_instr >= _PyCode_CODE(f->f_code) + f->f_code->_co_firsttraceable;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Frames of threading.py, queue.py and the shim are never "where": a lock
// made by Condition() belongs to the line that made the Condition.
bool SkipCode(ThreadLocks& me, PyCodeObject* code) {
  if (code == me.last_code) return me.last_skip;
  bool skip;
  if (auto it = g_skip_code->find(reinterpret_cast<PyObject*>(code)); it != g_skip_code->end()) {
    skip = it->second;
  } else {
    const char* file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : nullptr;
    if (file == nullptr) PyErr_Clear();
    std::string f = file ? file : "";
    skip = !g_shim_prefix.empty() && f.compare(0, g_shim_prefix.size(), g_shim_prefix) == 0;
    for (const std::string& s : g_skip_suffixes) skip = skip || EndsWith(f, s);
    Py_INCREF(code);
    g_skip_code->emplace(reinterpret_cast<PyObject*>(code), skip);
  }
  me.last_code = code;
  me.last_skip = skip;
  return skip;
}

// The innermost frame outside threading.py & co; `first_skipped` gets the
// innermost skipped one (e.g. Condition.__init__), if any.
InterpreterFrame* CallerFrame(ThreadLocks& me, InterpreterFrame** first_skipped = nullptr) {
  int depth = 0;
  for (InterpreterFrame* f = CurrentFrame(); f != nullptr && depth < 32; f = f->previous, ++depth) {
    if (!Complete(f)) continue;
    if (!SkipCode(me, f->f_code)) return f;
    if (first_skipped != nullptr && *first_skipped == nullptr) *first_skipped = f;
  }
  return nullptr;
}

int LastiBytes(InterpreterFrame* f) {
  return int(f->prev_instr - _PyCode_CODE(f->f_code)) * int(sizeof(_Py_CODEUNIT));
}

// --- Classes ------------------------------------------------------------

std::string TypeName(bool reentrant, InterpreterFrame* skipped) {
  std::string name = reentrant ? "RLock" : "Lock";
  if (skipped == nullptr) return name;
  const char* qual = PyUnicode_AsUTF8(skipped->f_code->co_qualname);
  if (qual == nullptr) {
    PyErr_Clear();
    return name;
  }
  std::string owner = qual;
  if (size_t dot = owner.find('.'); dot != std::string::npos) owner.resize(dot);
  return name + " of " + owner;  // "Lock of Semaphore", "RLock of Condition"
}

LockClass* ClassOfNewLock(bool reentrant) {
  InterpreterFrame* skipped = nullptr;
  InterpreterFrame* f = CallerFrame(Me(), &skipped);
  std::pair<PyObject*, int> key{nullptr, 0};
  if (f != nullptr) key = {reinterpret_cast<PyObject*>(f->f_code), LastiBytes(f)};
  auto it = g_classes->find(key);
  if (it == g_classes->end()) {
    auto* cls = new LockClass();
    cls->id = NewEntityId();
    cls->type_name = TypeName(reentrant, skipped);
    cls->site_code = reinterpret_cast<PyCodeObject*>(key.first);
    cls->site_lasti = key.second;
    Py_XINCREF(key.first);
    it = g_classes->emplace(key, cls).first;
  }
  LockClass* cls = it->second;
  if (Recording() && cls->generation != Generation()) {
    cls->stack = CaptureStack();  // the first lock of the class made in this trace
    cls->stack_epoch = TheRecorder().intern_epoch();
    cls->generation = Generation();
  }
  return cls;
}

uint32_t SiteStack(PyCodeObject* code, int lasti) {
  if (code == nullptr) return 0;
  return TheStackWalker().CaptureSite(TheRecorder(), code, lasti);
}

void EmitClass(LockClass* cls) {
  uint64_t gen = Generation();
  if (cls->emitted_generation == gen) return;
  cls->emitted_generation = gen;
  uint32_t name = TheRecorder().InternString(cls->type_name);
  uint32_t stack = 0;
  if (cls->generation == gen) {
    // A stack interned too long ago may no longer be defined in a bounded
    // trace: the class's site (one frame) instead.
    stack = TheRecorder().EpochUsable(cls->stack_epoch) ? cls->stack
                                                         : SiteStack(cls->site_code, cls->site_lasti);
  }
  EmitOn(NativeThreadId(), kLockClass, cls->id, 0, name, 0, stack);
}

// --- State of one lock ----------------------------------------------------

bool Traced(LockObject* self) { return self->traced_generation == Generation(); }

// Writes LOCK_TRACED (once per trace): from now on the analyzer follows it.
void EnsureTraced(LockObject* self) {
  if (!Recording() || Traced(self)) return;
  self->traced_generation = Generation();
  EmitClass(self->cls);
  EmitOn(NativeThreadId(), kLockTraced, self->id, self->cls->id, 0, int64_t(self->holder),
         self->holder != 0 ? SiteStack(self->site_code, self->site_lasti) : 0);
}

int64_t Depth(LockObject* self) {
  if (self->reentrant) return int64_t(reinterpret_cast<RealRLock*>(self->inner)->rlock_count);
  return reinterpret_cast<RealLock*>(self->inner)->locked ? 1 : 0;
}

bool HeldValid(const Held& h, uint64_t me) { return h.lock->holder == me && h.lock->seq == h.seq; }

void PruneHeld(ThreadLocks& me) {
  size_t out = 0;
  for (size_t i = 0; i < me.held.size(); ++i) {
    if (HeldValid(me.held[i], me.tid)) {
      me.held[out++] = me.held[i];
    } else {
      Py_DECREF(me.held[i].lock);
    }
  }
  me.held.resize(out);
}

void PairsForThisTrace() {
  if (g_pairs_generation != Generation()) {
    g_pairs_seen->clear();
    g_pairs_generation = Generation();
  }
}

bool FirstTime(uint64_t a, uint64_t b) {
  return g_pairs_seen->insert(a * 0x9E3779B97F4A7C15ull ^ b).second;
}

// "Took class B while holding class A" / "work of E took class B": written
// once per distinct pair, with the stack of its first occurrence.
void RecordOrder(LockObject* self, ThreadLocks& me) {
  if (me.held.empty() && me.work.empty()) return;
  PairsForThisTrace();
  uint32_t stack = 0;
  bool have_stack = false;
  auto where = [&]() {
    if (!have_stack) {
      stack = CaptureStack();
      have_stack = true;
    }
    return stack;
  };
  for (const Held& h : me.held) {
    if (!HeldValid(h, me.tid) || h.lock->cls == self->cls) continue;  // same class: instances merge
    if (!FirstTime(h.lock->cls->id, self->cls->id)) continue;
    EmitClass(h.lock->cls);
    EmitClass(self->cls);
    EmitOn(me.tid, kLockOrder, h.lock->cls->id, self->cls->id, 0,
           int64_t(SiteStack(h.lock->site_code, h.lock->site_lasti)), where());
  }
  for (const Work& w : me.work) {
    if (!FirstTime(w.entity, self->cls->id)) continue;
    EmitClass(self->cls);
    EmitOn(me.tid, kLockInWork, w.entity, self->cls->id, 0, w.kind, where());
  }
}

void SetSite(LockObject* self, ThreadLocks& me) {
  InterpreterFrame* f = CallerFrame(me);
  PyCodeObject* old = self->site_code;
  if (f != nullptr) {
    Py_INCREF(f->f_code);
    self->site_code = f->f_code;
    self->site_lasti = LastiBytes(f);
  } else {
    self->site_code = nullptr;
  }
  Py_XDECREF(old);
}

// After a successful acquire. `fresh`: the lock was free before (not an
// RLock's recursion).
void OnAcquired(LockObject* self, bool fresh) {
  ThreadLocks& me = Me();
  if (fresh) {
    self->holder = me.tid;
    ++self->seq;
    SetSite(self, me);
    if (Recording()) RecordOrder(self, me);
    if (me.held.size() >= kMaxHeld) PruneHeld(me);
    if (me.held.size() < kMaxHeld) {
      Py_INCREF(self);
      me.held.push_back({self, self->seq});
    }
  }
  if (Recording() && Traced(self)) {
    EmitOn(me.tid, kLockAcquired, self->id, 0, 0, Depth(self),
           fresh ? SiteStack(self->site_code, self->site_lasti) : 0);
  }
}

void OnReleased(LockObject* self) {
  int64_t depth = Depth(self);
  ThreadLocks& me = Me();
  // A Lock released by another thread than its holder is a signal, not a
  // mutex (lock.acquire() now, a worker's lock.release() later): trace it,
  // so that the analyzer sees who released it and claims no holder for it.
  if (depth == 0 && self->holder != 0 && self->holder != me.tid) EnsureTraced(self);
  if (depth == 0) {
    if (self->holder == me.tid) {
      for (size_t i = me.held.size(); i-- > 0;) {
        if (me.held[i].lock == self) {
          Py_DECREF(self);
          me.held.erase(me.held.begin() + long(i));
          break;
        }
      }
    }
    self->holder = 0;
    Py_CLEAR(self->site_code);
  }
  if (Recording() && Traced(self)) EmitOn(me.tid, kLockReleased, self->id, 0, 0, depth, 0);
}

// A non-blocking attempt straight on the real lock's state, exactly what
// the real acquire does first. Returns 1 acquired, 0 busy, -1 "ask the real
// acquire" (an RLock count about to overflow: it raises).
int TryAcquire(LockObject* self) {
  if (!self->reentrant) {
    auto* real = reinterpret_cast<RealLock*>(self->inner);
    if (PyThread_acquire_lock_timed(real->lock_lock, 0, 0) != PY_LOCK_ACQUIRED) return 0;
    real->locked = 1;
    return 1;
  }
  auto* real = reinterpret_cast<RealRLock*>(self->inner);
  unsigned long tid = PyThread_get_thread_ident();
  if (real->rlock_count > 0 && real->rlock_owner == tid) {
    if (real->rlock_count + 1 <= real->rlock_count) return -1;
    ++real->rlock_count;
    return 1;
  }
  if (PyThread_acquire_lock_timed(real->rlock_lock, 0, 0) != PY_LOCK_ACQUIRED) return 0;
  real->rlock_owner = tid;
  real->rlock_count = 1;
  return 1;
}

// Calls a method descriptor of the real type with the real lock first.
PyObject* CallReal(PyObject* descr, LockObject* self, PyObject* const* args, size_t nargs,
                   PyObject* kwnames) {
  PyObject* small[8];
  size_t nkw = kwnames ? size_t(PyTuple_GET_SIZE(kwnames)) : 0;
  size_t total = nargs + nkw;
  std::vector<PyObject*> big;
  PyObject** stack = small;
  if (total + 1 > 8) {
    big.resize(total + 1);
    stack = big.data();
  }
  stack[0] = self->inner;
  for (size_t i = 0; i < total; ++i) stack[i + 1] = args[i];
  return PyObject_Vectorcall(descr, stack, nargs + 1, kwnames);
}

// A blocking acquire that did not get the lock at once: record the wait
// (unless this thread is quiet, e.g. inside Future.result) and let the real
// acquire block, with the caller's own arguments.
PyObject* AcquireContended(LockObject* self, PyObject* const* args, size_t nargs,
                           PyObject* kwnames, bool has_timeout) {
  uint64_t wait_id = 0;
  if (Recording()) {
    EnsureTraced(self);
    if (Active()) {
      TraceHeldLocksBeforeWait();
      wait_id = NewEntityId();
      const char* api = self->reentrant ? "RLock.acquire" : "Lock.acquire";
      EmitRaw(kWaitBegin, wait_id, self->id, TheRecorder().InternString(api),
              kEntityLock | (has_timeout ? kWaitHasTimeout : 0), CaptureStack());
    }
  }
  PyObject* result = CallReal(self->reentrant ? g_rlock_acquire : g_lock_acquire, self, args,
                              nargs, kwnames);
  if (wait_id != 0) {
    int64_t outcome = result == nullptr ? kWaitRaised
                      : result == Py_False ? kWaitTimedOut
                                           : kWaitCompleted;
    EndWait(wait_id, outcome);
  }
  if (result == Py_True) OnAcquired(self, Depth(self) == 1 || !self->reentrant);
  return result;
}

// acquire(blocking=True, timeout=-1): the real lock's semantics exactly;
// only the no-argument call (and `with`) takes the try-lock shortcut when
// it cannot change an outcome.
PyObject* Acquire(PyObject* op, PyObject* const* args, Py_ssize_t nargsf, PyObject* kwnames) {
  auto* self = reinterpret_cast<LockObject*>(op);
  size_t nargs = size_t(PyVectorcall_NARGS(nargsf));
  size_t nkw = kwnames ? size_t(PyTuple_GET_SIZE(kwnames)) : 0;
  if (nargs == 0 && nkw == 0) {
    int r = TryAcquire(self);
    if (r == 1) {
      OnAcquired(self, !self->reentrant || Depth(self) == 1);
      Py_RETURN_TRUE;
    }
    if (r == 0) return AcquireContended(self, args, 0, nullptr, false);
    return CallReal(self->reentrant ? g_rlock_acquire : g_lock_acquire, self, args, 0, nullptr);
  }
  // With arguments: read them leniently; anything unusual goes to the real
  // acquire untouched (it raises the errors the caller expects).
  PyObject* blocking_arg = nargs > 0 ? args[0] : nullptr;
  PyObject* timeout_arg = nargs > 1 ? args[1] : nullptr;
  bool odd = nargs > 2;  // too many, unknown or repeated arguments: the real acquire raises
  for (size_t i = 0; i < nkw && !odd; ++i) {
    const char* k = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, Py_ssize_t(i)));
    if (k == nullptr) {
      PyErr_Clear();
      odd = true;
    } else if (std::strcmp(k, "blocking") == 0 && blocking_arg == nullptr) {
      blocking_arg = args[nargs + i];
    } else if (std::strcmp(k, "timeout") == 0 && timeout_arg == nullptr) {
      timeout_arg = args[nargs + i];
    } else {
      odd = true;
    }
  }
  int blocking = odd ? -1 : blocking_arg == nullptr ? 1 : PyObject_IsTrue(blocking_arg);
  double timeout = -1;
  if (timeout_arg != nullptr && blocking >= 0) {
    // Only what the real acquire surely reads the same way (it rejects,
    // e.g., a Decimal that float() would take).
    if (!PyFloat_CheckExact(timeout_arg) && !PyLong_CheckExact(timeout_arg)) blocking = -1;
  }
  if (timeout_arg != nullptr && blocking >= 0) {
    timeout = PyFloat_AsDouble(timeout_arg);
    if (timeout == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      blocking = -1;
    }
  }
  if (blocking < 0) PyErr_Clear();
  PyObject* descr = self->reentrant ? g_rlock_acquire : g_lock_acquire;
  bool plain_wait = blocking == 1 && (timeout == -1 || (timeout >= 0 && timeout < 1e9));
  if (!plain_wait) {
    // Non-blocking, or arguments the real acquire will judge.
    PyObject* result = CallReal(descr, self, args, nargs, kwnames);
    if (result == Py_True) OnAcquired(self, !self->reentrant || Depth(self) == 1);
    return result;
  }
  int r = TryAcquire(self);
  if (r == 1) {
    OnAcquired(self, !self->reentrant || Depth(self) == 1);
    Py_RETURN_TRUE;
  }
  if (r == 0) return AcquireContended(self, args, nargs, kwnames, timeout != -1);
  return CallReal(descr, self, args, nargs, kwnames);
}

// Exactly what the real release does when it succeeds; false when it
// would raise (then the real release is called, to raise its own error).
bool TryRelease(LockObject* self) {
  if (!self->reentrant) {
    auto* real = reinterpret_cast<RealLock*>(self->inner);
    if (!real->locked) return false;
    PyThread_release_lock(real->lock_lock);
    real->locked = 0;
    return true;
  }
  auto* real = reinterpret_cast<RealRLock*>(self->inner);
  if (real->rlock_count == 0 || real->rlock_owner != PyThread_get_thread_ident()) return false;
  if (--real->rlock_count == 0) {
    real->rlock_owner = 0;
    PyThread_release_lock(real->rlock_lock);
  }
  return true;
}

PyObject* Release(PyObject* op, PyObject*) {
  auto* self = reinterpret_cast<LockObject*>(op);
  if (TryRelease(self)) {
    OnReleased(self);
    Py_RETURN_NONE;
  }
  return CallReal(self->reentrant ? g_rlock_release : g_lock_release, self, nullptr, 0, nullptr);
}

PyObject* Exit(PyObject* op, PyObject* const*, Py_ssize_t) { return Release(op, nullptr); }

// Condition.wait on an RLock: _release_save drops every level at once and
// _acquire_restore takes them back (blocking in C, inside the recorded
// Condition.wait).
PyObject* ReleaseSave(PyObject* op, PyObject*) {
  auto* self = reinterpret_cast<LockObject*>(op);
  PyObject* result = CallReal(g_rlock_release_save, self, nullptr, 0, nullptr);
  if (result != nullptr) OnReleased(self);
  return result;
}

PyObject* AcquireRestore(PyObject* op, PyObject* state) {
  auto* self = reinterpret_cast<LockObject*>(op);
  if (Depth(self) != 0 && self->holder != Me().tid) EnsureTraced(self);
  PyObject* args[1] = {state};
  PyObject* result = CallReal(g_rlock_acquire_restore, self, args, 1, nullptr);
  if (result != nullptr) OnAcquired(self, true);
  return result;
}

PyObject* Forward(LockObject* self, const char* name, PyObject* const* args, size_t nargs) {
  PyObject* method = PyObject_GetAttrString(self->inner, name);
  if (method == nullptr) return nullptr;
  PyObject* result = PyObject_Vectorcall(method, args, nargs, nullptr);
  Py_DECREF(method);
  return result;
}

PyObject* Locked(PyObject* op, PyObject*) {
  return Forward(reinterpret_cast<LockObject*>(op), "locked", nullptr, 0);
}

PyObject* IsOwned(PyObject* op, PyObject*) {
  return Forward(reinterpret_cast<LockObject*>(op), "_is_owned", nullptr, 0);
}

// After os.fork() in the child (threading._after_fork): a new, free lock.
PyObject* AtForkReinit(PyObject* op, PyObject*) {
  auto* self = reinterpret_cast<LockObject*>(op);
  PyObject* result = Forward(self, "_at_fork_reinit", nullptr, 0);
  if (result != nullptr) {
    self->holder = 0;
    ++self->seq;
    Py_CLEAR(self->site_code);
  }
  return result;
}

PyObject* Repr(PyObject* op) { return PyObject_Repr(reinterpret_cast<LockObject*>(op)->inner); }

void Dealloc(PyObject* op) {
  auto* self = reinterpret_cast<LockObject*>(op);
  PyTypeObject* type = Py_TYPE(op);
  if (self->weakrefs != nullptr) PyObject_ClearWeakRefs(op);
  Py_XDECREF(self->inner);
  Py_XDECREF(self->site_code);
  type->tp_free(op);
  Py_DECREF(type);  // instances of a heap type hold a reference to it
}

#define FAST(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f))
PyMethodDef kLockMethods[] = {
    {"acquire", FAST(Acquire), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"acquire_lock", FAST(Acquire), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"__enter__", FAST(Acquire), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"release", Release, METH_NOARGS, nullptr},
    {"release_lock", Release, METH_NOARGS, nullptr},
    {"__exit__", FAST(Exit), METH_FASTCALL, nullptr},
    {"locked", Locked, METH_NOARGS, nullptr},
    {"locked_lock", Locked, METH_NOARGS, nullptr},
    {"_at_fork_reinit", AtForkReinit, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};
PyMethodDef kRLockMethods[] = {
    {"acquire", FAST(Acquire), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"__enter__", FAST(Acquire), METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"release", Release, METH_NOARGS, nullptr},
    {"__exit__", FAST(Exit), METH_FASTCALL, nullptr},
    {"_is_owned", IsOwned, METH_NOARGS, nullptr},
    {"_release_save", ReleaseSave, METH_NOARGS, nullptr},
    {"_acquire_restore", AcquireRestore, METH_O, nullptr},
    {"_at_fork_reinit", AtForkReinit, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyTypeObject* NewLockType(const char* name, PyMethodDef* methods) {
  PyType_Slot slots[] = {
      {Py_tp_dealloc, reinterpret_cast<void*>(Dealloc)},
      {Py_tp_repr, reinterpret_cast<void*>(Repr)},
      {Py_tp_methods, methods},
      {0, nullptr},
  };
  PyType_Spec spec = {name, sizeof(LockObject), 0, Py_TPFLAGS_DEFAULT, slots};
  auto* type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&spec));
  if (type != nullptr) type->tp_weaklistoffset = offsetof(LockObject, weakrefs);
  return type;
}

PyObject* Wrap(PyObject* inner, bool reentrant) {
  if (inner == nullptr) return nullptr;
  PyTypeObject* type = reentrant ? g_rlock_type : g_lock_type;
  auto* self = PyObject_New(LockObject, type);
  if (self == nullptr) {
    Py_DECREF(inner);
    return nullptr;
  }
  self->inner = inner;
  self->weakrefs = nullptr;
  self->id = NewEntityId();
  self->holder = 0;
  self->traced_generation = ~0ull;
  self->site_code = nullptr;
  self->site_lasti = 0;
  self->seq = 0;
  self->reentrant = reentrant;
  self->cls = ClassOfNewLock(reentrant);
  if (PyErr_Occurred()) PyErr_Clear();
  return reinterpret_cast<PyObject*>(self);
}

// threading.Lock(): the real allocate_lock (same arguments), wrapped.
PyObject* LockFactory(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  return Wrap(PyObject_Vectorcall(g_allocate_lock, args, nargsf, kwnames), false);
}

// threading.RLock(*args, **kwargs): the real _thread.RLock, wrapped.
PyObject* RLockFactory(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  return Wrap(PyObject_Vectorcall(g_real_rlock, args, nargsf, kwnames), true);
}

PyMethodDef kLockFactory = {"Lock", FAST(LockFactory), METH_FASTCALL | METH_KEYWORDS,
                            "threading.Lock (waitgraph: a recorded _thread.lock)"};
PyMethodDef kRLockFactory = {"RLock", FAST(RLockFactory), METH_FASTCALL | METH_KEYWORDS,
                             "threading.RLock (waitgraph: a recorded _thread.RLock)"};

PyObject* Descriptor(PyObject* type, const char* name) {
  PyObject* d = PyDict_GetItemString(reinterpret_cast<PyTypeObject*>(type)->tp_dict, name);
  Py_XINCREF(d);
  return d;
}

// The layouts above must be this interpreter's: check them on real locks.
bool SelfCheck(PyObject* lock_type, PyObject* rlock_type) {
  auto* lt = reinterpret_cast<PyTypeObject*>(lock_type);
  auto* rt = reinterpret_cast<PyTypeObject*>(rlock_type);
  if (lt->tp_basicsize != Py_ssize_t(sizeof(RealLock)) ||
      rt->tp_basicsize != Py_ssize_t(sizeof(RealRLock))) {
    return false;
  }
  bool ok = true;
  PyObject* lock = PyObject_CallNoArgs(g_allocate_lock);
  PyObject* rlock = PyObject_CallNoArgs(g_real_rlock);
  if (lock == nullptr || rlock == nullptr) ok = false;
  if (ok) {
    auto* l = reinterpret_cast<RealLock*>(lock);
    auto* r = reinterpret_cast<RealRLock*>(rlock);
    PyObject* a = PyObject_CallMethod(lock, "acquire", nullptr);
    ok = a == Py_True && l->locked == 1;
    Py_XDECREF(a);
    PyObject* b = PyObject_CallMethod(rlock, "acquire", nullptr);
    PyObject* c = PyObject_CallMethod(rlock, "acquire", nullptr);
    ok = ok && b == Py_True && c == Py_True && r->rlock_count == 2 &&
         r->rlock_owner == PyThread_get_thread_ident();
    Py_XDECREF(b);
    Py_XDECREF(c);
  }
  Py_XDECREF(lock);
  Py_XDECREF(rlock);
  // The interpreter frame: our caller's code object, seen both ways.
  PyFrameObject* frame = PyEval_GetFrame();  // borrowed
  InterpreterFrame* f = CurrentFrame();
  if (frame != nullptr) {
    PyCodeObject* code = PyFrame_GetCode(frame);
    ok = ok && f != nullptr && f->f_code == code;
    Py_DECREF(code);
  } else {
    ok = false;
  }
  if (PyErr_Occurred()) PyErr_Clear();
  return ok;
}

bool StringList(PyObject* seq, std::vector<std::string>& out) {
  PyObject* fast = PySequence_Fast(seq, "expected a sequence of str");
  if (fast == nullptr) return false;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); ++i) {
    const char* p = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
    if (p == nullptr) {
      Py_DECREF(fast);
      return false;
    }
    out.emplace_back(p);
  }
  Py_DECREF(fast);
  return true;
}

// lock_factories(allocate_lock, rlock_type, shim_prefix, skip_suffixes)
//   -> (Lock, RLock), or None when this interpreter's locks are not the
//   layout the fast path was written for (then nothing is hooked).
PyObject* LockFactories(PyObject*, PyObject* args) {
  PyObject *allocate_lock, *rlock_type, *suffixes;
  const char* shim_prefix;
  if (!PyArg_ParseTuple(args, "OOsO:lock_factories", &allocate_lock, &rlock_type, &shim_prefix,
                        &suffixes)) {
    return nullptr;
  }
  if (g_lock_type == nullptr) {
    std::vector<std::string> skip;
    if (!StringList(suffixes, skip)) return nullptr;
    g_skip_suffixes = std::move(skip);
    g_shim_prefix = shim_prefix;
    Py_INCREF(allocate_lock);
    Py_INCREF(rlock_type);
    g_allocate_lock = allocate_lock;
    g_real_rlock = rlock_type;
    PyObject* probe = PyObject_CallNoArgs(allocate_lock);
    if (probe == nullptr) return nullptr;
    PyObject* lock_type = reinterpret_cast<PyObject*>(Py_TYPE(probe));
    Py_INCREF(lock_type);
    Py_DECREF(probe);
    bool ok = PyType_Check(rlock_type) && SelfCheck(lock_type, rlock_type);
    if (ok) {
      g_lock_acquire = Descriptor(lock_type, "acquire");
      g_lock_release = Descriptor(lock_type, "release");
      g_rlock_acquire = Descriptor(rlock_type, "acquire");
      g_rlock_release = Descriptor(rlock_type, "release");
      g_rlock_release_save = Descriptor(rlock_type, "_release_save");
      g_rlock_acquire_restore = Descriptor(rlock_type, "_acquire_restore");
      ok = g_lock_acquire && g_lock_release && g_rlock_acquire && g_rlock_release &&
           g_rlock_release_save && g_rlock_acquire_restore;
    }
    Py_DECREF(lock_type);
    if (!ok) Py_RETURN_NONE;
    g_lock_type = NewLockType("waitgraph.Lock", kLockMethods);
    g_rlock_type = NewLockType("waitgraph.RLock", kRLockMethods);
    if (g_lock_type == nullptr || g_rlock_type == nullptr) return nullptr;
  }
  PyObject* lock = PyCFunction_New(&kLockFactory, nullptr);
  PyObject* rlock = PyCFunction_New(&kRLockFactory, nullptr);
  if (lock == nullptr || rlock == nullptr) {
    Py_XDECREF(lock);
    Py_XDECREF(rlock);
    return nullptr;
  }
  return Py_BuildValue("(NN)", lock, rlock);
}

// lock_work(kind, entity): work of that executor/loop begins on this
// thread; lock_work(0, entity): it ends.
PyObject* LockWorkPy(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 2) Py_RETURN_NONE;
  int64_t kind = PyLong_AsLongLong(args[0]);
  if (PyErr_Occurred()) {
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  uint64_t entity = EntityOf(args[1]);
  if (kind != 0) {
    EnterLockWork(kind, entity);
  } else {
    LeaveLockWork(entity);
  }
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"lock_factories", LockFactories, METH_VARARGS,
     "lock_factories(allocate_lock, rlock_type, shim_prefix, skip_suffixes) -> (Lock, RLock) or None"},
    {"lock_work", FAST(LockWorkPy), METH_FASTCALL, "lock_work(kind, entity): work begins (kind 0: ends)"},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

void LockHooksAfterForkInChild() {
  ThreadLocks& me = t_locks;
  const uint64_t parent_tid = me.tid;
  me.tid = 0;
  if (parent_tid == 0) return;
  const uint64_t child_tid = Me().tid;
  for (Held& h : me.held) {
    if (h.lock->holder == parent_tid) h.lock->holder = child_tid;
  }
}

void TraceHeldLocksBeforeWait() {
  ThreadLocks& me = Me();
  if (me.held.empty() || !Recording()) return;
  for (const Held& h : me.held) {
    if (HeldValid(h, me.tid)) EnsureTraced(h.lock);
  }
}

void EnterLockWork(int64_t kind, uint64_t entity) {
  ThreadLocks& me = Me();
  if (me.work.size() < 8) me.work.push_back({entity, kind});
}

void LeaveLockWork(uint64_t entity) {
  ThreadLocks& me = Me();
  for (size_t i = me.work.size(); i-- > 0;) {
    if (me.work[i].entity == entity) {
      me.work.erase(me.work.begin() + long(i));
      return;
    }
  }
}

void CountLockHooks(KeptCounts& out) {
  out.emplace_back("lock_hooks.lock_classes", g_classes->size());
  out.emplace_back("lock_hooks.code_objects", g_skip_code->size());
  out.emplace_back("lock_hooks.pairs_seen", g_pairs_seen->size());
}

bool InitLockHooks(PyObject* module) {
  g_classes = new std::unordered_map<std::pair<PyObject*, int>, LockClass*, SiteKeyHash>();
  g_skip_code = new std::unordered_map<PyObject*, bool>();
  g_pairs_seen = new std::unordered_set<uint64_t>();
  return PyModule_AddFunctions(module, kMethods) == 0;
}

}  // namespace waitgraph::shim
