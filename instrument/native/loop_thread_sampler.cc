#include "instrument/native/loop_thread_sampler.h"
#include "trace/waitgraph_trace.pb.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <new>
#include <thread>
#include <vector>

#include "instrument/native/emit.h"
#include "instrument/native/exit_signals.h"
#include "instrument/native/gc_pauses.h"
#include "instrument/native/hook.h"
#include "instrument/native/object_ids.h"
#include "instrument/native/shim_thread.h"
#include "instrument/native/stall_watchdog.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

constexpr uint32_t kLoopStall = trace::LOOP_STALL;
// As the stall watchdog: one sample when a callback crosses the threshold,
// then one every 4 x threshold, at most this many.
constexpr int kMaxSamplesPerStall = 8;
// Loop threads watched at once; a thread beyond that is simply not watched.
constexpr int kMaxSlots = 64;
// The sampler looks every threshold/10, but not more often than this.
constexpr uint64_t kMinTickNs = 2'000'000;
// With no thread watched it only checks for work and for stop this often.
constexpr uint64_t kIdleNapNs = 50'000'000;
// Frames walked to find the callback's outermost one.
constexpr int kMaxFramesToName = 1000;

// The callback a watched thread is in, as far as the sampler has seen.
// Written by the sampler (during a look, with the slot's `reading` flag set,
// or with the GIL held) and by the watched thread when it stops being
// watched (GIL held, after waiting for `reading` to clear).
struct Look {
  uint64_t reg = 0;  // the registration it belongs to
  bool busy = false;
  uint64_t context_ver = 0;
  uint64_t first_ns = 0;  // the first look that saw this callback
  uint64_t last_ns = 0;   // the latest look that saw it still running
  uint64_t stall_id = 0;  // set by its first sample: it is a stall
  uint32_t name = 0;      // the callback ("task main"), set with stall_id
  int samples = 0;
  uint64_t next_sample_ns = 0;
  uint64_t tid = 0, loop = 0;
};

struct Slot {
  std::atomic<bool> claimed{false};
  std::atomic<bool> watched{false};
  std::atomic<bool> reading{false};  // the sampler is looking at it
  std::atomic<uint64_t> reg{0};      // bumped by every registration
  // Written by the watched thread (GIL held) before `watched` is set, and
  // stable while it is.
  PyThreadState* tstate = nullptr;
  PyObject* base_context = nullptr;  // strong: its address must not be reused
  PyObject* base_frame = nullptr;    // strong or null; read with the GIL only
  uint64_t tid = 0, loop = 0;
  Look look;
};

Slot g_slots[kMaxSlots];
std::atomic<int> g_watched_count{0};
std::atomic<bool> g_stop{false};
std::thread* g_thread = nullptr;  // started and forgotten with the GIL held

// The slot of the calling thread while it runs a watched loop.
struct Owner {
  Slot* slot = nullptr;
  // A thread that ends while watched (it cannot: the loop's run method
  // un-watches it on the way out) would leave a dangling thread state:
  // stop reading it. Its references are leaked (no GIL here).
  ~Owner() {
    if (slot == nullptr) return;
    slot->watched.store(false);
    while (slot->reading.load()) std::this_thread::yield();
    slot->look = Look{};
    g_watched_count.fetch_sub(1);
    slot->claimed.store(false);
  }
};
thread_local Owner t_owner;

// ---- the sampler thread -----------------------------------------------------

struct Action {
  Slot* slot = nullptr;
  uint64_t reg = 0, context_ver = 0;  // a sample: of this callback
  bool end = false;                   // else: LOOP_STALL for `look`
  Look look;
  uint64_t end_ns = 0;
};

// A stall's duration from what the looks saw: it ran from at most one tick
// before its first look to at most one tick after its last.
uint64_t StallDuration(const Look& look, uint64_t end_ns, uint64_t tick) {
  return std::min(end_ns, look.last_ns + tick) - look.first_ns;
}

// One look at a slot, without the GIL. Queues a sample when a callback has
// run for `threshold`, and the end of a stall when its callback is over.
void LookAt(Slot& slot, uint64_t now, uint64_t threshold, std::vector<Action>& actions) {
  slot.reading.store(true);
  Look& look = slot.look;
  bool busy = false;
  uint64_t reg = 0, ver = 0, tid = 0, loop = 0;
  if (slot.watched.load()) {
    reg = slot.reg.load(std::memory_order_relaxed);
    PyThreadState* ts = slot.tstate;
    // Two words of a running thread's state: the pointer is only compared.
    PyObject* context = __atomic_load_n(&ts->context, __ATOMIC_RELAXED);
    ver = __atomic_load_n(&ts->context_ver, __ATOMIC_RELAXED);
    busy = context != nullptr && context != slot.base_context;
    tid = slot.tid;
    loop = slot.loop;
  }
  if (busy && look.busy && look.reg == reg && look.context_ver == ver) {
    look.last_ns = now;  // the same callback, still running
    if (now - look.first_ns >= threshold && look.samples < kMaxSamplesPerStall &&
        now >= look.next_sample_ns) {
      ++look.samples;
      look.next_sample_ns = now + 4 * threshold;
      Action a;
      a.slot = &slot;
      a.reg = reg;
      a.context_ver = ver;
      actions.push_back(a);
    }
  } else {
    if (look.busy && look.stall_id != 0) {
      Action a;
      a.slot = &slot;
      a.end = true;
      a.look = look;
      a.end_ns = now;
      actions.push_back(a);
    }
    look = Look{};
    if (busy) {
      look.reg = reg;
      look.busy = true;
      look.context_ver = ver;
      look.first_ns = look.last_ns = now;
      look.tid = tid;
      look.loop = loop;
    }
  }
  slot.reading.store(false);
}

