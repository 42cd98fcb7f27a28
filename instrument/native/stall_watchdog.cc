#include "instrument/native/stall_watchdog.h"
#include "trace/waitgraph_trace.pb.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <new>
#include <thread>

#include <unistd.h>

#include "instrument/native/gc_pauses.h"
#include "instrument/native/hook.h"
#include "instrument/native/emit.h"
#include "instrument/native/exit_signals.h"
#include "instrument/native/object_ids.h"
#include "instrument/native/recorder.h"
#include "instrument/native/shim_thread.h"
#include "instrument/native/stack_walker.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

constexpr uint32_t kLoopStall = trace::LOOP_STALL, kLoopStallSample = trace::LOOP_STALL_SAMPLE,
                   kLoopStallDelayed = trace::LOOP_STALL_DELAYED,
                   kLoopStallGil = trace::LOOP_STALL_GIL;
// Samples per stall: one when it crosses the threshold, then one every
// 4 x threshold, at most this many.
constexpr int kMaxSamplesPerStall = 8;
// Loop threads watched at once; a thread beyond that is simply not watched.
constexpr int kMaxSlots = 256;

// One per thread that runs asyncio callbacks. `start_ns` and `gen` are
// written by the owning thread with the GIL held and read by the watchdog
// without it; everything else is touched only with the GIL held (stall_id)
// or only by the watchdog (sampled_gen, samples, next_sample_ns).
struct Slot {
  std::atomic<bool> in_use{false};
  std::atomic<uint64_t> start_ns{0};  // 0: not inside a callback
  std::atomic<uint64_t> gen{0};       // bumped per callback
  std::atomic<PyThreadState*> tstate{nullptr};
  std::atomic<uint64_t> tid{0};
  uint64_t stall_id = 0;
  uint64_t sampled_gen = 0;
  int samples = 0;
  uint64_t next_sample_ns = 0;
  // A sample the loop thread takes of itself (SelfSampleCall) if it gets
  // the GIL back before the watchdog does: nonzero while one is asked for.
  // The fields below it are written before it is set (release).
  std::atomic<uint64_t> self_token{0};
  uint64_t self_gen = 0, self_asked_ns = 0, self_holder_tid = 0;
};

Slot g_slots[kMaxSlots];
std::atomic<uint64_t> g_threshold_ns{100'000'000};

// Frees this thread's slot when the thread ends.
struct SlotOwner {
  Slot* slot = nullptr;
  ~SlotOwner() {
    if (slot != nullptr) {
      slot->start_ns.store(0, std::memory_order_release);
      slot->tstate.store(nullptr, std::memory_order_release);
      slot->in_use.store(false, std::memory_order_release);
    }
  }
};
thread_local SlotOwner t_slot;
thread_local bool t_no_slot = false;  // all slots were taken when we asked

Slot* MySlot() {
  if (t_slot.slot != nullptr) return t_slot.slot;
  if (t_no_slot) return nullptr;
  for (Slot& s : g_slots) {
    bool expected = false;
    if (s.in_use.compare_exchange_strong(expected, true)) {
      s.tstate.store(PyThreadState_Get(), std::memory_order_release);
      s.tid.store(NativeThreadId(), std::memory_order_release);
      s.stall_id = 0;
      t_slot.slot = &s;
      return &s;
    }
  }
  t_no_slot = true;
  return nullptr;
}

// Python callbacks (strong references; set by start_stall_watchdog).
PyObject* g_on_stall = nullptr;
PyObject* g_describe_call = nullptr;

// ---- the watchdog thread ----------------------------------------------------

// The watchdog's mutex and condition variable are never destroyed: a forked
// child inherits them mid-wait (the parent's watchdog was waiting), and
// glibc's pthread_cond_destroy at exit would wait forever for that waiter,
// which does not exist in the child. The child makes fresh ones instead
// (AbandonStallWatchdogAfterFork).
std::mutex* g_mutex_ptr = new std::mutex();
std::condition_variable* g_wake_ptr = new std::condition_variable();
std::mutex& WatchdogMutex() { return *g_mutex_ptr; }
std::condition_variable& WatchdogWake() { return *g_wake_ptr; }
std::atomic<bool> g_stop{false};
std::thread* g_thread = nullptr;

