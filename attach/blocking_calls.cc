#include "attach/blocking_calls.h"

#include <algorithm>
#include <optional>
#include <set>
#include <unordered_map>

#include "attach/bytecode.h"

#include "absl/strings/match.h"

namespace waitgraph::attach {
namespace {

bool Is(const PyFrame& f, std::string_view qualname, std::string_view file_suffix) {
  return f.function == qualname && f.file.ends_with(file_suffix);
}

constexpr std::string_view kThreading = "/threading.py";
constexpr std::string_view kFuturesThread = "/concurrent/futures/thread.py";
constexpr std::string_view kFuturesBase = "/concurrent/futures/_base.py";
constexpr std::string_view kQueue = "/queue.py";
constexpr std::string_view kBaseEvents = "/asyncio/base_events.py";
constexpr std::string_view kAsgirefSync = "/asgiref/sync.py";
constexpr std::string_view kAsgirefExecutor = "/asgiref/current_thread_executor.py";

// Reads one thread's frames, outermost first, keeping what the shim's hooks
// would have known at each call: which executor's work runs here, and
// whether an outer call already accounts for the thread's wait.
class ThreadReader {
 public:
  ThreadReader(PythonReader& reader, const PyThread& thread, std::vector<Fact>& out, uint64_t& next_wait,
               std::set<uint64_t>& executors, std::set<uint64_t>& loops)
      : r_(reader), t_(thread), out_(out), next_wait_(next_wait), executors_(executors), loops_(loops) {}

  void Read() {
    const auto& frames = t_.frames;
    for (size_t i = frames.size(); i-- > 0;) Visit(i);
    if (!waiting_ && !frames.empty() && !t_.holds_gil) LockWait();
  }

 private:
  std::vector<PyFrame> From(size_t i) const { return {t_.frames.begin() + long(i), t_.frames.end()}; }
  // The caller's stack: what the shim records for a wait in an API it hooks.
  std::vector<PyFrame> CallerOf(size_t i) const { return From(i + 1); }

  // Blocked in frame i now: nothing but library code runs inside it (a
  // user callback inside would mean the thread is doing work, not waiting).
  bool BlockedIn(size_t i) const {
    for (size_t j = 0; j < i; ++j) {
      if (!t_.frames[j].library) return false;
    }
    return true;
  }

  std::optional<int64_t> IntOf(std::optional<uint64_t> object) {
    return object ? r_.Int(*object) : std::nullopt;
  }

  bool HasTimeout(const PyFrame& f, std::string_view local = "timeout") {
    auto timeout = r_.Local(f, local);
    return timeout && !r_.IsNone(*timeout);
  }

  void Emit(trace::EventKind kind, uint64_t subject, uint64_t object, int64_t arg, std::string name,
            std::vector<PyFrame> stack = {}) {
    out_.push_back({kind, t_.native_id, subject, object, arg, std::move(name), std::move(stack)});
  }

  void Wait(size_t i, uint64_t target, trace::EntityKind kind, bool has_timeout, std::string api) {
    if (waiting_ || !BlockedIn(i)) return;
    waiting_ = true;
    Emit(trace::WAIT_BEGIN, next_wait_++, target,
         int64_t(kind) | (has_timeout ? int64_t(trace::WAIT_HAS_TIMEOUT) : 0), std::move(api), CallerOf(i));
  }

  void EnsureExecutor(uint64_t executor) {
    if (!executors_.insert(executor).second) return;
    int64_t max_workers = IntOf(r_.Attr(executor, "_max_workers")).value_or(0);
    auto prefix_object = r_.Attr(executor, "_thread_name_prefix");
    std::string prefix = prefix_object ? r_.Str(*prefix_object).value_or("") : "";
    Emit(trace::EXECUTOR_CREATED, executor, 0, max_workers, prefix);
    // Work still queued (the pool's SimpleQueue, lst[lst_pos:]): submitted,
    // not begun. A pool whose workers all wait for such work starves.
    auto queue = r_.Attr(executor, "_work_queue");
    if (!queue || r_.TypeName(*queue) != "_queue.SimpleQueue") return;
    uint64_t list = 0;
    int64_t pos = 0;
    if (!r_.memory().ReadValue(*queue + r_.layout().simplequeue_list, list) ||
        !r_.memory().ReadValue(*queue + r_.layout().simplequeue_list_pos, pos) || pos < 0) {
      return;
    }
    std::vector<uint64_t> items = r_.ListItems(list);
    for (size_t k = size_t(pos); k < items.size(); ++k) {
      auto future = r_.IsNone(items[k]) ? std::nullopt : r_.Attr(items[k], "future");
      if (future) Emit(trace::EXECUTOR_SUBMIT, executor, *future, 0, "");
    }
  }

