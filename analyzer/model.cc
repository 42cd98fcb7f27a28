#include "analyzer/model.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>

#include "absl/strings/str_cat.h"

namespace waitgraph::analyzer {
namespace {

using trace::Event;

const std::string& EmptyString() {
  static const std::string* empty = new std::string();
  return *empty;
}

template <typename Map>
const typename Map::mapped_type* FindIn(const Map& map, typename Map::key_type key) {
  auto it = map.find(key);
  return it == map.end() ? nullptr : &it->second;
}

// trace::EventKind_IsValid, from a table made once: that function is a
// call and a search, for the third of a trace's events (loop bindings,
// contexts) the model passes on to the analyses.
bool IsKnownKind(int kind) {
  static const auto* const known = [] {
    auto* table = new std::array<bool, 256>();
    for (int k = 0; k < 256; ++k) (*table)[k] = trace::EventKind_IsValid(k);
    return table;
  }();
  return kind >= 0 && kind < 256 ? (*known)[kind] : trace::EventKind_IsValid(kind);
}

}  // namespace

// The memory the analysis holds: this process's resident set, from
// /proc/self/statm (a read of a few bytes). mallinfo2(), which gives the
// heap in use but walks every free chunk of the heap to do so, took 40% of
// the analyzer's time on a 5M-event trace. Without /proc, the heap in use.
// The file stays open and is read again from its start: 1.9 us a reading
// instead of 8.5 us with an open and close each time (one per 1,024 events).
static uint64_t HeapInUse() {
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  static const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char text[128];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    unsigned long long size = 0, resident = 0;
    if (n > 0) {
      text[n] = '\0';
      if (std::sscanf(text, "%llu %llu", &size, &resident) == 2) return resident * page;
    }
  }
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

Model::Model(ModelLimits limits) : limits_(limits) {
  if (limits_.memory_bytes != UINT64_MAX) heap_at_start_ = HeapInUse();
}

bool Model::OverLimit() {
  if (over_limit_) return true;
  constexpr uint64_t kMemoryCheckEvery = 1024;
  if (stats_.events >= limits_.events) return over_limit_ = true;
  if (limits_.memory_bytes != UINT64_MAX && stats_.events % kMemoryCheckEvery == 0) {
    uint64_t heap = HeapInUse();
    over_limit_ = heap > heap_at_start_ && heap - heap_at_start_ > limits_.memory_bytes;
  }
  return over_limit_;
}

void Model::AddChunk(const trace::TraceChunk& chunk) { AddChunk(chunk, {}); }

void Model::AddChunk(const trace::TraceChunk& chunk, absl::Span<const trace::EventFields> events) {
  ++stats_.chunks;
  // A flight-recorder checkpoint stands for the chunks dropped before it.
  if (chunk.sequence() != next_sequence_ && !chunk.has_checkpoint()) ++stats_.out_of_order_chunks;
  next_sequence_ = chunk.sequence() + 1;
  if (chunk.has_process()) {
    process_ = chunk.process();
    has_process_info_ = true;
    library_prefixes_.assign(process_.library_prefixes().begin(), process_.library_prefixes().end());
  }
  // Sizes as kept (a frame copies its two strings; a stack's ids take 4 bytes).
  for (const auto& s : chunk.strings()) {
    if (InternRoom(s.value().size() + 32)) strings_.Define(s.id(), s.value());
  }
  if (chunk.frames_size() > 0 || chunk.stacks_size() > 0) ++definitions_version_;
  for (const auto& f : chunk.frames()) {
    if (!InternRoom(String(f.file()).size() + String(f.function()).size() + 80)) continue;
    Frame frame{String(f.file()), String(f.function()), f.line(), f.library()};
    FrameClass cls = ClassifyFile(frame.file, f.library(), library_prefixes_, source_root_);
    if (cls.origin != FrameOrigin::kProject && source_root_as_given_ != source_root_) {
      FrameClass as_given = ClassifyFile(frame.file, f.library(), library_prefixes_, source_root_as_given_);
      if (as_given.origin == FrameOrigin::kProject) cls = std::move(as_given);
    }
    frame.origin = cls.origin;
    frame.library = cls.origin == FrameOrigin::kStdlib || cls.origin == FrameOrigin::kSitePackages;
    frame.display = std::move(cls.display);
    frames_[f.id()] = std::move(frame);
  }
  for (const auto& s : chunk.stacks()) {
    if (!InternRoom(4 * uint64_t(s.frames_size()) + 48)) continue;
    stacks_[s.id()].assign(s.frames().begin(), s.frames().end());
  }
  // Times add up in unsigned arithmetic, saturating at the largest TimeNs: a
  // hostile or corrupt trace must not overflow a signed integer (UB).
  constexpr uint64_t kMaxTime = uint64_t(std::numeric_limits<TimeNs>::max());
  uint64_t clock = std::min<uint64_t>(chunk.base_time_ns(), kMaxTime);
  TimeNs time = static_cast<TimeNs>(clock);
  // An empty chunk is the writer's heartbeat: the process was alive then.
  if (time > 0 && stats_.events > 0) {
    last_time_ = std::max(last_time_, time);
    last_trace_time_ = std::max(last_trace_time_, time);
  }
  const size_t in_chunk = static_cast<size_t>(chunk.events_size());
  const size_t count = in_chunk + events.size();
  for (size_t i = 0; i < count; ++i) {
    if (OverLimit()) {
      stats_.events_over_limit += count - i;
      break;
    }
    if (i >= in_chunk) events[i - in_chunk].CopyTo(split_event_);
    const Event& e = i < in_chunk ? chunk.events(static_cast<int>(i)) : split_event_;
    clock = e.time_delta_ns() > kMaxTime - clock ? kMaxTime : clock + e.time_delta_ns();
    time = static_cast<TimeNs>(clock);
    if (stats_.events == 0) first_time_ = time;
    last_time_ = std::max(last_time_, time);
    last_trace_time_ = std::max(last_trace_time_, time);
    ++stats_.events;
    if (pending_wait_ && !(e.kind() == trace::WAIT_TARGET && e.subject() == *pending_wait_)) {
      NotifyPendingWait();
    }
    Apply(e, time);
    Dispatch(e, time);
  }
  NotifyPendingWait();
}

namespace {
// Model::SetEveryEventToEverySink: read when a sink is added, never per event.
std::atomic<bool> sinks_see_every_event{false};
}  // namespace

void Model::SetEveryEventToEverySink(bool on) { sinks_see_every_event.store(on); }
bool Model::every_event_to_every_sink() { return sinks_see_every_event.load(); }

void Model::AddSink(EventSink* sink) {
  sinks_.push_back(sink);
  sinks_unfiltered_ = every_event_to_every_sink();
  for (int kind = 0; kind < kKindsTabled; ++kind) {
    if (sinks_unfiltered_ || sink->Wants(kind)) sinks_by_kind_[kind].push_back(sink);
  }
}

void Model::Dispatch(const Event& e, TimeNs time) {
  const int kind = e.kind();
  if (kind >= 0 && kind < kKindsTabled) {
    for (EventSink* sink : sinks_by_kind_[kind]) sink->OnEvent(*this, e, time);
    return;
  }
  for (EventSink* sink : sinks_) {
    if (sinks_unfiltered_ || sink->Wants(kind)) sink->OnEvent(*this, e, time);
  }
}

bool Model::InternRoom(uint64_t bytes) {
  if (interned_bytes_ + bytes > limits_.interned_bytes) {
    ++stats_.interned_over_limit;
    return false;
  }
  interned_bytes_ += bytes;
  return true;
}

void Model::NotifyPendingWait() {
  if (!pending_wait_) return;
  const Wait* w = FindWait(*pending_wait_);
  pending_wait_.reset();
  if (w != nullptr && observer_ != nullptr) observer_->OnWaitBegin(*this, *w);
}

void Model::CountKept(KeptCounts& out) const {
  uint64_t queued = 0, running = 0, workers = 0;
  for (const auto& [id, ex] : executors_) {
    queued += ex.queued.size();  // cancelled_queued is a part of it
    running += ex.running.size();
    workers += ex.workers.size();
  }
  uint64_t snapshot_tasks = 0;
  for (const auto& [loop, snapshot] : snapshots_) snapshot_tasks += snapshot.tasks.size();
  out.insert(out.end(), {
      {"model.threads", threads_.size()},
      {"model.loops", loops_.size()},
      {"model.executors", executors_.size()},
      {"model.executor_queued", queued},
      {"model.executor_running", running},
      {"model.executor_workers", workers},
      {"model.futures_pending", futures_.size()},
      {"model.futures_recently_done", recently_done_.size()},
      {"model.waits", waits_.size()},
      {"model.scopes", scopes_.size()},
      {"model.locks", locks_.size()},
      {"model.lock_classes", lock_classes_.size()},
      {"model.semaphores", semaphores_.size()},
      {"model.tasks", tasks_.size()},
      {"model.task_ids_by_loop", EntriesIn(task_ids_by_loop_)},
      {"model.snapshots", snapshots_.size()},
      {"model.snapshot_tasks", snapshot_tasks},
      {"model.frames", frames_.size()},
      {"model.stacks", stacks_.size()},
      {"model.interned_bytes", interned_bytes_},
  });
}

const std::string& Model::NoString() { return EmptyString(); }

const Frame* Model::FrameById(uint32_t id) const {
  auto it = frames_.find(id);
  return it == frames_.end() ? nullptr : &it->second;
}

std::vector<const Frame*> Model::StackFrames(StackId id) const {
  std::vector<const Frame*> out;
  auto it = stacks_.find(id);
  if (id == 0 || it == stacks_.end()) return out;
  for (uint32_t frame_id : it->second) {
    if (const Frame* f = FrameById(frame_id)) out.push_back(f);
  }
  return out;
}

const Frame* Model::UserFrame(StackId stack) const {
  std::vector<const Frame*> frames = StackFrames(stack);
  const Frame* outside_libraries = nullptr;
  for (const Frame* f : frames) {
    if (f->origin == FrameOrigin::kProject) return f;
    if (outside_libraries == nullptr && !f->library) outside_libraries = f;
  }
  if (outside_libraries != nullptr) return outside_libraries;
  return frames.empty() ? nullptr : frames.front();
}

const Thread* Model::FindThread(ThreadId tid) const { return FindIn(threads_, tid); }
const Loop* Model::FindLoop(EntityId id) const { return FindIn(loops_, id); }
const Executor* Model::FindExecutor(EntityId id) const { return FindIn(executors_, id); }
const Future* Model::FindFuture(EntityId id) const { return FindIn(futures_, id); }

const std::string& Future::producer_reason() const {
  return producer_reason_ != nullptr ? *producer_reason_ : EmptyString();
}

const Future* Model::FindRecentlyDoneFuture(EntityId id) const {
  auto it = recently_done_slot_.find(id);
  return it == recently_done_slot_.end() ? nullptr : &recently_done_[it->second];
}

void Model::RememberDone(EntityId id) {
  auto it = futures_.find(id);
  if (it == futures_.end()) return;
  Future f = std::move(it->second);
  futures_.erase(it);
  if (f.producer_kind == ProducerKind::kExecutor) NoteCancelledQueued(f);
  if (f.producer_kind == ProducerKind::kUnknown) return;
  f.done = true;
  f.after.clear();  // only the producer is asked for
  auto [slot, added] = recently_done_slot_.try_emplace(id, 0);
  if (!added) {  // done again: kept where it was
    recently_done_[slot->second] = std::move(f);
    return;
  }
  if (recently_done_.size() < kRecentlyDoneFutures) {
    slot->second = static_cast<uint32_t>(recently_done_.size());
    recently_done_.push_back(std::move(f));
    return;
  }
  // Full: the oldest is forgotten, the newest takes its place.
  slot->second = static_cast<uint32_t>(next_done_);
  recently_done_slot_.erase(recently_done_[next_done_].id);
  recently_done_[next_done_] = std::move(f);
  next_done_ = (next_done_ + 1) % kRecentlyDoneFutures;
}

void Model::NoteCancelledQueued(const Future& f) {
  auto ex = executors_.find(f.producer);
  if (ex == executors_.end()) return;
  auto queued = ex->second.queued.find(f.id);
  if (queued == ex->second.queued.end()) return;  // began (or was never seen queued)
  const uint64_t number = queued->second;
  // Work submitted after it already began: it was taken off the queue.
  if (number < ex->second.latest_begun) {
    ex->second.queued.erase(queued);
    return;
  }
  // No larger than `queued`: no limit of its own.
  ex->second.cancelled_queued.emplace_back(number, f.id);
}

void Model::DropCancelledBefore(Executor& ex, uint64_t number) {
  ex.latest_begun = std::max(ex.latest_begun, number);
  if (ex.cancelled_queued.empty()) return;  // the common case
  auto gone = [&](const std::pair<uint64_t, EntityId>& c) {
    if (c.first >= number) return false;
    ex.queued.erase(c.second);
    return true;
  };
  ex.cancelled_queued.erase(
      std::remove_if(ex.cancelled_queued.begin(), ex.cancelled_queued.end(), gone),
      ex.cancelled_queued.end());
}

const Wait* Model::FindWait(EntityId id) const { return FindIn(waits_, id); }
const Lock* Model::FindLock(EntityId id) const { return FindIn(locks_, id); }
const LockClass* Model::FindLockClass(EntityId id) const { return FindIn(lock_classes_, id); }
const Semaphore* Model::FindSemaphore(EntityId id) const { return FindIn(semaphores_, id); }

std::string Model::ThreadLabel(ThreadId tid) const {
  const Thread* t = FindThread(tid);
  if (t != nullptr && !t->name.empty()) return t->name;
  return absl::StrCat("thread ", tid);
}

std::string Model::ScopeAt(TimeNs time) const {
  const Scope* best = nullptr;
  for (const auto& [id, scope] : scopes_) {
    if (scope.begin > time || (scope.end && *scope.end < time)) continue;
    if (best == nullptr || scope.begin >= best->begin) best = &scope;
  }
  return best == nullptr ? "" : best->name;
}

Thread& Model::ThreadRef(ThreadId tid) {
  Thread& t = threads_[tid];
  t.tid = tid;
  return t;
}

Future& Model::FutureRef(EntityId id) {
  Future& f = futures_[id];
  f.id = id;
  return f;
}

void Model::Apply(const Event& e, TimeNs time) {
  replaced_by_exec_ = false;  // any event after PROCESS_EXEC: the exec failed
  switch (e.kind()) {
    case trace::THREAD_STARTED:
    case trace::THREAD_EXITED:
      return ApplyThreadEvent(e, time);
    case trace::LOOP_CREATED:
    case trace::LOOP_RUN_BEGIN:
    case trace::LOOP_RUN_END:
    case trace::LOOP_STOPPED:
    case trace::LOOP_CLOSED:
    case trace::LOOP_HANDOFF:
      return ApplyLoopEvent(e, time);
    case trace::EXECUTOR_CREATED:
    case trace::EXECUTOR_SUBMIT:
    case trace::WORK_BEGIN:
    case trace::WORK_END:
    case trace::EXECUTOR_SHUTDOWN:
      return ApplyExecutorEvent(e, time);
    case trace::FUTURE_PRODUCER: {
      Future& f = FutureRef(e.subject());
      if (e.arg() == trace::ENTITY_FUTURE) {  // a dependency, the producer stays
        if (Room(f.after)) f.after.push_back({e.object(), String(e.name()), e.stack(), e.thread()});
        return;
      }
      switch (static_cast<trace::EntityKind>(e.arg())) {
        case trace::ENTITY_LOOP: f.producer_kind = ProducerKind::kLoop; break;
        case trace::ENTITY_EXECUTOR: f.producer_kind = ProducerKind::kExecutor; break;
        case trace::ENTITY_THREAD: f.producer_kind = ProducerKind::kThread; break;
        default: f.producer_kind = ProducerKind::kUnknown; break;
      }
      f.producer = e.object();
      f.set_producer_reason(String(e.name()));
      f.producer_stack = e.stack();
      f.producer_set_by = e.thread();
      return;
    }
    case trace::FUTURE_DONE:
      // A done future no longer blocks anyone; forget it (bounded memory for
      // long-running services). A later wait on it finds no producer: free.
      // Its producer is kept a little longer for the latent class graph.
      RememberDone(e.subject());
      return;
    case trace::WAIT_BEGIN:
    case trace::WAIT_TARGET:
    case trace::WAIT_END:
      return ApplyWaitEvent(e, time);
    case trace::LOCK_CLASS:
    case trace::LOCK_TRACED:
    case trace::LOCK_ACQUIRED:
    case trace::LOCK_RELEASED:
      return ApplyLockEvent(e, time);
    case trace::SEMAPHORE_HOLDER: {
      Semaphore& sem = semaphores_[e.subject()];
      sem.id = e.subject();
      if (e.arg() < 0) {
        sem.unknown = true;
        sem.holders.clear();
      } else if (e.object() != 0 && e.arg() == 0) {
        sem.holders.erase(e.object());
      } else if (e.object() != 0) {
        sem.holders[e.object()] = e.arg();
      }
      return;
    }
    case trace::LOOP_IDLE:
    case trace::TASK_WAITING:
    case trace::TASK_INFO:
    case trace::ASYNC_LOCK_OWNER:
    case trace::LOOP_WOKEN:
    case trace::SIGNAL_HANDLER:
      return ApplyTaskEvent(e, time);
    case trace::SCOPE_BEGIN:
      scopes_[e.subject()] = Scope{String(e.name()), time, std::nullopt};
      return;
    case trace::SCOPE_END:
      if (auto it = scopes_.find(e.subject()); it != scopes_.end()) it->second.end = time;
      return;
    case trace::SHIM_STOPPED:
      shim_stopped_ = true;
      return;
    case trace::SHIM_DISABLED:
      shim_disabled_reason_ = String(e.name());
      return;
    case trace::PROCESS_EXEC:
      replaced_by_exec_ = true;
      exec_recorded_nothing_ = e.arg() == 1;
      return;
    case trace::PROCESS_EXEC_FAILED:
      return;  // the process goes on (replaced_by_exec_ is reset above)
    default:
      if (!IsKnownKind(e.kind())) ++stats_.unknown_event_kinds;
      return;  // kinds for later analyses (contexts, stalls) pass through
  }
}

void Model::ApplyThreadEvent(const Event& e, TimeNs time) {
  Thread& t = ThreadRef(e.subject());
  if (e.kind() == trace::THREAD_STARTED) {
    t.name = String(e.name());
    t.started_by = e.object();
    t.start_stack = e.stack();
    t.exited = false;
  } else {
    t.exited = true;
  }
}

void Model::ApplyLoopEvent(const Event& e, TimeNs time) {
  Loop& loop = loops_[e.subject()];
  loop.id = e.subject();
  switch (e.kind()) {
    case trace::LOOP_CREATED:
      loop.class_name = String(e.name());
      loop.created_stack = e.stack();
      loop.created_by = e.thread();
      loop.created_at = time;
      break;
    case trace::LOOP_RUN_BEGIN: {
      ForgetSnapshot(loop.id);
      loop.running_thread = e.thread();
      loop.run_begin = time;
      loop.stopped = false;
      loop.ever_run_by.insert(e.thread());
      if (auto& running = ThreadRef(e.thread()).loops_running; Room(running)) running.push_back(loop.id);
      break;
    }
    case trace::LOOP_RUN_END: {
      ForgetSnapshot(loop.id);
      loop.running_thread.reset();
      auto& running = ThreadRef(e.thread()).loops_running;
      auto it = std::find(running.rbegin(), running.rend(), loop.id);
      if (it != running.rend()) running.erase(std::next(it).base());
      break;
    }
    case trace::LOOP_STOPPED: loop.stopped = true; break;
    case trace::LOOP_CLOSED: loop.closed = true; break;
    default: break;  // LOOP_HANDOFF: the FUTURE_PRODUCER event carries what matters
  }
}

void Model::ApplyExecutorEvent(const Event& e, TimeNs time) {
  Executor& ex = executors_[e.subject()];
  ex.id = e.subject();
  switch (e.kind()) {
    case trace::EXECUTOR_CREATED:
      ex.max_workers = static_cast<int>(e.arg());
      ex.name_prefix = String(e.name());
      ex.created_stack = e.stack();
      ex.own_thread = e.object();
      break;
    case trace::EXECUTOR_SUBMIT: {
      if (ex.first_submit_stack == 0) ex.first_submit_stack = e.stack();
      ex.queued.insert_or_assign(e.object(), ++ex.submits);
      Future& f = FutureRef(e.object());
      f.producer_kind = ProducerKind::kExecutor;
      f.producer = ex.id;
      f.set_producer_reason(String(e.name()));
      f.producer_stack = e.stack();
      f.producer_set_by = e.thread();
      break;
    }
    case trace::WORK_BEGIN:
      if (auto it = ex.queued.find(e.object()); it != ex.queued.end()) {
        const uint64_t number = it->second;
        ex.queued.erase(it);
        DropCancelledBefore(ex, number);
      }
      ex.running[e.object()] = e.thread();
      ex.workers.insert(e.thread());
      // A thread running its own CurrentThreadExecutor's work is no pool worker.
      if (ex.own_thread == 0) ThreadRef(e.thread()).worker_of = ex.id;
      break;
    case trace::WORK_END:
      ex.running.erase(e.object());
      break;
    case trace::EXECUTOR_SHUTDOWN:
      ex.shut_down = true;
      if (e.arg() & trace::SHUTDOWN_CANCEL_FUTURES) {
        ex.queued.clear();
        ex.cancelled_queued.clear();
      }
      break;
    default: break;
  }
}

void Model::ApplyWaitEvent(const Event& e, TimeNs time) {
  if (e.kind() == trace::WAIT_BEGIN) {
    Wait& w = waits_[e.subject()];
    w.id = e.subject();
    w.thread = e.thread();
    w.api = String(e.name());
    w.stack = e.stack();
    w.begin = time;
    w.any_of = (e.arg() & trace::WAIT_ANY_OF) != 0;
    w.has_timeout = (e.arg() & trace::WAIT_HAS_TIMEOUT) != 0;
    if (Room(w.targets)) w.targets.push_back({static_cast<trace::EntityKind>(e.arg() & 0xff), e.object()});
    Thread& t = ThreadRef(e.thread());
    if (!t.loops_running.empty()) w.loop_of_thread = t.loops_running.back();
    if (Room(t.active_waits)) t.active_waits.push_back(w.id);
    pending_wait_ = w.id;
    return;
  }
  auto it = waits_.find(e.subject());
  if (it == waits_.end()) {
    ++stats_.dangling_references;
    return;
  }
  Wait& w = it->second;
  if (e.kind() == trace::WAIT_TARGET) {
    if (Room(w.targets)) w.targets.push_back({static_cast<trace::EntityKind>(e.arg() & 0xff), e.object()});
    return;
  }
  // WAIT_END: the wait no longer constrains anyone; keep memory bounded.
  auto& active = ThreadRef(w.thread).active_waits;
  active.erase(std::remove(active.begin(), active.end(), w.id), active.end());
  waits_.erase(it);
}

void Model::SetLockHolder(Lock& lock, ThreadId holder) {
  if (lock.holder == holder) return;
  if (lock.holder != 0) {
    auto& held = ThreadRef(lock.holder).held_locks;
    held.erase(std::remove(held.begin(), held.end(), lock.id), held.end());
  }
  lock.holder = holder;
  if (holder == 0) return;
  if (auto& held = ThreadRef(holder).held_locks; Room(held)) held.push_back(lock.id);
}

void Model::ApplyLockEvent(const Event& e, TimeNs time) {
  if (e.kind() == trace::LOCK_CLASS) {
    LockClass& c = lock_classes_[e.subject()];
    c.id = e.subject();
    c.type_name = String(e.name());
    c.created_stack = e.stack();
    return;
  }
  if (e.kind() == trace::LOCK_TRACED) {
    Lock& lock = locks_[e.subject()];
    lock.id = e.subject();
    lock.class_id = e.object();
    SetLockHolder(lock, static_cast<ThreadId>(e.arg()));
    lock.depth = e.arg() != 0 ? 1 : 0;
    lock.holder_stack = e.stack();
    lock.held_since = time;
    return;
  }
  auto it = locks_.find(e.subject());
  if (it == locks_.end()) {
    ++stats_.dangling_references;
    return;
  }
  Lock& lock = it->second;
  lock.depth = e.arg();
  if (e.kind() == trace::LOCK_ACQUIRED) {
    if (lock.holder != e.thread()) {
      SetLockHolder(lock, e.thread());
      lock.held_since = time;
    }
    if (e.stack() != 0) lock.holder_stack = e.stack();
  } else if (e.arg() == 0) {  // LOCK_RELEASED, free now
    if (lock.holder != 0 && lock.holder != e.thread()) lock.released_by_other = true;
    SetLockHolder(lock, 0);
    lock.holder_stack = 0;
  }
}

}  // namespace waitgraph::analyzer