// Wakes the watchdog from its wait: taking the mutex first means it is
// either before its check of g_stop or waiting, never in between.
void WakeWatchdog() {
  { std::lock_guard<std::mutex> lock(WatchdogMutex()); }
  WatchdogWake().notify_all();
}

}  // namespace

void SampleStalledThread(uint64_t tid, uint64_t stall_id, PyThreadState* ts, uint64_t start_ns,
                         const GilVerdict& gil) {
  // Tags: "gc:N" when a collection held the GIL we waited for, "python:"
  // when the thread itself held it (computing); else the call it is in.
  bool held_elsewhere = gil.what != WhileAsked::kBlockedInCall;
  bool computing = gil.what == WhileAsked::kRunningPython;
  int gc_generation = gil.gc_generation;
  if (!g_recording.load() || g_forked_child.load()) return;
  PyFrameObject* frame = PyThreadState_GetFrame(ts);
  if (frame == nullptr) return;
  uint32_t stack = 0;
  try {
    stack = TheStackWalker().CaptureFrom(TheRecorder(), frame);
  } catch (const std::bad_alloc&) {
    TheRecorder().Disable("out of memory");
  }
  uint64_t elapsed = MonotonicNs() - start_ns;
  // Frames are read now, before any Python code runs on this thread: the
  // describer below may let the stalled thread go on.
  uint32_t name = 0;
  if (gc_generation >= 0 && held_elsewhere) {
    PyObject* r = PyUnicode_FromFormat("gc:%d", gc_generation);
    if (r != nullptr) {
      name = NameOf(r);
      Py_DECREF(r);
    }
  } else if (g_describe_call != nullptr) {
    PyObject* r = PyObject_CallOneArg(g_describe_call, reinterpret_cast<PyObject*>(frame));
    if (r == nullptr) {
      PyErr_Clear();
    } else {
      if (computing) {
        PyObject* tagged = r == Py_None ? PyUnicode_FromString("python:")
                                        : PyUnicode_FromFormat("python:%S", r);
        Py_DECREF(r);
        r = tagged;
        if (r == nullptr) PyErr_Clear();
      }
      if (r != nullptr) {
        name = NameOf(r);
        Py_DECREF(r);
      }
    }
  }
  Py_DECREF(frame);
  if (PyErr_Occurred()) PyErr_Clear();
  if (!g_recording.load()) return;
  EmitOn(tid, kLoopStallSample, stall_id, 0, name, int64_t(elapsed), stack);
  if (gil.what == WhileAsked::kWaitingForGil) {
    EmitOn(tid, kLoopStallGil, stall_id, gil.holder_tid, 0, int64_t(gil.waited_ns), 0);
  }
}

uint64_t StallThresholdNs() { return g_threshold_ns.load(); }

