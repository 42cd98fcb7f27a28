#include "attach/asyncio_tasks.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"

namespace waitgraph::attach {
namespace {

constexpr int kMaxChain = 64;
constexpr size_t kMaxTasks = 200000;

bool Is(const PyFrame& f, std::string_view qualname, std::string_view file_suffix) {
  return f.function == qualname && f.file.ends_with(file_suffix);
}

// asyncio primitives whose frame in an await chain names what a task waits
// for (the shim's _PRIMITIVE_FRAMES).
struct Primitive {
  std::string_view qualname, file, api;
  trace::EntityKind kind;
};
constexpr Primitive kPrimitives[] = {
    {"Lock.acquire", "/asyncio/locks.py", "Lock.acquire", trace::ENTITY_ASYNC_PRIMITIVE},
    {"Semaphore.acquire", "/asyncio/locks.py", "Semaphore.acquire", trace::ENTITY_ASYNC_PRIMITIVE},
    {"Event.wait", "/asyncio/locks.py", "Event.wait", trace::ENTITY_ASYNC_PRIMITIVE},
    {"Condition.wait", "/asyncio/locks.py", "Condition.wait", trace::ENTITY_ASYNC_PRIMITIVE},
    {"Barrier.wait", "/asyncio/locks.py", "Barrier.wait", trace::ENTITY_ASYNC_PRIMITIVE},
    {"Queue.get", "/asyncio/queues.py", "Queue.get", trace::ENTITY_ASYNC_QUEUE},
    {"Queue.put", "/asyncio/queues.py", "Queue.put", trace::ENTITY_ASYNC_QUEUE},
};

struct ChainFrame {
  PyFrame frame;
  std::vector<uint64_t> stack;  // its live value stack (suspended: stacktop is valid)
};

struct TaskWait {
  uint64_t task = 0;
  std::string api;
  std::vector<std::pair<uint64_t, trace::EntityKind>> targets;
  int64_t flags = 0;
  std::vector<ChainFrame> chain;  // outermost first
};

class LoopReader {
 public:
  LoopReader(PythonReader& r, uint64_t loop, uint64_t thread, std::vector<Fact>& out)
      : r_(r), l_(r.layout()), loop_(loop), thread_(thread), out_(out) {}

  void Read(const std::vector<uint64_t>& all_tasks) {
    std::vector<TaskWait> waits;
    for (uint64_t task : all_tasks) {
      uint64_t loop = 0;
      int32_t state = -1;
      if (!r_.memory().ReadValue(task + l_.future_loop, loop) || loop != loop_ ||
          !r_.memory().ReadValue(task + l_.future_state, state) || state != l_.future_pending) {
        continue;
      }
      std::optional<TaskWait> w = WaitOf(task);
      if (!w) return;  // a task about to run: the loop is not idle, no snapshot (as the shim)
      waits.push_back(std::move(*w));
    }
    Emit(trace::LOOP_IDLE, loop_, Wakeable(), PendingTimers(), "snapshot 1", {});
    for (const TaskWait& w : waits) {
      std::string name = r_.Str(Pointer(w.task + l_.task_name)).value_or("");
      Emit(trace::TASK_INFO, w.task, loop_, 0, name, {});
    }
    for (const TaskWait& w : waits) {
      std::vector<PyFrame> stack;
      for (auto it = w.chain.rbegin(); it != w.chain.rend(); ++it) stack.push_back(it->frame);
      for (const auto& [target, kind] : w.targets) {
        Emit(trace::TASK_WAITING, w.task, target, int64_t(kind) | w.flags, w.api, stack);
      }
    }
    LockOwners(waits);
  }

 private:
  uint64_t Pointer(uint64_t address) {
    uint64_t v = 0;
    return r_.memory().ReadValue(address, v) ? v : 0;
  }

  void Emit(trace::EventKind kind, uint64_t subject, uint64_t object, int64_t arg, std::string name,
            std::vector<PyFrame> stack) {
    out_.push_back({kind, thread_, subject, object, arg, std::move(name), std::move(stack)});
  }

  // Descriptors besides the self-pipe, and signal handlers: input may still come.
  int64_t Wakeable() {
    int64_t n = 0;
    if (auto selector = r_.Attr(loop_, "_selector")) {
      if (auto map = r_.Attr(*selector, "_fd_to_key")) n += int64_t(r_.DictItems(*map).size());
    }
    auto ssock = r_.Attr(loop_, "_ssock");
    if (n > 0 && ssock && !r_.IsNone(*ssock)) --n;
    if (auto handlers = r_.Attr(loop_, "_signal_handlers")) n += int64_t(r_.DictItems(*handlers).size());
    return n;
  }