  void EnsureLoop(uint64_t loop) {
    if (!loops_.insert(loop).second) return;
    Emit(trace::LOOP_CREATED, loop, 0, 0, r_.TypeName(loop).value_or("event loop"));
  }

  void Visit(size_t i) {
    const PyFrame& f = t_.frames[i];
    if (Is(f, "BaseEventLoop.run_forever", kBaseEvents)) {
      if (auto loop = r_.Local(f, "self")) {
        EnsureLoop(*loop);
        Emit(trace::LOOP_RUN_BEGIN, *loop, 0, 0, "", From(i));
      }
    } else if (Is(f, "_worker", kFuturesThread)) {
      auto ref = r_.Local(f, "executor_reference");
      executor_ = ref ? r_.WeakrefTarget(*ref).value_or(0) : 0;
      if (executor_ != 0) EnsureExecutor(executor_);
      // An idle worker (no work item inside): a worker of the pool all the
      // same, as the shim knows from the work it ran before.
      bool working = false;
      for (size_t j = 0; j < i; ++j) working |= Is(t_.frames[j], "_WorkItem.run", kFuturesThread);
      if (executor_ != 0 && !working) {
        Emit(trace::WORK_BEGIN, executor_, 0, 0, "");
        Emit(trace::WORK_END, executor_, 0, 0, "");
      }
    } else if (Is(f, "_WorkItem.run", kFuturesThread)) {
      auto self = r_.Local(f, "self");
      auto future = self ? r_.Attr(*self, "future") : std::nullopt;
      if (future && executor_ != 0) {
        Emit(trace::EXECUTOR_SUBMIT, executor_, *future, 0, "");
        Emit(trace::WORK_BEGIN, executor_, *future, 0, "");
      }
      waiting_ = false;  // the work item's own waits are the thread's now
    } else if (Is(f, "ThreadPoolExecutor.shutdown", kFuturesThread)) {
      auto self = r_.Local(f, "self");
      auto wait = self ? r_.Local(f, "wait") : std::nullopt;
      if (!self || !wait || r_.Int(*wait).value_or(0) == 0) return;
      bool joining = i > 0 && Is(t_.frames[i - 1], "Thread.join", kThreading);
      if (!joining || waiting_ || !BlockedIn(i)) return;
      EnsureExecutor(*self);
      bool cancel = IntOf(r_.Local(f, "cancel_futures")).value_or(0) != 0;
      Emit(trace::EXECUTOR_SHUTDOWN, *self, 0, trace::SHUTDOWN_WAIT | (cancel ? trace::SHUTDOWN_CANCEL_FUTURES : 0),
           "", CallerOf(i));
      Wait(i, *self, trace::ENTITY_EXECUTOR, false, "ThreadPoolExecutor.shutdown");
    } else if (Is(f, "Thread.join", kThreading)) {
      auto self = r_.Local(f, "self");
      auto native = self ? IntOf(r_.Attr(*self, "_native_id")) : std::nullopt;
      if (native) Wait(i, uint64_t(*native), trace::ENTITY_THREAD, HasTimeout(f), "Thread.join");
    } else if (Is(f, "Future.result", kFuturesBase) || Is(f, "Future.exception", kFuturesBase)) {
      if (auto self = r_.Local(f, "self")) {
        Wait(i, *self, trace::ENTITY_FUTURE, HasTimeout(f), f.function);
      }
    } else if (Is(f, "CurrentThreadExecutor.run_until_future", kAsgirefExecutor)) {
      auto self = r_.Local(f, "self");
      auto future = r_.Local(f, "future");
      if (!self || !future) return;
      if (executors_.insert(*self).second) {
        Emit(trace::EXECUTOR_CREATED, *self, t_.native_id, 1, "CurrentThreadExecutor");
      }
      executor_ = *self;
      Wait(i, *future, trace::ENTITY_FUTURE, false, "CurrentThreadExecutor.run_until_future");
    } else if (Is(f, "AsyncToSync.__call__", kAsgirefSync)) {
      // The result comes from the loop the awaitable was handed to: its own
      // new loop (`loop`), or the main event loop it was called from.
      auto call_result = r_.Local(f, "call_result");
      auto loop = r_.Local(f, "loop");
      if (!loop || r_.IsNone(*loop)) {
        auto self = r_.Local(f, "self");
        loop = self ? r_.Attr(*self, "main_event_loop") : std::nullopt;
      }
      if (call_result && loop && !r_.IsNone(*loop)) {
        EnsureLoop(*loop);
        Emit(trace::FUTURE_PRODUCER, *call_result, *loop, trace::ENTITY_LOOP, "AsyncToSync", From(i));
      }
    } else if (Is(f, "Event.wait", kThreading)) {
      if (auto self = r_.Local(f, "self")) Wait(i, *self, trace::ENTITY_EVENT, HasTimeout(f), "Event.wait");
    } else if (Is(f, "Queue.get", kQueue)) {
      auto self = r_.Local(f, "self");
      auto block = r_.Local(f, "block");
      if (self && block && r_.Int(*block).value_or(1) != 0) {
        Wait(i, *self, trace::ENTITY_QUEUE, HasTimeout(f), "Queue.get");
      }
    } else if (Is(f, "Condition.wait", kThreading)) {
      if (auto self = r_.Local(f, "self")) Wait(i, *self, trace::ENTITY_CONDITION, HasTimeout(f), "Condition.wait");
    }
  }

