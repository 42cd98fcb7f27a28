#include "instrument/native/loop_snapshot.h"
#include "trace/waitgraph_trace.pb.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <new>
#include <thread>
#include <vector>

#include "instrument/native/emit.h"
#include "instrument/native/exit_signals.h"
#include "instrument/native/hook.h"
#include "instrument/native/recorder.h"
#include "instrument/native/shim_thread.h"
#include "instrument/native/stack_walker.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

constexpr uint32_t kLoopWoken = trace::LOOP_WOKEN;
// Loop threads watched at once; a thread beyond that is simply not watched.
constexpr int kMaxSlots = 256;
// How often the watchdog looks, and the step it sleeps in (stop latency).
constexpr uint64_t kScanNs = 200'000'000;
constexpr auto kSleepStep = std::chrono::milliseconds(50);
// A loop is snapshotted at most this often.
constexpr uint64_t kMinSnapshotIntervalNs = 1'000'000'000;
// A loop woken by a periodic timer (uvicorn's 0.1 s tick) never sits long in
// one stay, yet does nothing else: it counts as idle too when it spent at
// least this share of the last idle period in its selector.
constexpr double kIdleShare = 0.95;

// One per thread that calls a hooked selector's select. `select_since` and
// `gen` are written by the owning thread with the GIL held and read by the
// watchdog without it; `snapshot_gen`/`woken_loop` only with the GIL held;
// `tried_gen`/`last_snapshot_ns` only by the watchdog.
struct Slot {
  std::atomic<bool> in_use{false};
  std::atomic<uint64_t> select_since{0};  // 0: not in select
  std::atomic<uint64_t> gen{0};           // bumped on entering and leaving select
  std::atomic<PyThreadState*> tstate{nullptr};
  std::atomic<uint64_t> tid{0};
  std::atomic<uint64_t> selected_ns{0};  // summed over the finished stays in select
  uint64_t snapshot_gen = 0;  // the stay in select that was snapshotted
  uint64_t woken_loop = 0;    // its loop, for LOOP_WOKEN
  uint64_t tried_gen = 0;
  uint64_t last_snapshot_ns = 0;
  uint64_t window_start_ns = 0;       // the watchdog's idle-share window
  uint64_t window_start_selected = 0;
};

Slot g_slots[kMaxSlots];
std::atomic<uint64_t> g_idle_ns{500'000'000};
PyObject* g_snapshot = nullptr;  // strong reference, set by start_loop_snapshots

// Frees this thread's slot when the thread ends.
struct SlotOwner {
  Slot* slot = nullptr;
  ~SlotOwner() {
    if (slot != nullptr) {
      slot->select_since.store(0, std::memory_order_release);
      slot->tstate.store(nullptr, std::memory_order_release);
      slot->in_use.store(false, std::memory_order_release);
    }
  }
};
thread_local SlotOwner t_slot;
thread_local bool t_no_slot = false;

Slot* MySlot() {
  if (t_slot.slot != nullptr) return t_slot.slot;
  if (t_no_slot) return nullptr;
  for (Slot& s : g_slots) {
    bool expected = false;
    if (s.in_use.compare_exchange_strong(expected, true)) {
      s.tstate.store(PyThreadState_Get(), std::memory_order_release);
      s.tid.store(NativeThreadId(), std::memory_order_release);
      s.snapshot_gen = 0;
      s.tried_gen = 0;
      s.selected_ns.store(0, std::memory_order_relaxed);
      s.window_start_ns = 0;
      t_slot.slot = &s;
      return &s;
    }
  }
  t_no_slot = true;
  return nullptr;
}

int64_t AsInt64(PyObject* o) {
  if (o == nullptr || !PyLong_Check(o)) return 0;
  int64_t v = PyLong_AsLongLong(o);
  if (v == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    return 0;
  }
  return v;
}

// ---- the watchdog thread ----------------------------------------------------

std::atomic<bool> g_stop{false};
std::thread* g_thread = nullptr;  // touched with the GIL held (start/stop/fork)