  int64_t PendingTimers() {
    int64_t n = 0;
    auto scheduled = r_.Attr(loop_, "_scheduled");
    if (!scheduled) return 0;
    for (uint64_t handle : r_.ListItems(*scheduled)) {
      auto cancelled = r_.Attr(handle, "_cancelled");
      if (cancelled && r_.Int(*cancelled).value_or(1) == 0) ++n;
    }
    return n;
  }

  // The coroutines a task's coroutine awaits, outermost first (3.11's
  // _PyGen_yf: suspended at a RESUME with oparg >= 2, the awaited object is
  // on top of the value stack).
  std::vector<ChainFrame> Chain(uint64_t task) {
    std::vector<ChainFrame> chain;
    uint64_t object = Pointer(task + l_.task_coro);
    while (object != 0 && chain.size() < kMaxChain) {
      auto type = r_.TypeName(object);
      if (type != "coroutine" && type != "generator") break;
      uint64_t iframe = object + l_.gen_frame;
      std::optional<PyFrame> frame = r_.FrameAt(iframe);
      if (!frame || frame->function.empty()) break;
      ChainFrame cf{*frame, {}};
      int32_t stacktop = 0, nlocalsplus = 0;
      uint64_t prev_instr = Pointer(iframe + l_.iframe_prev_instr);
      uint8_t next[2] = {0, 0};
      bool read = r_.memory().ReadValue(iframe + l_.iframe_stacktop, stacktop) &&
                  r_.memory().ReadValue(frame->code + l_.code_nlocalsplus, nlocalsplus) &&
                  r_.memory().Read(prev_instr + l_.code_unit, next, 2);
      if (read && stacktop > nlocalsplus && stacktop - nlocalsplus < 4096) {
        cf.stack.resize(size_t(stacktop - nlocalsplus));
        if (!r_.memory().Read(iframe + l_.iframe_localsplus + int64_t(nlocalsplus) * 8, cf.stack.data(),
                              cf.stack.size() * 8)) {
          cf.stack.clear();
        }
      }
      chain.push_back(std::move(cf));
      bool yielding_from = read && l_.opcode_deopt[next[0]] == l_.op_resume && next[1] >= 2;
      object = yielding_from && !chain.back().stack.empty() ? chain.back().stack.back() : 0;
    }
    return chain;
  }

  std::optional<TaskWait> WaitOf(uint64_t task) {
    uint64_t waiter = Pointer(task + l_.task_fut_waiter);
    if (waiter == 0) return std::nullopt;
    TaskWait w;
    w.task = task;
    w.chain = Chain(task);
    for (const ChainFrame& cf : w.chain) {
      if (Is(cf.frame, "wait_for", "/asyncio/tasks.py")) {
        auto timeout = r_.Local(cf.frame, "timeout");
        if (timeout && !r_.IsNone(*timeout)) w.flags |= trace::WAIT_HAS_TIMEOUT;
      }
    }
    for (auto it = w.chain.rbegin(); it != w.chain.rend(); ++it) {  // innermost first
      for (const Primitive& p : kPrimitives) {
        if (!Is(it->frame, p.qualname, p.file)) continue;
        if (auto self = r_.Local(it->frame, "self")) {
          w.api = std::string(p.api);
          w.targets.push_back({*self, p.kind});
          return w;
        }
      }
      if (Is(it->frame, "sleep", "/asyncio/tasks.py")) {
        w.api = "asyncio.sleep";
        w.targets.push_back({waiter, trace::ENTITY_ASYNC_FUTURE});
        w.flags |= trace::WAIT_HAS_TIMEOUT;
        return w;
      }
    }
    auto type = r_.TypeName(waiter).value_or("");
    if (type == "_GatheringFuture") {
      w.api = "asyncio.gather";
      for (uint64_t child : r_.ListItems(r_.Attr(waiter, "_children").value_or(0))) {
        int32_t state = -1;
        if (r_.memory().ReadValue(child + l_.future_state, state) && state == l_.future_pending) {
          w.targets.push_back({child, IsTask(child) ? trace::ENTITY_TASK : trace::ENTITY_ASYNC_FUTURE});
        }
      }
      if (w.targets.empty()) return std::nullopt;  // all done: it runs next
      return w;
    }
    w.api = IsTask(waiter) ? "await Task" : "await Future";
    w.targets.push_back({waiter, IsTask(waiter) ? trace::ENTITY_TASK : trace::ENTITY_ASYNC_FUTURE});
    return w;
  }