namespace {

// With the GIL held: one sample of the thread of `slot` if it is still in
// the callback numbered `gen`, asked for with `ask`. If the GIL came at once,
// or the thread is blocked in a call while another held the GIL, it was not
// running Python but in a call that released it (time.sleep, I/O, a lock);
// if it held the GIL itself it was computing, and the call it was in when
// it let go is only where it happened to be; if it waited for the GIL, its
// frames are where it stood (gil_wait.h). A garbage collection that held
// the GIL when we asked makes the frames where it was triggered, not what
// took the time.
// The thread state of the slot's thread if it is still in the callback
// numbered `gen`, past the threshold; else nullptr. GIL held.
PyThreadState* StillStalled(Slot& slot, uint64_t gen, uint64_t* start) {
  if (!g_recording.load() || g_forked_child.load()) return nullptr;
  *start = slot.start_ns.load(std::memory_order_acquire);
  if (*start == 0 || slot.gen.load(std::memory_order_acquire) != gen) return nullptr;  // it ended
  if (MonotonicNs() - *start < g_threshold_ns.load()) return nullptr;  // a new, young callback
  return slot.tstate.load(std::memory_order_acquire);
}

void SampleLocked(Slot& slot, uint64_t gen, const GilAsk& ask) {
  uint64_t start = 0;
  PyThreadState* ts = StillStalled(slot, gen, &start);
  if (ts == nullptr) return;
  if (slot.stall_id == 0) slot.stall_id = NewEntityId();
  uint64_t tid = slot.tid.load();
  SampleStalledThread(tid, slot.stall_id, ts, start, GilTaken(ask, ts, tid));
}

// A pending call (CPython runs those on the main thread, between two
// instructions, with the GIL): the loop thread got the GIL back before the
// watchdog did, so it samples itself where it stood waiting for it, unless
// the watchdog has taken the sample already. Records nothing else, raises
// nothing.
int SelfSampleCall(void* arg) {
  Slot* slot = static_cast<Slot*>(arg);
  if (t_slot.slot != slot || slot->self_token.exchange(0, std::memory_order_acq_rel) == 0) {
    return 0;
  }
  PyObject *et, *ev, *tb;
  PyErr_Fetch(&et, &ev, &tb);
  uint64_t start = 0;
  if (PyThreadState* ts = StillStalled(*slot, slot->self_gen, &start); ts != nullptr) {
    GilVerdict gil;
    gil.what = WhileAsked::kWaitingForGil;
    gil.holder_tid = slot->self_holder_tid;
    gil.waited_ns = MonotonicNs() - slot->self_asked_ns;
    if (slot->stall_id == 0) slot->stall_id = NewEntityId();
    QuietScope quiet;  // the describer must record nothing of its own
    SampleStalledThread(slot->tid.load(), slot->stall_id, ts, start, gil);
  }
  if (PyErr_Occurred()) PyErr_Clear();
  PyErr_Restore(et, ev, tb);
  return 0;
}

// Without the GIL, having asked for it: when the slot's thread is the main
// thread and waits for a GIL another thread holds, lets it sample itself as
// soon as it has the GIL back (the watchdog may lose the GIL to others for
// the rest of the stall). True if armed.
bool ArmSelfSample(Slot& slot, uint64_t gen, const GilAsk& ask) {
  uint64_t tid = slot.tid.load();
  PyThreadState* ts = slot.tstate.load(std::memory_order_acquire);
  if (ts == nullptr || tid != static_cast<uint64_t>(getpid()) || !WaitsForGilNow(ask, ts, tid)) {
    return false;
  }
  slot.self_gen = gen;
  slot.self_asked_ns = ask.asked_ns;
  slot.self_holder_tid = ask.holder_tid;
  static std::atomic<uint64_t> next_token{1};
  slot.self_token.store(next_token.fetch_add(1), std::memory_order_release);
  if (Py_AddPendingCall(SelfSampleCall, &slot) != 0) {
    slot.self_token.store(0, std::memory_order_release);  // queue full: ours alone
    return false;
  }
  return true;
}

void WatchdogLoop() {
  BlockExitSignalsOnThisThread();  // an exit signal's flush never waits on this thread
  std::unique_lock<std::mutex> lock(WatchdogMutex());
  while (!g_stop) {
    uint64_t threshold = g_threshold_ns.load();
    // A callback that starts right after a scan is seen at most one tick
    // late; one already running is looked at when it crosses the threshold.
    uint64_t tick = std::max<uint64_t>(threshold / 10, 2'000'000);
    uint64_t now = MonotonicNs();
    uint64_t wait = tick;
    for (Slot& slot : g_slots) {
      if (!slot.in_use.load(std::memory_order_relaxed)) continue;
      uint64_t start = slot.start_ns.load(std::memory_order_relaxed);
      if (start != 0 && start + threshold > now) wait = std::min(wait, start + threshold - now);
    }
    WatchdogWake().wait_for(lock, std::chrono::nanoseconds(wait), [] { return g_stop.load(); });
    if (g_stop) break;
    if (!g_recording.load(std::memory_order_relaxed)) continue;
    now = MonotonicNs();
    for (Slot& slot : g_slots) {
      if (!slot.in_use.load(std::memory_order_acquire)) continue;
      uint64_t start = slot.start_ns.load(std::memory_order_acquire);
      if (start == 0 || now < start || now - start < threshold) continue;
      uint64_t gen = slot.gen.load(std::memory_order_acquire);
      if (gen != slot.sampled_gen) {
        slot.sampled_gen = gen;
        slot.samples = 0;
      } else if (slot.samples >= kMaxSamplesPerStall || now < slot.next_sample_ns) {
        continue;
      }
      ++slot.samples;
      slot.next_sample_ns = now + 4 * threshold;
      // Taking the GIL may wait for the stalled thread to let go of it: do
      // not hold our mutex meanwhile (stop() must be able to get in).
      lock.unlock();
      GilAsk ask = AskingForGil();
      bool armed = ArmSelfSample(slot, gen, ask);
      PyGILState_STATE st = PyGILState_Ensure();
      // Unless the loop thread has sampled itself meanwhile.
      if (!armed || slot.self_token.exchange(0, std::memory_order_acq_rel) != 0) {
        QuietScope quiet;  // the describer must record nothing of its own
        SampleLocked(slot, gen, ask);
      }
      PyGILState_Release(st);
      lock.lock();
      if (g_stop) break;
    }
  }
}

// ---- StallTimer: the replacement of Handle._run -----------------------------

// A StallTimer is a PlainWrapperObject (hook.h) around Handle._run.
using TimerObject = PlainWrapperObject;

// After an overrun callback, on its thread (GIL held): LOOP_STALL and what it
// delayed. `handle` is the Handle whose _run overran.
// `sampled_id`: the id its samples used, 0 if none was taken.
void ReportStall(uint64_t sampled_id, PyObject* handle, uint64_t start, uint64_t duration) {
  PyObject *et, *ev, *tb;
  PyErr_Fetch(&et, &ev, &tb);  // the callback's own exception, if any
  uint64_t stall_id = sampled_id != 0 ? sampled_id : NewEntityId();
  uint64_t loop = 0;
  uint32_t name = 0;
  PyObject* info = nullptr;
  if (g_on_stall != nullptr && handle != nullptr) {
    PyObject* d = PyLong_FromUnsignedLongLong(duration);
    if (d != nullptr) {
      PyObject* args[] = {handle, d};
      info = PyObject_Vectorcall(g_on_stall, args, 2, nullptr);
      Py_DECREF(d);
    }
    if (info == nullptr) PyErr_Clear();
  }
  if (info != nullptr && PyTuple_Check(info) && PyTuple_GET_SIZE(info) >= 3) {
    loop = EntityOf(PyTuple_GET_ITEM(info, 0));
    name = NameOf(PyTuple_GET_ITEM(info, 1));
  }
  EmitRaw(kLoopStall, stall_id, loop, name, int64_t(duration), 0);
  ReportGcDuring(stall_id, start, start + duration);
  if (info != nullptr && PyTuple_Check(info) && PyTuple_GET_SIZE(info) >= 3 &&
      PyList_Check(PyTuple_GET_ITEM(info, 2))) {
    PyObject* delayed = PyTuple_GET_ITEM(info, 2);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(delayed); ++i) {
      PyObject* item = PyList_GET_ITEM(delayed, i);
      if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 3) continue;
      uint64_t count = EntityOf(PyTuple_GET_ITEM(item, 0));
      int64_t delay = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 1));
      if (delay == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        delay = 0;
      }
      EmitRaw(kLoopStallDelayed, stall_id, count, NameOf(PyTuple_GET_ITEM(item, 2)), delay, 0);
    }
  }
  Py_XDECREF(info);
  if (PyErr_Occurred()) PyErr_Clear();
  PyErr_Restore(et, ev, tb);
}

