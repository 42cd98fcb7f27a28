// The typed model of a trace: entities (threads, loops, executors, futures,
// waits) and their current state, built incrementally chunk by chunk so the
// same code serves post-mortem analysis and following a live process.
#ifndef WAITGRAPH_ANALYZER_MODEL_H_
#define WAITGRAPH_ANALYZER_MODEL_H_

#include <cstdint>
#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/types/span.h"
#include "analyzer/interned_strings.h"
#include "analyzer/source_root.h"
#include "trace/chunk_split.h"
#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::analyzer {

using EntityId = uint64_t;
using ThreadId = uint64_t;  // native thread id
using StackId = uint32_t;   // 0 = no stack
using TimeNs = int64_t;     // CLOCK_MONOTONIC of the traced process

struct Frame {
  std::string file;
  std::string function;
  uint32_t line = 0;
  bool library = false;  // stdlib or an installed package, and not the project's
  FrameOrigin origin = FrameOrigin::kOther;
  std::string display;  // the report's path style (see source_root.h)
  const std::string& shown_path() const { return display.empty() ? file : display; }
};

struct Target {
  trace::EntityKind kind = trace::ENTITY_UNKNOWN;
  EntityId id = 0;
  bool operator<(const Target& o) const {
    return kind != o.kind ? kind < o.kind : id < o.id;
  }
};

struct Thread {
  ThreadId tid = 0;
  std::string name;
  ThreadId started_by = 0;
  StackId start_stack = 0;
  bool exited = false;
  std::optional<EntityId> worker_of;  // executor whose work it has run
  std::vector<EntityId> active_waits;  // outermost first
  std::vector<EntityId> loops_running;  // innermost last (nested run_until_complete)
  std::vector<EntityId> held_locks;     // traced locks it holds, oldest first
};

struct Loop {
  EntityId id = 0;
  std::string class_name;
  StackId created_stack = 0;
  ThreadId created_by = 0;
  TimeNs created_at = 0;
  std::optional<ThreadId> running_thread;
  TimeNs run_begin = 0;
  std::set<ThreadId> ever_run_by;
  bool stopped = false;
  bool closed = false;
};

struct Executor {
  EntityId id = 0;
  int max_workers = 0;
  std::string name_prefix;
  StackId created_stack = 0;
  StackId first_submit_stack = 0;        // the first submit: who first used it
  ThreadId own_thread = 0;  // runs its work on this one thread (CurrentThreadExecutor)
  // Node-free (a busy pool begins and ends work all the time); `running`
  // keeps std::map's order.
  absl::btree_map<EntityId, ThreadId> running;  // work future -> worker
  // Submitted, not begun: work future -> its number in submit order.
  absl::flat_hash_map<EntityId, uint64_t> queued;
  uint64_t submits = 0;      // numbers queued work
  uint64_t latest_begun = 0;  // the largest number of work that began
  // Queued work cancelled before it began (FUTURE_DONE while queued): it
  // stays in the pool's queue, and in `queued`, until a worker takes it
  // off and skips it, which no event says. The queue is first in, first
  // out, so once work submitted after it begins, it is gone (issue 13 item
  // 8: else a service that cancels queued work keeps each forever).
  std::vector<std::pair<uint64_t, EntityId>> cancelled_queued;  // (number, future)
  std::set<ThreadId> workers;
  bool shut_down = false;
};

enum class ProducerKind { kUnknown, kLoop, kExecutor, kThread };

// A future that must complete before another can (FUTURE_PRODUCER of kind
// ENTITY_FUTURE): an AsyncToSync result whose task awaits executor work.
struct FutureDependency {
  EntityId future = 0;
  std::string reason;  // "AsyncToSync task: send_receipt awaits task deliver_receipt"
  StackId stack = 0;   // where the awaiting task handed the work over
  ThreadId seen_on = 0;
};

struct Future {
  EntityId id = 0;
  ProducerKind producer_kind = ProducerKind::kUnknown;
  EntityId producer = 0;       // loop/executor id, or thread id
  // "run_coroutine_threadsafe", "AsyncToSync", the submitted callable ("" if
  // not known).
  const std::string& producer_reason() const;
  // `reason` must outlive the future: the model's interned string
  // (Model::String), never a temporary. Not a copy: a string of its own was
  // a copy (and often a heap block) per submitted job, moved again when done.
  void set_producer_reason(const std::string& reason) { producer_reason_ = &reason; }
  StackId producer_stack = 0;
  ThreadId producer_set_by = 0;
  std::vector<FutureDependency> after;  // completes only after each of these
  bool done = false;

