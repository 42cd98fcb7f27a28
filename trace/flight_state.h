// The state a flight-recorder checkpoint carries over (trace/README.md,
// "Flight recorder"): fed the events of the chunks a bounded trace drops,
// it keeps the ones that still matter after them, so that the chunks kept
// decode to the same model as the whole trace would, for everything that is
// still live: a thread that has not exited, a loop not closed, an executor
// still in use, a future not done, a wait not ended, a traced lock, the last
// task snapshot of each loop, an open scope, the lock classes and orders
// (once per process each). History (ended waits, context writes, stalls,
// loop-affinity uses) is dropped with its chunks.
//
// Used by the shim's writer thread, so it never touches Python; it lives in
// trace/ so that it can be tested without a shim.
#ifndef WAITGRAPH_TRACE_FLIGHT_STATE_H_
#define WAITGRAPH_TRACE_FLIGHT_STATE_H_

#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::trace {

// One event with its absolute time, as re-emitted in a checkpoint.
struct TimedEvent {
  uint64_t time_ns = 0;
  uint64_t order = 0;  // position in the original stream: ties keep it
  Event event;
};

class FlightState {
 public:
  // Idle own-thread executors (asgiref's CurrentThreadExecutor, one per
  // AsyncToSync call, with no event when it is gone) and free traced locks
  // (no event when a lock is freed) beyond these many, least recently used
  // first, are forgotten: a bounded trace must not carry unbounded state.
  static constexpr size_t kMaxIdleOwnThreadExecutors = 1024;
  static constexpr size_t kMaxFreeTracedLocks = 16384;

  // Feeds one dropped chunk's events, in order.
  void ApplyChunk(const TraceChunk& chunk);
  void Apply(const Event& e, uint64_t time_ns);

  // The events to re-emit, in their original order.
  std::vector<TimedEvent> LiveEvents() const;
  uint64_t last_time_ns() const { return last_time_ns_; }

 private:
  struct ExecutorState {
    TimedEvent created;
    std::vector<TimedEvent> shutdown;
    // Per worker thread its last WORK_BEGIN (and WORK_END): who its workers are.
    std::map<uint64_t, std::vector<TimedEvent>> work_by_thread;
    int pending = 0;  // submitted, not yet done
    uint64_t last_used = 0;
  };
  struct LockState {
    TimedEvent traced;
    std::vector<TimedEvent> since_free;  // ACQUIRED/RELEASED while held
    uint64_t last_used = 0;
  };
  struct Snapshot {
    std::vector<TimedEvent> events;  // LOOP_IDLE, TASK_WAITING, ASYNC_LOCK_OWNER, LOOP_WOKEN
    std::vector<uint64_t> tasks;     // tasks it saw waiting
  };
  struct FutureState {
    std::vector<TimedEvent> events;  // EXECUTOR_SUBMIT, FUTURE_PRODUCER, LOOP_HANDOFF
    uint64_t executor = 0;           // the executor it was submitted to
  };

  TimedEvent Timed(const Event& e, uint64_t time_ns) { return {time_ns, ++order_, e}; }
  void ApplyLoop(const Event& e, uint64_t time_ns);
  void ApplyExecutor(const Event& e, uint64_t time_ns);
  void ApplyLock(const Event& e, uint64_t time_ns);
  void ApplySnapshot(const Event& e, uint64_t time_ns);
  void FutureDone(uint64_t future);
  void TrimIdleExecutors();
  void TrimFreeLocks();

  uint64_t order_ = 0;
  uint64_t last_time_ns_ = 0;
  std::unordered_map<uint64_t, TimedEvent> threads_;          // THREAD_STARTED
  std::unordered_map<uint64_t, std::vector<TimedEvent>> loops_;  // CREATED, RUN_BEGIN, STOPPED
  std::unordered_map<uint64_t, ExecutorState> executors_;
  std::unordered_map<uint64_t, FutureState> futures_;
  std::unordered_map<uint64_t, std::vector<TimedEvent>> waits_;  // BEGIN, TARGET...
  std::unordered_map<uint64_t, TimedEvent> lock_classes_;
  std::vector<TimedEvent> lock_orders_;                      // LOCK_ORDER, LOCK_IN_WORK
  std::unordered_map<uint64_t, LockState> locks_;
  std::map<std::pair<uint64_t, uint64_t>, TimedEvent> semaphore_holders_;
  std::map<std::pair<uint64_t, uint64_t>, TimedEvent> limiter_tokens_;
  std::unordered_map<uint64_t, Snapshot> snapshots_;         // by loop
  uint64_t snapshot_loop_ = 0;                               // the one being written
  std::unordered_map<uint64_t, TimedEvent> task_info_;       // by task
  std::map<uint64_t, TimedEvent> signal_handlers_;
  std::unordered_map<uint64_t, TimedEvent> scopes_;
  std::vector<TimedEvent> shim_events_;                      // SHIM_STOPPED/DISABLED
};

}  // namespace waitgraph::trace

#endif  // WAITGRAPH_TRACE_FLIGHT_STATE_H_
