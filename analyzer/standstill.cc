#include "analyzer/standstill.h"

#include <algorithm>

namespace waitgraph::analyzer {
namespace {

enum class ThreadState { kCanMove, kBlocked, kIdleWorker, kIdleLoop };

// Blocked: every active wait is unbounded (a timeout anywhere returns control).
bool BlockedForGood(const Model& model, const Thread& t, TimeNs& since) {
  if (t.active_waits.empty()) return false;
  for (EntityId id : t.active_waits) {
    const Wait* w = model.FindWait(id);
    if (w == nullptr || w->has_timeout) return false;
    since = std::max(since, w->begin);
  }
  return true;
}

bool IdleWorker(const Model& model, const Thread& t) {
  if (!t.worker_of || !t.loops_running.empty()) return false;
  const Executor* ex = model.FindExecutor(*t.worker_of);
  if (ex == nullptr) return false;
  return std::none_of(ex->running.begin(), ex->running.end(),
                      [&](const auto& item) { return item.second == t.tid; });
}

// The snapshot of the loop `t` runs, if that loop sits idle with nothing
// that could wake it.
const LoopSnapshot* StuckLoop(const Model& model, const Thread& t) {
  if (t.loops_running.empty()) return nullptr;
  const LoopSnapshot* snap = model.FindSnapshot(t.loops_running.back());
  if (snap == nullptr || snap->woken || snap->thread != t.tid || snap->wakeable > 0 ||
      snap->timers > 0) {
    return nullptr;
  }
  for (EntityId id : snap->tasks) {
    const Task* task = model.FindTask(id);
    if (task == nullptr || !task->waiting() || task->has_timeout) return nullptr;
  }
  return snap;
}

}  // namespace

std::optional<Standstill> FindStandstill(const Model& model) {
  if (model.shim_stopped() || !model.shim_disabled_reason().empty()) return std::nullopt;
  Standstill s;
  bool someone_waits = false;
  for (const auto& [tid, t] : model.threads()) {
    if (t.exited) continue;
    if (BlockedForGood(model, t, s.since)) {
      s.blocked_threads.push_back(tid);
      someone_waits = true;
    } else if (!t.active_waits.empty()) {
      return std::nullopt;  // a bounded wait returns by itself
    } else if (const LoopSnapshot* snap = StuckLoop(model, t)) {
      s.idle_loop_threads.push_back(tid);
      s.waiting_tasks.insert(s.waiting_tasks.end(), snap->tasks.begin(), snap->tasks.end());
      s.since = std::max(s.since, snap->time);
      someone_waits = someone_waits || !snap->tasks.empty();
    } else if (IdleWorker(model, t)) {
      s.idle_workers.push_back(tid);
    } else {
      return std::nullopt;  // running, or in a call we do not record: it can move
    }
  }
  if (!someone_waits) return std::nullopt;
  // A Python signal handler runs on the main thread even while it blocks in
  // a wait (lock waits are interrupted for it): it may still move things.
  if (model.has_signal_handlers() &&
      std::count(s.blocked_threads.begin(), s.blocked_threads.end(), model.signal_thread()) > 0) {
    return std::nullopt;
  }
  return s;
}

}  // namespace waitgraph::analyzer