 private:
  const std::string* producer_reason_ = nullptr;  // the model's string, not a copy
};

struct Wait {
  EntityId id = 0;
  ThreadId thread = 0;
  std::string api;  // "Thread.join", "Future.result", ...
  StackId stack = 0;
  TimeNs begin = 0;
  std::optional<TimeNs> end;
  std::vector<Target> targets;
  bool any_of = false;
  bool has_timeout = false;
  std::optional<EntityId> loop_of_thread;  // the loop its thread was running
  bool active() const { return !end.has_value(); }
};

// A class of threading locks: where they are made (lockdep's lock class).
struct LockClass {
  EntityId id = 0;
  std::string type_name;  // "Lock", "RLock", "Lock of Semaphore"
  StackId created_stack = 0;
};

// A traced threading lock (LOCK_TRACED onwards): its holder is always known.
struct Lock {
  EntityId id = 0;
  EntityId class_id = 0;
  ThreadId holder = 0;     // 0 = free (or unknown)
  int64_t depth = 0;       // RLock recursion
  StackId holder_stack = 0;  // where the holder took it (one frame)
  TimeNs held_since = 0;
  // Once released by a thread that did not hold it, the lock is used as a
  // signal: whoever holds it, another thread may be the one to release it.
  bool released_by_other = false;
};

// A threading.Semaphore whose token holders are known (SEMAPHORE_HOLDER).
struct Semaphore {
  EntityId id = 0;
  std::map<ThreadId, int64_t> holders;  // tokens each thread holds
  bool unknown = false;                 // used as a signal: holders unknown
};

// An asyncio task as a waiter, as the latest snapshot of its loop saw it
// (LOOP_IDLE ... TASK_WAITING, written by the shim while the loop sat idle
// in its selector; see analyzer/model_tasks.cc).
struct Task {
  EntityId id = 0;
  EntityId loop = 0;
  std::string name;
  StackId created_stack = 0;
  // What it awaits (no targets: not waiting, or everything awaited is done).
  std::string api;  // "Lock.acquire", "Event.wait", "await Task", ...
  StackId stack = 0;  // its await chain, innermost first
  std::vector<Target> targets;
  std::vector<Target> last_targets;  // what it awaited in the snapshot before
  bool any_of = false;
  bool has_timeout = false;  // a wait_for / asyncio.timeout / sleep ends it
  TimeNs since = 0;          // when the snapshot that saw it waiting was taken
  uint64_t snapshot = 0;     // serial of the last snapshot that mentioned it
  bool waiting() const { return !targets.empty(); }
};

// The latest snapshot of an idle loop: what could still wake it.
struct LoopSnapshot {
  uint64_t serial = 0;
  uint64_t previous_serial = 0;  // the loop's snapshot before this one
  TimeNs time = 0;
  ThreadId thread = 0;    // the loop's thread, sitting in its selector
  int64_t wakeable = 0;   // descriptors besides its self-pipe, signal handlers
  int64_t timers = 0;     // pending timers, not cancelled
  bool woken = false;     // LOOP_WOKEN since: the loop runs again
  std::vector<EntityId> tasks;               // the waiting tasks it saw
  std::map<EntityId, EntityId> lock_owners;  // asyncio.Lock -> the task holding it
};

// A named span (a pytest test, ...) from SCOPE_BEGIN to SCOPE_END.
struct Scope {
  std::string name;
  TimeNs begin = 0;
  std::optional<TimeNs> end;
};

// How much of one trace the analysis keeps, at most: a trace may be hostile
// (CI analysing the traces of untrusted pull requests), and no real one comes
// near these. Past a limit, what would be added is counted in ModelStats and
// left out, and the report says so (TraceAnalysis::Notes). SECURITY.md lists
// them; tests pass smaller ones.
struct ModelLimits {
  // Events applied to the model and every analysis. The heap limit below is
  // what bounds memory (a crafted trace of 1M events that each make new state
  // takes about 400 MB); this bounds time, far above real traces (a busy
  // service writes ~50M events a day, and issue 12's benchmark reads 50M).
  uint64_t events = 200'000'000;
  // Memory the model and its analyses may take (growth of the process's
  // resident set since the model was made, measured every 1,024 events): a
  // short event may make them copy a long name, so the event count alone
  // does not bound memory.
  uint64_t memory_bytes = 2ull << 30;
  // Bytes of interned strings, frames and stacks kept.
  uint64_t interned_bytes = 256ull << 20;
  // Entries of one entity's list (a thread's nested waits and held locks,
  // a wait's targets, a future's dependencies): real ones hold a handful,
  // and each list is searched linearly.
  size_t per_entity = 1024;