// Writes the events of one snapshot, as happening on the loop's thread.
void EmitSnapshot(Slot& slot, uint64_t gen, PyObject* result) {
  if (!PyTuple_Check(result) || PyTuple_GET_SIZE(result) != 2) return;
  PyObject* events = PyTuple_GET_ITEM(result, 1);
  if (!PyList_Check(events)) return;
  uint64_t tid = slot.tid.load(std::memory_order_acquire);
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(events); ++i) {
    PyObject* e = PyList_GET_ITEM(events, i);
    if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 6) continue;
    if (!g_recording.load()) return;
    EmitOn(tid, uint32_t(AsInt64(PyTuple_GET_ITEM(e, 0))), EntityOf(PyTuple_GET_ITEM(e, 1)),
           EntityOf(PyTuple_GET_ITEM(e, 2)), NameOf(PyTuple_GET_ITEM(e, 3)),
           AsInt64(PyTuple_GET_ITEM(e, 4)), uint32_t(AsInt64(PyTuple_GET_ITEM(e, 5))));
  }
  slot.snapshot_gen = gen;
  slot.woken_loop = EntityOf(PyTuple_GET_ITEM(result, 0));
}

// With the GIL held: the snapshot of the loop of `slot`'s thread if that
// thread is still in the stay in select numbered `gen`.
void SnapshotLocked(Slot& slot, uint64_t gen) {
  if (!g_recording.load() || g_forked_child.load() || g_snapshot == nullptr) return;
  if (slot.select_since.load(std::memory_order_acquire) == 0 ||
      slot.gen.load(std::memory_order_acquire) != gen) {
    return;  // it left the selector meanwhile
  }
  PyThreadState* ts = slot.tstate.load(std::memory_order_acquire);
  if (ts == nullptr) return;
  PyFrameObject* frame = PyThreadState_GetFrame(ts);
  if (frame == nullptr) return;
  PyObject* result = PyObject_CallOneArg(g_snapshot, reinterpret_cast<PyObject*>(frame));
  Py_DECREF(frame);
  if (result == nullptr) {
    PyErr_Clear();
    return;
  }
  if (result != Py_None) EmitSnapshot(slot, gen, result);
  Py_DECREF(result);
  if (PyErr_Occurred()) PyErr_Clear();
}

// Sleeps about `ns`, returning early when asked to stop.
void Nap(uint64_t ns) {
  auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
  while (!g_stop.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(kSleepStep);
  }
}

// The slot's thread sits in its selector now and has been idle for `idle`
// ns: in one stay, or (a loop woken only by a periodic timer) for at least
// kIdleShare of a window of that length. Watchdog thread only.
bool IdleLongEnough(Slot& slot, uint64_t now, uint64_t idle) {
  uint64_t since = slot.select_since.load(std::memory_order_acquire);
  if (since == 0 || now < since) return false;
  if (now - since >= idle) return true;
  uint64_t selected = slot.selected_ns.load(std::memory_order_acquire) + (now - since);
  if (slot.window_start_ns == 0 || now < slot.window_start_ns ||
      selected < slot.window_start_selected) {
    slot.window_start_ns = now;  // first look, or the slot changed hands
    slot.window_start_selected = selected;
    return false;
  }
  uint64_t span = now - slot.window_start_ns;
  if (span < idle) return false;
  bool idle_enough = double(selected - slot.window_start_selected) >= kIdleShare * double(span);
  slot.window_start_ns = now;
  slot.window_start_selected = selected;
  return idle_enough;
}

void WatchdogLoop() {
  BlockExitSignalsOnThisThread();  // an exit signal's flush never waits on this thread
  while (!g_stop.load()) {
    Nap(kScanNs);
    if (g_stop.load()) break;
    if (!g_recording.load(std::memory_order_relaxed) || g_forked_child.load()) continue;
    uint64_t idle = g_idle_ns.load();
    for (Slot& slot : g_slots) {
      if (g_stop.load()) break;
      if (!slot.in_use.load(std::memory_order_acquire)) continue;
      uint64_t now = MonotonicNs();
      if (!IdleLongEnough(slot, now, idle)) continue;
      uint64_t gen = slot.gen.load(std::memory_order_acquire);
      if (gen == slot.tried_gen || now - slot.last_snapshot_ns < kMinSnapshotIntervalNs) continue;
      slot.tried_gen = gen;
      slot.last_snapshot_ns = now;
      if (_Py_IsFinalizing()) return;
      PyGILState_STATE st = PyGILState_Ensure();
      {
        QuietScope quiet;  // the snapshot must record nothing of its own
        SnapshotLocked(slot, gen);
      }
      PyGILState_Release(st);
    }
  }
}

void OnForkChild() {
  g_thread = nullptr;  // leaked: the thread is not in this process
  g_stop.store(false);
  for (Slot& s : g_slots) {
    if (&s == t_slot.slot) continue;
    s.select_since.store(0);
    s.tstate.store(nullptr);
    s.in_use.store(false);
  }
}