// "task main" for a task step (the outermost frame above the loop's caller
// is its coroutine), "H11Protocol.data_received" for a plain callback; 0
// when the thread runs no Python frame of its own (a C callback).
uint32_t CallbackName(PyThreadState* ts, PyObject* base) {
  PyFrameObject* frame = PyThreadState_GetFrame(ts);
  if (frame == nullptr || reinterpret_cast<PyObject*>(frame) == base) {
    Py_XDECREF(frame);
    return 0;
  }
  for (int n = 0; n < kMaxFramesToName; ++n) {
    PyFrameObject* back = PyFrame_GetBack(frame);
    if (back == nullptr || reinterpret_cast<PyObject*>(back) == base) {
      Py_XDECREF(back);
      break;
    }
    Py_DECREF(frame);
    frame = back;
  }
  PyCodeObject* code = PyFrame_GetCode(frame);
  Py_DECREF(frame);
  bool coroutine = (code->co_flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE)) != 0;
  PyObject* name = coroutine ? PyUnicode_FromFormat("task %U", code->co_qualname)
                             : Py_NewRef(code->co_qualname);
  Py_DECREF(code);
  uint32_t id = 0;
  if (name != nullptr) {
    id = NameOf(name);
    Py_DECREF(name);
  }
  if (PyErr_Occurred()) PyErr_Clear();
  return id;
}

// With the GIL held (the watched thread is not running): is the slot's
// thread still in the callback the sample was queued for?
bool StillIn(const Slot& slot, const Action& a) {
  if (!slot.watched.load() || slot.reg.load() != a.reg || slot.look.reg != a.reg) return false;
  const PyThreadState* ts = slot.tstate;
  return ts->context != slot.base_context && ts->context_ver == a.context_ver;
}

void SampleLocked(Slot& slot, const Action& a, const GilAsk& ask) {
  if (!g_recording.load() || g_forked_child.load() || !StillIn(slot, a)) return;
  Look& look = slot.look;
  // Before naming, which may let the thread go on.
  GilVerdict gil = GilTaken(ask, slot.tstate, look.tid);
  if (look.stall_id == 0) {
    // Naming walks frames (allocations, so possibly a collection running
    // finalizers that let the thread go on): check again afterwards.
    PyObject* base = Py_XNewRef(slot.base_frame);
    uint32_t name = CallbackName(slot.tstate, base);
    Py_XDECREF(base);
    if (name == 0 || !StillIn(slot, a)) return;  // a C callback: nothing to show
    look.stall_id = NewEntityId();
    look.name = name;
  }
  SampleStalledThread(look.tid, look.stall_id, slot.tstate, look.first_ns, gil);
}

// LOOP_STALL (and the collections that overlapped it) on the loop thread's
// behalf. GIL held.
void EndLocked(const Look& look, uint64_t duration) {
  if (!g_recording.load() || g_forked_child.load()) return;
  EmitOn(look.tid, kLoopStall, look.stall_id, look.loop, look.name, int64_t(duration), 0);
  ReportGcDuring(look.stall_id, look.first_ns, look.first_ns + duration);
}

uint64_t TickNs() { return std::max<uint64_t>(StallThresholdNs() / 10, kMinTickNs); }

void Nap(uint64_t ns) {
  auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
  while (!g_stop.load()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= until) break;
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(
        until - now, std::chrono::nanoseconds(kIdleNapNs)));
  }
}

void SamplerLoop() {
  BlockExitSignalsOnThisThread();  // an exit signal's flush never waits on this thread
  std::vector<Action> actions;
  while (!g_stop.load()) {
    uint64_t tick = TickNs();
    Nap(g_watched_count.load() > 0 ? tick : kIdleNapNs);
    if (g_stop.load()) break;
    if (!g_recording.load(std::memory_order_relaxed) || g_forked_child.load()) continue;
    uint64_t threshold = StallThresholdNs();
    actions.clear();
    uint64_t now = MonotonicNs();
    for (Slot& slot : g_slots) {
      if (slot.claimed.load(std::memory_order_acquire)) LookAt(slot, now, threshold, actions);
    }
    for (const Action& a : actions) {
      if (g_stop.load() || _Py_IsFinalizing()) return;
      GilAsk ask = AskingForGil();
      PyGILState_STATE st = PyGILState_Ensure();
      {
        QuietScope quiet;  // the describer must record nothing of its own
        if (a.end) {
          EndLocked(a.look, StallDuration(a.look, a.end_ns, tick));
        } else {
          SampleLocked(*a.slot, a, ask);
        }
      }
      PyGILState_Release(st);
    }
  }
}