  // For a process followed while it runs (`run`, `live`): its trace is
  // analysed to its end however long it runs, so only the other limits hold.
  static ModelLimits Following() {
    ModelLimits limits;
    limits.events = UINT64_MAX;
    limits.memory_bytes = UINT64_MAX;
    return limits;
  }
};

// Counters for what the model could not use: bad data becomes a count and a
// note, never a crash (Perfetto's stats table, in small).
struct ModelStats {
  uint64_t events = 0;
  uint64_t events_over_limit = 0;    // past ModelLimits::events: not applied
  uint64_t interned_over_limit = 0;  // definitions past interned_bytes: left out
  uint64_t lists_over_limit = 0;     // entries past per_entity: left out
  uint64_t chunks = 0;
  uint64_t unknown_event_kinds = 0;
  uint64_t dangling_references = 0;  // event refers to an entity never created
  uint64_t out_of_order_chunks = 0;
  uint64_t snapshot_task_visits = 0;  // work: tasks a LOOP_IDLE looked at (tests keep it linear)
};

// Something that happened and should be considered by class-level analysis:
// one blocking wait began (recorded at its begin time with its context).
class ModelObserver {
 public:
  virtual ~ModelObserver() = default;
  virtual void OnWaitBegin(const class Model& model, const Wait& wait) = 0;
};

// Sees every event after the model applied it. Each further analysis (the
// context model, loop affinity, stalls) is a sink in its own files, reading
// the model's entities and keeping its own state.

// The events of a loop's life the model applies itself (ApplyLoopEvent) and
// that sinks following loops also want.
inline bool IsLoopLifeEvent(int kind) {
  return kind == trace::LOOP_CREATED || kind == trace::LOOP_RUN_BEGIN || kind == trace::LOOP_RUN_END ||
         kind == trace::LOOP_STOPPED || kind == trace::LOOP_CLOSED || kind == trace::LOOP_HANDOFF;
}

// How many entries an analysis keeps now, table by table ("tasks",
// "accesses"): what `run --model-stats` writes, and what the tests that
// check a long run stays bounded compare. Counts, not bytes: a count that
// does not grow with the requests served is the honest figure.
using KeptCounts = std::vector<std::pair<std::string, uint64_t>>;

// The entries of every container a table maps its keys to (for KeptCounts).
template <typename Table>
uint64_t EntriesIn(const Table& table) {
  uint64_t n = 0;
  for (const auto& [key, values] : table) n += values.size();
  return n;
}

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnEvent(const class Model& model, const trace::Event& event, TimeNs time) = 0;
  // Whether OnEvent needs to see events of `kind` (asked once per kind: a
  // sink skips the call for the kinds it ignores, most of a busy trace).
  virtual bool Wants(int kind) const { return true; }
  // Appends what it keeps now (see KeptCounts), each name prefixed.
  virtual void CountKept(KeptCounts& out) const {}
};

class Model {
 public:
  explicit Model(ModelLimits limits = {});
  const ModelLimits& limits() const { return limits_; }
  // Adds the chunk's definitions and events. Chunks must come in order.
  void AddChunk(const trace::TraceChunk& chunk);
  // The same, for a chunk whose events were decoded apart (the reader's
  // DecodeChunkSplit): chunk.events() first, then `events`.
  void AddChunk(const trace::TraceChunk& chunk, absl::Span<const trace::EventFields> events);
  void set_observer(ModelObserver* observer) { observer_ = observer; }
  // The user's project (before the first chunk): frames under it are the
  // user's, even in site-packages. Empty: only stdlib/installed packages
  // are told from the rest.
  void SetSourceRoot(const std::string& dir) {
    source_root_ = NormaliseSourceRoot(dir);
    source_root_as_given_ = NormaliseSourceRoot(dir, /*resolve_symlinks=*/false);
  }
  const std::string& source_root() const { return source_root_; }
  void AddSink(EventSink* sink);
  // Testing: the sinks added from now on (by any model) see every event,
  // whatever their Wants() says. A test analyses traces with and without
  // it and requires the same report, so a kind a sink handles but left out
  // of its Wants() cannot be dropped unnoticed.
  static void SetEveryEventToEverySink(bool on);
  static bool every_event_to_every_sink();

