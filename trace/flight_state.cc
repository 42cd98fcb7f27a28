#include "trace/flight_state.h"

#include <algorithm>
#include <limits>

namespace waitgraph::trace {
namespace {

void Append(std::vector<TimedEvent>& out, const TimedEvent& e) { out.push_back(e); }

template <typename Map>
void AppendValues(std::vector<TimedEvent>& out, const Map& map) {
  for (const auto& [key, e] : map) out.push_back(e);
}

}  // namespace

void FlightState::ApplyChunk(const TraceChunk& chunk) {
  uint64_t clock = chunk.base_time_ns();
  for (const Event& e : chunk.events()) {
    clock = e.time_delta_ns() > std::numeric_limits<uint64_t>::max() - clock
                ? std::numeric_limits<uint64_t>::max()
                : clock + e.time_delta_ns();
    Apply(e, clock);
  }
}

void FlightState::Apply(const Event& e, uint64_t time_ns) {
  last_time_ns_ = std::max(last_time_ns_, time_ns);
  switch (e.kind()) {
    case THREAD_STARTED: threads_[e.subject()] = Timed(e, time_ns); return;
    case THREAD_EXITED: threads_.erase(e.subject()); return;
    case LOOP_CREATED:
    case LOOP_RUN_BEGIN:
    case LOOP_RUN_END:
    case LOOP_STOPPED:
    case LOOP_CLOSED:
    case LOOP_HANDOFF:
      return ApplyLoop(e, time_ns);
    case EXECUTOR_CREATED:
    case EXECUTOR_SUBMIT:
    case WORK_BEGIN:
    case WORK_END:
    case EXECUTOR_SHUTDOWN:
      return ApplyExecutor(e, time_ns);
    case FUTURE_PRODUCER: futures_[e.subject()].events.push_back(Timed(e, time_ns)); return;
    case FUTURE_DONE: return FutureDone(e.subject());
    case WAIT_BEGIN: waits_[e.subject()] = {Timed(e, time_ns)}; return;
    case WAIT_TARGET:
      if (auto it = waits_.find(e.subject()); it != waits_.end()) {
        it->second.push_back(Timed(e, time_ns));
      }
      return;
    case WAIT_END: waits_.erase(e.subject()); return;
    case LOCK_CLASS: lock_classes_[e.subject()] = Timed(e, time_ns); return;
    case LOCK_ORDER:
    case LOCK_IN_WORK:
      lock_orders_.push_back(Timed(e, time_ns));  // once per process per pair
      return;
    case LOCK_TRACED:
    case LOCK_ACQUIRED:
    case LOCK_RELEASED:
      return ApplyLock(e, time_ns);
    case SEMAPHORE_HOLDER: {
      const uint64_t sem = e.subject();
      if (e.arg() < 0) {  // holders unknowable from here on: a marker stays
        auto first = semaphore_holders_.lower_bound({sem, 0});
        auto last = semaphore_holders_.upper_bound({sem, std::numeric_limits<uint64_t>::max()});
        semaphore_holders_.erase(first, last);
        semaphore_holders_[{sem, 0}] = Timed(e, time_ns);
      } else if (e.object() == 0) {  // "no holder yet": the semaphore is known
        semaphore_holders_.try_emplace({sem, 0}, Timed(e, time_ns));
      } else if (e.arg() == 0) {
        semaphore_holders_.erase({sem, e.object()});
      } else {
        semaphore_holders_[{sem, e.object()}] = Timed(e, time_ns);
      }
      return;
    }
    case LIMITER_TOKEN:
      if ((e.arg() & 0xff) == LIMITER_RELEASED) {
        limiter_tokens_.erase({e.subject(), e.object()});
      } else {
        limiter_tokens_[{e.subject(), e.object()}] = Timed(e, time_ns);
      }
      return;
    case LOOP_IDLE:
    case TASK_WAITING:
    case TASK_INFO:
    case ASYNC_LOCK_OWNER:
    case LOOP_WOKEN:
      return ApplySnapshot(e, time_ns);
    case SIGNAL_HANDLER: signal_handlers_[e.subject()] = Timed(e, time_ns); return;
    case SCOPE_BEGIN: scopes_[e.subject()] = Timed(e, time_ns); return;
    case SCOPE_END: scopes_.erase(e.subject()); return;
    case SHIM_STOPPED:
    case SHIM_DISABLED:
      shim_events_.push_back(Timed(e, time_ns));
      return;
    default:
      return;  // history: contexts, loop affinity, stalls
  }
}

void FlightState::ApplyLoop(const Event& e, uint64_t time_ns) {
  const uint64_t id = e.subject();
  if (e.kind() == LOOP_HANDOFF) {  // matters while its future is pending
    if (e.object() != 0) futures_[e.object()].events.push_back(Timed(e, time_ns));
    return;
  }
  if (e.kind() == LOOP_CLOSED) {
    loops_.erase(id);
    snapshots_.erase(id);
    for (auto it = task_info_.begin(); it != task_info_.end();) {
      it = it->second.event.object() == id ? task_info_.erase(it) : std::next(it);
    }
    return;
  }
  std::vector<TimedEvent>& events = loops_[id];
  auto drop = [&](EventKind kind) {
    events.erase(std::remove_if(events.begin(), events.end(),
                                [&](const TimedEvent& t) { return t.event.kind() == kind; }),
                 events.end());
  };
  switch (e.kind()) {
    case LOOP_RUN_BEGIN:
    case LOOP_RUN_END:
      drop(LOOP_RUN_BEGIN);
      drop(LOOP_STOPPED);
      snapshots_.erase(id);  // the model forgets the loop's snapshot here too
      if (e.kind() == LOOP_RUN_BEGIN) events.push_back(Timed(e, time_ns));
      return;
    case LOOP_STOPPED:
      drop(LOOP_STOPPED);
      events.push_back(Timed(e, time_ns));
      return;
    default:  // LOOP_CREATED
      events.insert(events.begin(), Timed(e, time_ns));
      return;
  }
}

void FlightState::ApplyExecutor(const Event& e, uint64_t time_ns) {
  if (e.kind() == WORK_END) FutureDone(e.object());  // its pending work is over
  const uint64_t id = e.subject();
  auto found = executors_.find(id);
  if (found == executors_.end() && e.kind() != EXECUTOR_CREATED &&
      e.kind() != EXECUTOR_SUBMIT && e.kind() != WORK_BEGIN) {
    return;  // forgotten (or made before the shim): nothing to carry over
  }
  ExecutorState& ex = executors_[id];
  ex.last_used = ++order_;
  switch (e.kind()) {
    case EXECUTOR_CREATED: ex.created = Timed(e, time_ns); break;
    case EXECUTOR_SUBMIT: {
      FutureState& f = futures_[e.object()];
      if (f.executor != id) {
        f.executor = id;
        ++ex.pending;
      }
      f.events.push_back(Timed(e, time_ns));
      break;
    }
    case WORK_BEGIN: ex.work_by_thread[e.thread()] = {Timed(e, time_ns)}; break;
    case WORK_END: {
      auto it = ex.work_by_thread.find(e.thread());
      if (it != ex.work_by_thread.end()) {
        it->second.resize(1);
        it->second.push_back(Timed(e, time_ns));
      }
      break;
    }
    case EXECUTOR_SHUTDOWN: ex.shutdown.push_back(Timed(e, time_ns)); break;
    default: break;
  }
  if (!ex.shutdown.empty() && ex.pending <= 0) executors_.erase(id);
}

void FlightState::FutureDone(uint64_t future) {
  auto it = futures_.find(future);
  if (it == futures_.end()) return;
  const uint64_t executor = it->second.executor;
  futures_.erase(it);
  auto ex = executors_.find(executor);
  if (executor == 0 || ex == executors_.end()) return;
  if (--ex->second.pending <= 0 && !ex->second.shutdown.empty()) executors_.erase(ex);
}

void FlightState::ApplyLock(const Event& e, uint64_t time_ns) {
  if (e.kind() == LOCK_TRACED) {
    LockState& lock = locks_[e.subject()];
    lock.traced = Timed(e, time_ns);
    lock.since_free.clear();
    lock.last_used = order_;
    TrimFreeLocks();
    return;
  }
  auto it = locks_.find(e.subject());
  if (it == locks_.end()) return;
  LockState& lock = it->second;
  lock.last_used = ++order_;
  if (e.kind() == LOCK_RELEASED && e.arg() == 0) {  // free: nothing to carry but the lock
    lock.since_free.clear();
    lock.traced.event.set_arg(0);
    lock.traced.event.set_stack(0);
    return;
  }
  // The first acquire of this holding says since when; the last event, the
  // depth and the holder's stack now.
  if (lock.since_free.size() >= 2) lock.since_free.pop_back();
  lock.since_free.push_back(Timed(e, time_ns));
}

void FlightState::ApplySnapshot(const Event& e, uint64_t time_ns) {
  switch (e.kind()) {
    case LOOP_IDLE: {
      const uint64_t loop = e.subject();
      auto previous = snapshots_.find(loop);
      if (previous != snapshots_.end()) {  // tasks it did not see have ended
        const std::vector<uint64_t>& seen = previous->second.tasks;
        for (auto it = task_info_.begin(); it != task_info_.end();) {
          bool ended = it->second.event.object() == loop &&
                       std::find(seen.begin(), seen.end(), it->first) == seen.end();
          it = ended ? task_info_.erase(it) : std::next(it);
        }
      }
      snapshots_[loop] = Snapshot{{Timed(e, time_ns)}, {}};
      snapshot_loop_ = loop;
      return;
    }
    case TASK_INFO: task_info_[e.subject()] = Timed(e, time_ns); return;
    case TASK_WAITING: {
      auto info = task_info_.find(e.subject());
      uint64_t loop = info != task_info_.end() ? info->second.event.object() : snapshot_loop_;
      auto snap = snapshots_.find(loop);
      if (snap == snapshots_.end()) return;
      snap->second.events.push_back(Timed(e, time_ns));
      snap->second.tasks.push_back(e.subject());
      return;
    }
    case ASYNC_LOCK_OWNER: {
      auto owner = task_info_.find(e.object());
      if (owner == task_info_.end()) return;
      auto snap = snapshots_.find(owner->second.event.object());
      if (snap != snapshots_.end()) snap->second.events.push_back(Timed(e, time_ns));
      return;
    }
    default: {  // LOOP_WOKEN
      auto snap = snapshots_.find(e.subject());
      if (snap != snapshots_.end()) snap->second.events.push_back(Timed(e, time_ns));
      return;
    }
  }
}

void FlightState::TrimFreeLocks() {
  if (locks_.size() <= 2 * kMaxFreeTracedLocks) return;
  std::vector<std::pair<uint64_t, uint64_t>> free;  // last_used, id
  for (const auto& [id, lock] : locks_) {
    if (lock.since_free.empty() && lock.traced.event.arg() == 0) free.push_back({lock.last_used, id});
  }
  if (free.size() <= kMaxFreeTracedLocks) return;
  std::sort(free.begin(), free.end());
  for (size_t i = 0; i + kMaxFreeTracedLocks < free.size(); ++i) locks_.erase(free[i].second);
}

void FlightState::TrimIdleExecutors() {
  std::vector<std::pair<uint64_t, uint64_t>> idle;  // last_used, id
  for (const auto& [id, ex] : executors_) {
    if (ex.pending <= 0 && ex.created.event.object() != 0) idle.push_back({ex.last_used, id});
  }
  if (idle.size() <= kMaxIdleOwnThreadExecutors) return;
  std::sort(idle.begin(), idle.end());
  for (size_t i = 0; i + kMaxIdleOwnThreadExecutors < idle.size(); ++i) {
    executors_.erase(idle[i].second);
  }
}

std::vector<TimedEvent> FlightState::LiveEvents() const {
  const_cast<FlightState*>(this)->TrimIdleExecutors();
  std::vector<TimedEvent> out;
  AppendValues(out, threads_);
  for (const auto& [id, events] : loops_) out.insert(out.end(), events.begin(), events.end());
  for (const auto& [id, ex] : executors_) {
    if (ex.created.order != 0) Append(out, ex.created);
    out.insert(out.end(), ex.shutdown.begin(), ex.shutdown.end());
    for (const auto& [tid, work] : ex.work_by_thread) out.insert(out.end(), work.begin(), work.end());
  }
  for (const auto& [id, f] : futures_) out.insert(out.end(), f.events.begin(), f.events.end());
  for (const auto& [id, w] : waits_) out.insert(out.end(), w.begin(), w.end());
  AppendValues(out, lock_classes_);
  out.insert(out.end(), lock_orders_.begin(), lock_orders_.end());
  for (const auto& [id, lock] : locks_) {
    Append(out, lock.traced);
    out.insert(out.end(), lock.since_free.begin(), lock.since_free.end());
  }
  AppendValues(out, semaphore_holders_);
  AppendValues(out, limiter_tokens_);
  for (const auto& [loop, snap] : snapshots_) out.insert(out.end(), snap.events.begin(), snap.events.end());
  AppendValues(out, task_info_);
  AppendValues(out, signal_handlers_);
  AppendValues(out, scopes_);
  out.insert(out.end(), shim_events_.begin(), shim_events_.end());
  std::sort(out.begin(), out.end(),
            [](const TimedEvent& a, const TimedEvent& b) { return a.order < b.order; });
  return out;
}

}  // namespace waitgraph::trace
