// The model of asyncio tasks as waiters: the shim's loop snapshots
// (trace/waitgraph_trace.proto, LOOP_IDLE .. LOOP_WOKEN) applied to Model.
//
// A snapshot is written whole, while the loop's thread sits in its selector:
// LOOP_IDLE, then per waiting task TASK_INFO (first time only) and one
// TASK_WAITING per target, then ASYNC_LOCK_OWNER per lock they wait for. It
// replaces the loop's previous snapshot. A task of the loop that the new
// snapshot does not mention has ended (the shim writes a snapshot only when
// every live task of the loop waits), so it is forgotten.
#include <algorithm>
#include <utility>

#include "analyzer/model.h"
#include "analyzer/work_counters.h"

namespace waitgraph::analyzer {

const Task* Model::FindTask(EntityId id) const {
  auto it = tasks_.find(id);
  return it == tasks_.end() ? nullptr : &it->second;
}

const LoopSnapshot* Model::FindSnapshot(EntityId loop) const {
  auto it = snapshots_.find(loop);
  return it == snapshots_.end() ? nullptr : &it->second;
}

// The loop stopped running (or starts over): its tasks cannot run, and what
// they awaited is no longer known.
void Model::ForgetSnapshot(EntityId loop) {
  auto it = snapshots_.find(loop);
  if (it == snapshots_.end()) return;
  for (EntityId id : it->second.tasks) {
    if (auto t = tasks_.find(id); t != tasks_.end()) t->second.targets.clear();
  }
  snapshots_.erase(it);
}

void Model::ApplyTaskEvent(const trace::Event& e, TimeNs time) {
  switch (e.kind()) {
    case trace::LOOP_IDLE: {
      LoopSnapshot& old = snapshots_[e.subject()];
      uint64_t previous = old.serial;
      // Tasks of this loop missing from the previous snapshot have ended.
      if (auto ids = task_ids_by_loop_.find(e.subject()); ids != task_ids_by_loop_.end()) {
        for (auto id = ids->second.begin(); id != ids->second.end();) {
          ++Work().task_steps;
          ++stats_.snapshot_task_visits;
          auto it = tasks_.find(*id);
          if (it == tasks_.end() || it->second.loop != e.subject()) {  // cannot happen
            id = ids->second.erase(id);
            continue;
          }
          Task& t = it->second;
          if (t.snapshot < previous) {
            tasks_.erase(it);
            id = ids->second.erase(id);
            continue;
          }
          t.last_targets = std::exchange(t.targets, {});
          ++id;
        }
        if (ids->second.empty()) task_ids_by_loop_.erase(ids);
      }
      LoopSnapshot fresh;
      fresh.serial = ++snapshot_serial_;
      fresh.previous_serial = previous;
      fresh.time = time;
      fresh.thread = e.thread();
      fresh.wakeable = static_cast<int64_t>(e.object());
      fresh.timers = e.arg();
      old = std::move(fresh);
      return;
    }
    case trace::TASK_INFO: {
      auto [it, added] = tasks_.try_emplace(e.subject());
      Task& t = it->second;
      if (!added && t.loop != e.object()) task_ids_by_loop_[t.loop].erase(e.subject());
      t.id = e.subject();
      t.loop = e.object();
      task_ids_by_loop_[t.loop].insert(t.id);
      t.name = String(e.name());
      t.created_stack = e.stack();
      return;
    }
    case trace::TASK_WAITING: {
      auto it = tasks_.find(e.subject());
      if (it == tasks_.end()) {
        ++stats_.dangling_references;  // no TASK_INFO: a torn snapshot
        return;
      }
      Task& t = it->second;
      auto snap = snapshots_.find(t.loop);
      if (snap == snapshots_.end()) {
        ++stats_.dangling_references;
        return;
      }
      const Target target{static_cast<trace::EntityKind>(e.arg() & 0xff), e.object()};
      if (t.snapshot != snap->second.serial) {  // first target in this snapshot
        // Still the wait the snapshot before saw (a loop woken by a periodic
        // timer is snapshotted again and again): it has lasted since then.
        bool same_wait = t.snapshot != 0 && t.snapshot == snap->second.previous_serial &&
                         std::any_of(t.last_targets.begin(), t.last_targets.end(),
                                     [&](const Target& o) {
                                       return o.kind == target.kind && o.id == target.id;
                                     });
        t.snapshot = snap->second.serial;
        t.targets.clear();
        if (!same_wait) t.since = snap->second.time;
        if (Room(snap->second.tasks)) snap->second.tasks.push_back(t.id);
      }
      t.api = String(e.name());
      t.stack = e.stack();
      t.any_of = (e.arg() & trace::WAIT_ANY_OF) != 0;
      t.has_timeout = (e.arg() & trace::WAIT_HAS_TIMEOUT) != 0;
      if (Room(t.targets)) t.targets.push_back(target);
      return;
    }
    case trace::ASYNC_LOCK_OWNER: {
      const Task* owner = FindTask(e.object());
      if (owner == nullptr) {
        ++stats_.dangling_references;
        return;
      }
      if (auto snap = snapshots_.find(owner->loop); snap != snapshots_.end()) {
        snap->second.lock_owners[e.subject()] = e.object();
      }
      return;
    }
    case trace::LOOP_WOKEN:
      if (auto snap = snapshots_.find(e.subject()); snap != snapshots_.end()) {
        snap->second.woken = true;
      }
      return;
    case trace::SIGNAL_HANDLER:
      signal_thread_ = e.thread();
      if (e.arg() != 0) {
        signal_handlers_.insert(static_cast<int64_t>(e.subject()));
      } else {
        signal_handlers_.erase(static_cast<int64_t>(e.subject()));
      }
      return;
    default:
      return;
  }
}

}  // namespace waitgraph::analyzer