  bool IsTask(uint64_t object) {
    auto type = r_.TypeName(object).value_or("");
    return type == "_asyncio.Task" || type == "Task";
  }

  // An asyncio.Lock has no owner field: its holder is the task inside
  // `async with lock:`, whose suspended frame keeps the lock's bound
  // __aexit__ on its value stack, and that is not itself queued on it.
  void LockOwners(const std::vector<TaskWait>& waits) {
    std::set<uint64_t> locks;
    std::map<uint64_t, std::set<uint64_t>> queued;  // lock -> tasks waiting for it
    for (const TaskWait& w : waits) {
      if (w.api != "Lock.acquire") continue;
      locks.insert(w.targets.front().first);
      queued[w.targets.front().first].insert(w.task);
    }
    for (uint64_t lock : locks) {
      auto locked = r_.Attr(lock, "_locked");
      if (!locked || r_.Int(*locked).value_or(0) == 0) continue;
      std::set<uint64_t> holders;
      for (const TaskWait& w : waits) {
        if (queued[lock].count(w.task)) continue;
        for (const ChainFrame& cf : w.chain) {
          for (uint64_t slot : cf.stack) {
            if (IsAexitOf(slot, lock)) holders.insert(w.task);
          }
        }
      }
      if (holders.size() == 1) Emit(trace::ASYNC_LOCK_OWNER, lock, *holders.begin(), 0, "", {});
    }
  }

  bool IsAexitOf(uint64_t slot, uint64_t lock) {
    if (slot == 0 || r_.TypeName(slot) != "method" || Pointer(slot + l_.method_self) != lock) return false;
    uint64_t function = Pointer(slot + l_.method_function);
    auto qualname = r_.Str(Pointer(function + l_.function_qualname));
    return qualname && qualname->ends_with("__aexit__");
  }

  PythonReader& r_;
  const PythonLayout& l_;
  uint64_t loop_, thread_;
  std::vector<Fact>& out_;
};

// The loop a thread sits idle in: its innermost frames are the selector's
// select() under BaseEventLoop._run_once, with no callback ready.
std::optional<uint64_t> IdleLoop(PythonReader& r, const PyThread& t) {
  for (size_t k = 0; k < t.frames.size(); ++k) {
    const PyFrame& f = t.frames[k];
    if (Is(f, "BaseEventLoop._run_once", "/asyncio/base_events.py")) {
      auto loop = r.Local(f, "self");
      auto ready = loop ? r.Attr(*loop, "_ready") : std::nullopt;
      int64_t size = -1;
      if (!ready || !r.memory().ReadValue(*ready + r.layout().varobject_size, size) || size != 0) {
        return std::nullopt;
      }
      return loop;
    }
    if (!f.file.ends_with("/selectors.py")) return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

void ReadLoopTasks(PythonReader& reader, const std::vector<PyThread>& threads, std::vector<Fact>& out) {
  std::vector<std::pair<uint64_t, uint64_t>> loops;  // loop, its thread
  for (const PyThread& t : threads) {
    if (auto loop = IdleLoop(reader, t)) loops.push_back({*loop, t.native_id});
  }
  if (loops.empty()) return;
  // asyncio.tasks._all_tasks: a WeakSet of every task not yet collected.
  std::vector<uint64_t> tasks;
  auto module = reader.Module("asyncio.tasks");
  auto all = module ? reader.DictGet(*module, "_all_tasks") : std::nullopt;
  auto data = all ? reader.Attr(*all, "data") : std::nullopt;
  if (!data) return;
  for (uint64_t ref : reader.SetItems(*data)) {
    auto type = reader.TypeName(ref);  // weakref.ReferenceType ("weakref" before 3.11)
    if (!type || (*type != "weakref" && *type != "weakref.ReferenceType")) continue;
    if (auto task = reader.WeakrefTarget(ref)) tasks.push_back(*task);
    if (tasks.size() >= kMaxTasks) break;
  }
  for (const auto& [loop, thread] : loops) LoopReader(reader, loop, thread, out).Read(tasks);
}

}  // namespace waitgraph::attach