// ---- SelectHook: the replacement of a selector's select ---------------------

// A SelectHook is a PlainWrapperObject (hook.h) around a selector's select.
using SelectHookObject = PlainWrapperObject;

PyObject* SelectVectorcall(PyObject* callable, PyObject* const* args, size_t nargsf,
                           PyObject* kwnames) {
  SelectHookObject* self = reinterpret_cast<SelectHookObject*>(callable);
  if (!Active()) return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
  Slot* slot = MySlot();
  if (slot == nullptr) return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
  uint64_t outer_since = slot->select_since.load(std::memory_order_relaxed);
  uint64_t gen = slot->gen.load(std::memory_order_relaxed) + 1;
  slot->gen.store(gen, std::memory_order_relaxed);
  uint64_t entered = MonotonicNs();
  slot->select_since.store(entered, std::memory_order_release);

  PyObject* result = PyObject_Vectorcall(self->original, args, nargsf, kwnames);

  if (outer_since == 0) {  // the outermost stay: what the idle share counts
    slot->selected_ns.fetch_add(MonotonicNs() - entered, std::memory_order_release);
  }
  slot->select_since.store(outer_since, std::memory_order_release);
  slot->gen.store(gen + 1, std::memory_order_release);
  if (slot->snapshot_gen == gen) {
    slot->snapshot_gen = 0;
    if (Active()) {
      PyObject *et, *ev, *tb;
      PyErr_Fetch(&et, &ev, &tb);  // select's own exception (EINTR & co.), if any
      EmitRaw(kLoopWoken, slot->woken_loop, 0, 0, 0, 0);
      PyErr_Restore(et, ev, tb);
    }
  }
  return result;
}

PyTypeObject g_select_hook_type = {PyVarObject_HEAD_INIT(nullptr, 0)};

// ---- module functions -------------------------------------------------------

PyObject* StartPy(PyObject*, PyObject* args) {
  double idle_ms;
  PyObject* snapshot;
  if (!PyArg_ParseTuple(args, "dO:start_loop_snapshots", &idle_ms, &snapshot)) return nullptr;
  if (idle_ms <= 0) idle_ms = 500;
  g_idle_ns.store(uint64_t(idle_ms * 1e6));
  Py_XSETREF(g_snapshot, Py_NewRef(snapshot));
  if (g_thread == nullptr) {
    g_stop.store(false);
    try {
      g_thread = new std::thread(WatchdogLoop);
    } catch (const std::exception&) {
      g_thread = nullptr;  // no snapshots: tasks are simply not seen as waiters
    }
  }
  Py_RETURN_NONE;
}

PyObject* StopPy(PyObject*, PyObject*) {
  Py_BEGIN_ALLOW_THREADS
  StopLoopSnapshots();
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

PyObject* StackOfFramesPy(PyObject*, PyObject* frames) {
  if (!g_recording.load() || g_forked_child.load() || !PyList_Check(frames)) {
    return PyLong_FromLong(0);
  }
  std::vector<PyFrameObject*> list;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(frames); ++i) {
    PyObject* f = PyList_GET_ITEM(frames, i);
    if (PyFrame_Check(f)) list.push_back(reinterpret_cast<PyFrameObject*>(f));
  }
  uint32_t id = 0;
  try {
    id = TheStackWalker().CaptureFrames(TheRecorder(), list.data(), int(list.size()));
  } catch (const std::bad_alloc&) {
    TheRecorder().Disable("out of memory");
  }
  return PyLong_FromUnsignedLong(id);
}

PyMethodDef kMethods[] = {
    {"start_loop_snapshots", StartPy, METH_VARARGS, "start_loop_snapshots(idle_ms, snapshot)"},
    {"stop_loop_snapshots", StopPy, METH_NOARGS, nullptr},
    {"stack_of_frames", StackOfFramesPy, METH_O,
     "Interned id of the stack made of exactly these frames, innermost first."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

void StopLoopSnapshots() { StopShimThread(g_thread, g_stop); }

bool InitLoopSnapshot(PyObject* module) {
  if (!AddPlainWrapperType<SelectVectorcall>(
          module, g_select_hook_type, "SelectHook", "waitgraph._native.SelectHook",
          "Marks a thread as sitting in its selector, for loop snapshots.")) {
    return false;
  }
  AtForkChildOnce(OnForkChild);
  return PyModule_AddFunctions(module, kMethods) == 0;
}

}  // namespace waitgraph::shim