PyObject* TimerVectorcall(PyObject* callable, PyObject* const* args, size_t nargsf,
                          PyObject* kwnames) {
  TimerObject* self = reinterpret_cast<TimerObject*>(callable);
  if (!Active()) return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
  Slot* slot = MySlot();
  if (slot == nullptr) return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
  // Nested callbacks (a loop run inside a callback) restore the outer start.
  uint64_t outer_start = slot->start_ns.load(std::memory_order_relaxed);
  uint64_t outer_stall = slot->stall_id;
  slot->stall_id = 0;
  slot->gen.store(slot->gen.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  uint64_t start = MonotonicNs();
  slot->start_ns.store(start, std::memory_order_release);

  PyObject* result = PyObject_Vectorcall(self->original, args, nargsf, kwnames);

  uint64_t duration = MonotonicNs() - start;
  // The callback is over: say so before reporting it. ReportStall runs
  // Python (on_stall, whose selector.select(0) lets go of the GIL), and a
  // watchdog that still saw the callback then would sample the report as a
  // new stall that never ends.
  uint64_t stall_id = slot->stall_id;
  slot->stall_id = outer_stall;
  slot->gen.store(slot->gen.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  slot->start_ns.store(outer_start, std::memory_order_release);
  if (duration >= g_threshold_ns.load(std::memory_order_relaxed) && Active()) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    ReportStall(stall_id, nargs >= 1 ? args[0] : nullptr, start, duration);
  }
  return result;
}

PyTypeObject g_timer_type = {PyVarObject_HEAD_INIT(nullptr, 0)};

// ---- module functions -------------------------------------------------------

PyObject* StartWatchdogPy(PyObject*, PyObject* args) {
  double threshold_ms;
  PyObject *on_stall, *describe_call;
  if (!PyArg_ParseTuple(args, "dOO:start_stall_watchdog", &threshold_ms, &on_stall,
                        &describe_call)) {
    return nullptr;
  }
  if (threshold_ms <= 0) threshold_ms = 100;
  g_threshold_ns.store(uint64_t(threshold_ms * 1e6));
  Py_XSETREF(g_on_stall, on_stall == Py_None ? nullptr : Py_NewRef(on_stall));
  Py_XSETREF(g_describe_call, describe_call == Py_None ? nullptr : Py_NewRef(describe_call));
  std::lock_guard<std::mutex> lock(WatchdogMutex());
  if (g_thread == nullptr) {
    g_stop = false;
    try {
      g_thread = new std::thread(WatchdogLoop);
    } catch (const std::exception&) {
      g_thread = nullptr;  // no watchdog: stalls are still timed, not sampled
    }
  }
  Py_RETURN_NONE;
}

PyObject* StopWatchdogPy(PyObject*, PyObject*) {
  Py_BEGIN_ALLOW_THREADS
  StopStallWatchdog();
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

PyObject* CaptureFrameStackPy(PyObject*, PyObject* frame) {
  if (!Active() || !PyFrame_Check(frame)) return PyLong_FromLong(0);
  uint32_t id = 0;
  try {
    id = TheStackWalker().CaptureFrom(TheRecorder(), reinterpret_cast<PyFrameObject*>(frame));
  } catch (const std::bad_alloc&) {
    TheRecorder().Disable("out of memory");
  }
  return PyLong_FromUnsignedLong(id);
}

PyMethodDef kMethods[] = {
    {"start_stall_watchdog", StartWatchdogPy, METH_VARARGS,
     "start_stall_watchdog(threshold_ms, on_stall, describe_call)"},
    {"stop_stall_watchdog", StopWatchdogPy, METH_NOARGS, nullptr},
    {"capture_frame_stack", CaptureFrameStackPy, METH_O,
     "Interned id of the stack from `frame` outwards (0 when not recording)."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

void StopStallWatchdog() { StopShimThread(g_thread, g_stop, WakeWatchdog); }

void AbandonStallWatchdogAfterFork() {
  g_thread = nullptr;  // leaked: the thread is not in this process
  // Leaked too: they may be locked or waited on by the parent's watchdog.
  g_mutex_ptr = new std::mutex();
  g_wake_ptr = new std::condition_variable();
  g_stop = false;
  // Slots of the parent's other threads: those threads (and their thread
  // states) do not exist here. Only the forking thread's slot stays valid.
  for (Slot& slot : g_slots) {
    slot.self_token.store(0, std::memory_order_relaxed);  // no watchdog to ask
    if (&slot == t_slot.slot) continue;
    slot.start_ns.store(0, std::memory_order_relaxed);
    slot.tstate.store(nullptr, std::memory_order_relaxed);
    slot.in_use.store(false, std::memory_order_relaxed);
  }
}

bool InitStallWatchdog(PyObject* module) {
  if (!AddPlainWrapperType<TimerVectorcall>(
          module, g_timer_type, "StallTimer", "waitgraph._native.StallTimer",
          "Times each asyncio callback for the stall watchdog.")) {
    return false;
  }
  return PyModule_AddFunctions(module, kMethods) == 0;
}

}  // namespace waitgraph::shim