  // A lock's acquire is C: the innermost frame is at the `with lock:` or
  // `lock.acquire()` that called it (attach/bytecode.h). An RLock names its
  // owner; a Lock only whether it is taken.
  void LockWait() {
    std::string method;
    std::optional<BlockedCall> call = BlockedCallOf(r_, t_.frames.front(), &method);
    if (!call || (!call->with_block && method != "acquire")) return;
    auto type = r_.TypeName(call->object);
    bool reentrant = type == "_thread.RLock";
    if (!reentrant && type != "_thread.lock") return;
    const PythonLayout& l = r_.layout();
    uint64_t holder = 0;
    if (reentrant) {
      uint64_t owner = 0, count = 0;
      if (!r_.memory().ReadValue(call->object + l.rlock_owner, owner) ||
          !r_.memory().ReadValue(call->object + l.rlock_count, count) || count == 0 || owner == t_.ident) {
        return;  // free, or ours (we got it and wait only for the GIL)
      }
      auto it = natives_.find(owner);
      holder = it == natives_.end() ? 0 : it->second;
    } else {
      uint8_t locked = 0;
      if (!r_.memory().ReadValue(call->object + l.lock_locked, locked) || locked == 0) return;
    }
    std::string name = reentrant ? "RLock" : "Lock";
    // One class per lock: its creation site is not in the process's memory.
    Emit(trace::LOCK_CLASS, call->object, 0, 0, name);
    Emit(trace::LOCK_TRACED, call->object, call->object, int64_t(holder), "");
    out_.back().thread = holder;
    waiting_ = true;
    bool timeout = !call->with_block && call->arguments > 0;  // acquire(False) / acquire(timeout=...)
    Emit(trace::WAIT_BEGIN, next_wait_++, call->object,
         int64_t(trace::ENTITY_LOCK) | (timeout ? int64_t(trace::WAIT_HAS_TIMEOUT) : 0), name + ".acquire",
         t_.frames);
  }

 public:
  // threading.get_ident() -> native id, for lock owners.
  std::unordered_map<uint64_t, uint64_t> natives_;

 private:
  PythonReader& r_;
  const PyThread& t_;
  std::vector<Fact>& out_;
  uint64_t& next_wait_;
  std::set<uint64_t>& executors_;
  std::set<uint64_t>& loops_;
  uint64_t executor_ = 0;  // whose work runs here (pool worker or CurrentThreadExecutor)
  bool waiting_ = false;   // an outer frame's wait already covers this one
};

}  // namespace

std::vector<Fact> ReadBlockingCalls(PythonReader& reader, const std::vector<PyThread>& threads) {
  std::vector<Fact> out;
  uint64_t next_wait = 1;
  std::set<uint64_t> executors, loops;
  // Loops and executors first (every thread), so that a wait on another
  // thread finds them defined: the shim's order.
  std::unordered_map<uint64_t, uint64_t> natives;
  for (const PyThread& t : threads) natives[t.ident] = t.native_id;
  for (const PyThread& t : threads) {
    ThreadReader thread(reader, t, out, next_wait, executors, loops);
    thread.natives_ = natives;
    thread.Read();
  }
  std::stable_partition(out.begin(), out.end(), [](const Fact& f) {
    return f.kind == trace::LOOP_CREATED || f.kind == trace::EXECUTOR_CREATED || f.kind == trace::LOOP_RUN_BEGIN ||
           f.kind == trace::LOCK_CLASS || f.kind == trace::LOCK_TRACED;
  });
  return out;
}

}  // namespace waitgraph::attach