  const trace::ProcessInfo& process() const { return process_; }
  bool has_process_info() const { return has_process_info_; }
  TimeNs first_time() const { return first_time_; }
  TimeNs last_time() const { return last_time_; }
  // The latest time the trace itself gave (its events and the writer's
  // heartbeats), never the clock AdvanceClock moved: what has been read of
  // the trace so far (`run` may lag its program).
  TimeNs last_trace_time() const { return last_trace_time_; }
  bool shim_stopped() const { return shim_stopped_; }
  // The last event is PROCESS_EXEC: the process image was replaced by exec
  // (its threads are gone; its waits ended with it).
  bool replaced_by_exec() const { return replaced_by_exec_; }
  // ... and recorded nothing of the program before that: a forked child
  // that only exec'd, not a process image worth a report of its own.
  bool superseded_by_exec() const { return replaced_by_exec_ && exec_recorded_nothing_; }
  const std::string& shim_disabled_reason() const { return shim_disabled_reason_; }
  const ModelStats& stats() const { return stats_; }
  // Appends what the model keeps now (see KeptCounts).
  void CountKept(KeptCounts& out) const;
  // The traced process is still alive at `now` (same CLOCK_MONOTONIC): waits
  // still open have lasted until now, not just until the last event.
  void AdvanceClock(TimeNs now) { last_time_ = std::max(last_time_, now); }

  // The interned string `id` ("" if undefined). The reference stays valid
  // as long as the model: a string is never moved nor overwritten (an id
  // defined again gets a new string), so analyses may keep pointers to it
  // instead of copies.
  // Inline: looked up for a third of a busy trace's events (a loop-bound
  // object's type, a wait's API, a submitted callable).
  const std::string& String(uint32_t id) const {
    const std::string* s = strings_.Find(id);
    return s == nullptr ? NoString() : *s;
  }
  // Changes whenever a frame or stack is defined: what was computed from
  // frames (a class of blocking things, a user's line) may be kept until then.
  uint64_t definitions_version() const { return definitions_version_; }
  const Frame* FrameById(uint32_t id) const;
  const absl::flat_hash_map<uint32_t, Frame>& frames() const { return frames_; }
  // Frames of a stack, innermost first (empty for 0 or unknown ids).
  std::vector<const Frame*> StackFrames(StackId id) const;
  // The user's line: the innermost frame of `stack` under the source root,
  // else the innermost outside the standard library and installed packages,
  // else the innermost frame, else nullptr.
  const Frame* UserFrame(StackId stack) const;

  const Thread* FindThread(ThreadId tid) const;
  const Loop* FindLoop(EntityId id) const;
  const Executor* FindExecutor(EntityId id) const;
  const Future* FindFuture(EntityId id) const;
  // A future done lately (the last kRecentlyDoneFutures), or null: a wait
  // that begins just after its future was done blocks no one, but still
  // shows what its thread depends on (the latent class graph).
  const Future* FindRecentlyDoneFuture(EntityId id) const;
  static constexpr size_t kRecentlyDoneFutures = 1024;
  const Wait* FindWait(EntityId id) const;
  const Lock* FindLock(EntityId id) const;
  const LockClass* FindLockClass(EntityId id) const;
  const Semaphore* FindSemaphore(EntityId id) const;
  const std::map<ThreadId, Thread>& threads() const { return threads_; }
  const std::map<EntityId, Loop>& loops() const { return loops_; }
  const std::map<EntityId, Executor>& executors() const { return executors_; }
  const std::map<EntityId, Wait>& waits() const { return waits_; }
  const std::map<EntityId, Scope>& scopes() const { return scopes_; }
  const Task* FindTask(EntityId id) const;
  const std::map<EntityId, Task>& tasks() const { return tasks_; }
  // The latest snapshot of `loop` while it runs (nullptr: none).
  const LoopSnapshot* FindSnapshot(EntityId loop) const;
  const std::map<EntityId, LoopSnapshot>& snapshots() const { return snapshots_; }
  // The program has a Python signal handler installed now (SIGNAL_HANDLER):
  // a signal may still run code on `signal_thread` (the main thread).
  bool has_signal_handlers() const { return !signal_handlers_.empty(); }
  ThreadId signal_thread() const { return signal_thread_; }
  // The innermost scope open at `time` (latest begun, not yet ended), or "".
  std::string ScopeAt(TimeNs time) const;

  // "MainThread", "ThreadPoolExecutor-0_0", or "thread 1234".
  std::string ThreadLabel(ThreadId tid) const;