void EnsureSamplerThread() {
  if (g_thread != nullptr) return;
  g_stop.store(false);
  try {
    g_thread = new std::thread(SamplerLoop);
  } catch (const std::exception&) {
    g_thread = nullptr;  // no sampler: stalls on this loop go unseen, as before
  }
}

// ---- watching and un-watching (the watched thread, GIL held) ---------------

Slot* ClaimSlot() {
  for (Slot& s : g_slots) {
    bool expected = false;
    if (s.claimed.compare_exchange_strong(expected, true)) return &s;
  }
  return nullptr;
}

void Unwatch() {
  Slot* slot = t_owner.slot;
  if (slot == nullptr) return;
  t_owner.slot = nullptr;
  slot->watched.store(false);
  while (slot->reading.load()) std::this_thread::yield();  // a look in progress
  // A stall still running when the loop stopped ends here, and now.
  Look look = slot->look;
  slot->look = Look{};
  PyObject* context = slot->base_context;
  PyObject* frame = slot->base_frame;
  slot->base_context = slot->base_frame = nullptr;
  slot->tstate = nullptr;
  g_watched_count.fetch_sub(1);
  slot->claimed.store(false, std::memory_order_release);
  if (look.busy && look.stall_id != 0 && Active()) {
    EndLocked(look, StallDuration(look, MonotonicNs(), TickNs()));
  }
  // Last: a finalizer run by these may do anything, the slot is free already.
  Py_XDECREF(frame);
  Py_XDECREF(context);
}

PyObject* WatchLoopThreadPy(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "watch_loop_thread(loop, base_frame)");
    return nullptr;
  }
  if (!Active() || g_forked_child.load()) Py_RETURN_NONE;
  Unwatch();  // a previous run of a loop on this thread, if any
  PyThreadState* ts = PyThreadState_Get();
  if (ts->context == nullptr) {
    // The thread's context is made lazily; the base must exist to compare.
    PyObject* copy = PyContext_CopyCurrent();
    if (copy == nullptr) {
      PyErr_Clear();
      Py_RETURN_NONE;
    }
    Py_DECREF(copy);
  }
  uint64_t loop = EntityOf(args[0]);
  if (ts->context == nullptr) Py_RETURN_NONE;
  Slot* slot = ClaimSlot();
  if (slot == nullptr) Py_RETURN_NONE;
  slot->tstate = ts;
  slot->base_context = Py_NewRef(ts->context);
  slot->base_frame = PyFrame_Check(args[1]) ? Py_NewRef(args[1]) : nullptr;
  slot->tid = NativeThreadId();
  slot->loop = loop;
  slot->reg.fetch_add(1);
  g_watched_count.fetch_add(1);
  slot->watched.store(true);
  t_owner.slot = slot;
  EnsureSamplerThread();
  Py_RETURN_NONE;
}

// LoopRunEnd: a PlainWrapperObject (hook.h) around asyncio._set_running_loop.
PyObject* LoopRunEndVectorcall(PyObject* callable, PyObject* const* args, size_t nargsf,
                               PyObject* kwnames) {
  auto* self = reinterpret_cast<PlainWrapperObject*>(callable);
  if (PyVectorcall_NARGS(nargsf) >= 1 && args[0] == Py_None && t_owner.slot != nullptr) {
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);  // uvloop calls it in a `finally`
    Unwatch();
    if (PyErr_Occurred()) PyErr_Clear();
    PyErr_Restore(et, ev, tb);
  }
  return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
}

PyTypeObject g_loop_run_end_type = {PyVarObject_HEAD_INIT(nullptr, 0)};

void OnForkChild() {
  // Only the forking thread is here, and a loop of the parent does not run
  // in the child: forget every watch (their references are leaked).
  g_thread = nullptr;  // leaked: the thread is not in this process
  g_stop.store(false);
  for (Slot& s : g_slots) {
    s.watched.store(false);
    s.reading.store(false);
    s.look = Look{};
    s.tstate = nullptr;
    s.base_context = s.base_frame = nullptr;
    s.claimed.store(false);
  }
  g_watched_count.store(0);
  t_owner.slot = nullptr;
}

PyMethodDef kMethods[] = {
    {"watch_loop_thread",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(WatchLoopThreadPy)),
     METH_FASTCALL,
     "watch_loop_thread(loop, base_frame): sample this thread for stalls while it runs loop."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

void StopLoopThreadSampler() { StopShimThread(g_thread, g_stop); }

bool InitLoopThreadSampler(PyObject* module) {
  if (!AddPlainWrapperType<LoopRunEndVectorcall>(
          module, g_loop_run_end_type, "LoopRunEnd", "waitgraph._native.LoopRunEnd",
          "Stops sampling a loop thread when its uncovered loop stops running.")) {
    return false;
  }
  AtForkChildOnce(OnForkChild);
  return PyModule_AddFunctions(module, kMethods) == 0;
}

}  // namespace waitgraph::shim