 private:
  void Apply(const trace::Event& e, TimeNs time);
  // Observers see a wait once all its WAIT_TARGETs are in.
  void NotifyPendingWait();
  void ApplyThreadEvent(const trace::Event& e, TimeNs time);
  void ApplyLoopEvent(const trace::Event& e, TimeNs time);
  void ApplyExecutorEvent(const trace::Event& e, TimeNs time);
  void ApplyWaitEvent(const trace::Event& e, TimeNs time);
  void ApplyLockEvent(const trace::Event& e, TimeNs time);
  void SetLockHolder(Lock& lock, ThreadId holder);
  void ApplyTaskEvent(const trace::Event& e, TimeNs time);  // model_tasks.cc
  void ForgetSnapshot(EntityId loop);
  Thread& ThreadRef(ThreadId tid);
  // Whether `list` may take one more entry (ModelLimits::per_entity).
  template <typename List>
  bool Room(const List& list) {
    if (list.size() < limits_.per_entity) return true;
    ++stats_.lists_over_limit;
    return false;
  }
  // Whether `bytes` more of interned definitions may be kept.
  bool InternRoom(uint64_t bytes);
  Future& FutureRef(EntityId id);
  void RememberDone(EntityId future);  // FUTURE_DONE: out of futures_, into recently_done_
  // FUTURE_DONE of an executor's work that has not begun (cancelled).
  void NoteCancelledQueued(const Future& future);
  // `ex` began its work numbered `number`: cancelled work before it is gone.
  static void DropCancelledBefore(Executor& ex, uint64_t number);

  trace::ProcessInfo process_;
  bool has_process_info_ = false;
  std::string source_root_;           // symlinks resolved
  std::string source_root_as_given_;  // as named (Python names files without resolving)
  std::vector<std::string> library_prefixes_;
  uint64_t next_sequence_ = 0;
  TimeNs first_time_ = 0;
  TimeNs last_time_ = 0;
  TimeNs last_trace_time_ = 0;
  bool shim_stopped_ = false;
  bool replaced_by_exec_ = false;
  bool exec_recorded_nothing_ = false;
  std::string shim_disabled_reason_;
  // Past ModelLimits::events or memory_bytes (checked now and then).
  bool OverLimit();

  ModelLimits limits_;
  uint64_t heap_at_start_ = 0;  // mallinfo2's allocated bytes when made
  bool over_limit_ = false;
  ModelStats stats_;
  uint64_t interned_bytes_ = 0;
  ModelObserver* observer_ = nullptr;
  std::vector<EventSink*> sinks_;
  // The sinks that want each event kind (EventSink::Wants), by kind; kinds
  // past the table (none yet) go to every sink that wants them.
  static constexpr int kKindsTabled = 128;
  std::vector<EventSink*> sinks_by_kind_[kKindsTabled];
  bool sinks_unfiltered_ = false;  // SetEveryEventToEverySink when the sinks were added
  void Dispatch(const trace::Event& e, TimeNs time);
  uint64_t definitions_version_ = 0;
  trace::Event split_event_;  // each event of `events` in turn (AddChunk)
  std::optional<EntityId> pending_wait_;

  InternedStrings strings_;
  static const std::string& NoString();  // String() of an undefined id
  absl::flat_hash_map<uint32_t, Frame> frames_;
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> stacks_;

  std::map<ThreadId, Thread> threads_;
  std::map<EntityId, Loop> loops_;
  std::map<EntityId, Executor> executors_;
  absl::flat_hash_map<EntityId, Future> futures_;  // pending only (RememberDone)
  // The last kRecentlyDoneFutures done, a ring (oldest at next_done_), and
  // where each is in it.
  std::vector<Future> recently_done_;
  size_t next_done_ = 0;
  absl::flat_hash_map<EntityId, uint32_t> recently_done_slot_;
  std::map<EntityId, Wait> waits_;
  std::map<EntityId, Scope> scopes_;
  std::map<EntityId, Lock> locks_;
  std::map<EntityId, LockClass> lock_classes_;
  std::map<EntityId, Semaphore> semaphores_;
  std::map<EntityId, Task> tasks_;
  // The ids in tasks_ of each loop's tasks: a snapshot looks at its own
  // loop's tasks, not at every loop's (loop churn made that quadratic).
  absl::flat_hash_map<EntityId, std::set<EntityId>> task_ids_by_loop_;
  std::map<EntityId, LoopSnapshot> snapshots_;  // by loop
  uint64_t snapshot_serial_ = 0;
  std::set<int64_t> signal_handlers_;  // signals with a Python handler
  ThreadId signal_thread_ = 0;
};

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_MODEL_H_
