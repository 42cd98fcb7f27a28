#include "analyzer/wait_graph.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

namespace waitgraph::analyzer {
namespace {

struct Successors {
  bool any_of = false;         // OR node: progresses when one successor does
  std::vector<NodeKey> nodes;  // empty = free (progresses by itself)
};

class GraphBuilder {
 public:
  explicit GraphBuilder(const Model& model) : model_(model) {}

  Successors Of(const NodeKey& n) const {
    switch (n.kind) {
      case NodeKind::kThread: return OfThread(n.id);
      case NodeKind::kWait: return OfWait(n.id);
      case NodeKind::kFuture: return OfFuture(n.id);
      case NodeKind::kLoop: return OfLoop(n.id);
      case NodeKind::kExecutorQueue: return OfExecutorQueue(n.id);
      case NodeKind::kExecutorDrain: return OfExecutorDrain(n.id);
      case NodeKind::kLock: return OfLock(n.id);
      case NodeKind::kSemaphore: return OfSemaphore(n.id);
      case NodeKind::kTask: return OfTask(n.id);
      case NodeKind::kTaskAnyOf: return OfTaskAnyOf(n.id);
      case NodeKind::kAsyncLock: return OfAsyncLock(n.id);
    }
    return {};
  }

 private:
  Successors OfThread(ThreadId tid) const {
    Successors s;
    const Thread* t = model_.FindThread(tid);
    if (t == nullptr || t->exited) return s;
    for (EntityId w : t->active_waits) s.nodes.push_back({NodeKind::kWait, w});
    return s;
  }

  Successors OfWait(EntityId id) const {
    Successors s;
    const Wait* w = model_.FindWait(id);
    if (w == nullptr || w->has_timeout) return s;
    s.any_of = w->any_of;
    for (const Target& t : w->targets) {
      std::optional<NodeKey> node = TargetNode(t, w->thread);
      if (!node) {
        if (w->any_of) return {};  // one free target frees an any-of wait
        continue;
      }
      s.nodes.push_back(*node);
    }
    return s;
  }

  std::optional<NodeKey> TargetNode(const Target& t, ThreadId waiter) const {
    switch (t.kind) {
      case trace::ENTITY_FUTURE:
        if (model_.FindFuture(t.id) == nullptr) return std::nullopt;
        return NodeKey{NodeKind::kFuture, t.id};
      case trace::ENTITY_THREAD:
        if (model_.FindThread(t.id) == nullptr) return std::nullopt;
        return NodeKey{NodeKind::kThread, t.id};
      case trace::ENTITY_EXECUTOR:
        if (model_.FindExecutor(t.id) == nullptr) return std::nullopt;
        return NodeKey{NodeKind::kExecutorDrain, t.id};
      case trace::ENTITY_LOCK: {
        // A thread waiting for a Lock it holds itself is waiting for another
        // thread to release it (Lock allows that): a signal, not a cycle we
        // can show. So is a lock once released by a thread not holding it.
        const Lock* lock = model_.FindLock(t.id);
        if (lock == nullptr || lock->holder == waiter || lock->released_by_other) return std::nullopt;
        return NodeKey{NodeKind::kLock, t.id};
      }
      case trace::ENTITY_SEMAPHORE: {
        // Only known holders, none of them the waiter itself (see Lock).
        const Semaphore* sem = model_.FindSemaphore(t.id);
        if (sem == nullptr || sem->unknown || sem->holders.empty() || sem->holders.count(waiter)) {
          return std::nullopt;
        }
        return NodeKey{NodeKind::kSemaphore, t.id};
      }
      default:
        return std::nullopt;  // no known producer
    }
  }

  Successors OfFuture(EntityId id) const {
    Successors s;
    const Future* f = model_.FindFuture(id);
    if (f == nullptr || f->done) return s;
    switch (f->producer_kind) {
      case ProducerKind::kLoop:
        s.nodes.push_back({NodeKind::kLoop, f->producer});
        break;
      case ProducerKind::kThread:
        s.nodes.push_back({NodeKind::kThread, f->producer});
        break;
      case ProducerKind::kExecutor: {
        const Executor* ex = model_.FindExecutor(f->producer);
        if (ex == nullptr) break;
        if (auto it = ex->running.find(id); it != ex->running.end()) {
          s.nodes.push_back({NodeKind::kThread, it->second});
        } else if (ex->queued.count(id)) {
          s.nodes.push_back({NodeKind::kExecutorQueue, ex->id});
        }
        break;
      }
      case ProducerKind::kUnknown:
        break;
    }
    // Futures it completes only after: each must complete too (AND). One
    // already done (forgotten by the model) constrains nothing.
    for (const FutureDependency& dep : f->after) {
      if (model_.FindFuture(dep.future) != nullptr) s.nodes.push_back({NodeKind::kFuture, dep.future});
    }
    return s;
  }

  Successors OfLoop(EntityId id) const {
    Successors s;
    const Loop* loop = model_.FindLoop(id);
    if (loop != nullptr && loop->running_thread) {
      s.nodes.push_back({NodeKind::kThread, *loop->running_thread});
    }
    return s;
  }

  Successors OfExecutorQueue(EntityId id) const {
    Successors s;
    const Executor* ex = model_.FindExecutor(id);
    // A free worker (or an unknown bound) will pick the item up.
    if (ex == nullptr || ex->max_workers <= 0 ||
        static_cast<int>(ex->running.size()) < ex->max_workers) {
      return s;
    }
    s.any_of = true;
    for (const auto& [future, worker] : ex->running) s.nodes.push_back({NodeKind::kThread, worker});
    return s;
  }

  Successors OfExecutorDrain(EntityId id) const {
    Successors s;
    const Executor* ex = model_.FindExecutor(id);
    if (ex == nullptr) return s;
    for (const auto& [future, worker] : ex->running) s.nodes.push_back({NodeKind::kThread, worker});
    return s;
  }

  Successors OfLock(EntityId id) const {
    Successors s;
    const Lock* lock = model_.FindLock(id);
    if (lock != nullptr && lock->holder != 0) s.nodes.push_back({NodeKind::kThread, lock->holder});
    return s;
  }

  Successors OfSemaphore(EntityId id) const {
    Successors s;
    const Semaphore* sem = model_.FindSemaphore(id);
    if (sem == nullptr || sem->unknown) return s;
    s.any_of = true;  // one holder's release frees a token
    for (const auto& [tid, tokens] : sem->holders) s.nodes.push_back({NodeKind::kThread, tid});
    return s;
  }

  // ---- asyncio tasks (the loop snapshots) ----

  Successors OfTask(EntityId id) const {
    Successors s;
    const Task* t = model_.FindTask(id);
    if (t == nullptr || !t->waiting() || t->has_timeout) return s;
    const Loop* loop = model_.FindLoop(t->loop);
    if (loop == nullptr || !loop->running_thread) return s;
    if (t->any_of) {
      // One free target frees the any-of part.
      if (!OfTaskAnyOf(id).nodes.empty()) s.nodes.push_back({NodeKind::kTaskAnyOf, id});
    } else {
      for (const Target& target : t->targets) {
        if (auto node = TaskTargetNode(*t, target)) s.nodes.push_back(*node);
      }
    }
    // Whatever it awaits, it runs only on its loop's thread.
    s.nodes.push_back({NodeKind::kThread, *loop->running_thread});
    return s;
  }

  Successors OfTaskAnyOf(EntityId id) const {
    Successors s;
    const Task* t = model_.FindTask(id);
    if (t == nullptr) return s;
    s.any_of = true;
    for (const Target& target : t->targets) {
      std::optional<NodeKey> node = TaskTargetNode(*t, target);
      if (!node) return {};
      s.nodes.push_back(*node);
    }
    return s;
  }

  Successors OfAsyncLock(EntityId id) const {
    Successors s;
    if (std::optional<EntityId> owner = AsyncLockOwner(id)) {
      s.nodes.push_back({NodeKind::kTask, *owner});
    }
    return s;
  }

  std::optional<EntityId> AsyncLockOwner(EntityId lock) const {
    for (const auto& [loop, snapshot] : model_.snapshots()) {
      if (auto it = snapshot.lock_owners.find(lock); it != snapshot.lock_owners.end()) {
        return it->second;
      }
    }
    return std::nullopt;
  }

  std::optional<NodeKey> TaskTargetNode(const Task& task, const Target& t) const {
    switch (t.kind) {
      case trace::ENTITY_TASK: {
        const Task* awaited = model_.FindTask(t.id);
        if (awaited == nullptr || !awaited->waiting()) return std::nullopt;
        return NodeKey{NodeKind::kTask, t.id};
      }
      case trace::ENTITY_ASYNC_PRIMITIVE:
        if (!AsyncLockOwner(t.id)) return std::nullopt;  // no owner shown: free
        return NodeKey{NodeKind::kAsyncLock, t.id};
      default:
        return std::nullopt;  // a future, event or queue: no known producer
    }
  }

  const Model& model_;
};

// Everything reachable from threads that wait, with each node's successors.
std::map<NodeKey, Successors> Explore(const Model& model, const GraphBuilder& graph) {
  std::map<NodeKey, Successors> nodes;
  std::deque<NodeKey> todo;
  for (const auto& [tid, t] : model.threads()) {
    if (!t.active_waits.empty()) todo.push_back({NodeKind::kThread, tid});
  }
  for (const auto& [id, task] : model.tasks()) {
    if (task.waiting()) todo.push_back({NodeKind::kTask, id});
  }
  while (!todo.empty()) {
    NodeKey n = todo.front();
    todo.pop_front();
    if (nodes.count(n)) continue;
    Successors s = graph.Of(n);
    for (const NodeKey& next : s.nodes) todo.push_back(next);
    nodes.emplace(n, std::move(s));
  }
  return nodes;
}

// Least fixpoint of "can make progress", propagated backwards from free nodes.
std::set<NodeKey> BlockedNodes(const std::map<NodeKey, Successors>& nodes) {
  std::map<NodeKey, std::vector<NodeKey>> predecessors;
  std::map<NodeKey, size_t> missing;  // successors still blocked (AND nodes)
  std::deque<NodeKey> progressing;
  std::set<NodeKey> done;
  for (const auto& [n, s] : nodes) {
    for (const NodeKey& next : s.nodes) predecessors[next].push_back(n);
    missing[n] = s.nodes.size();
    if (s.nodes.empty()) progressing.push_back(n);
  }
  while (!progressing.empty()) {
    NodeKey n = progressing.front();
    progressing.pop_front();
    if (!done.insert(n).second) continue;
    for (const NodeKey& pred : predecessors[n]) {
      if (done.count(pred)) continue;
      auto p = nodes.find(pred);  // always there: predecessors are built from nodes
      if (p == nodes.end()) continue;
      if (p->second.any_of || --missing[pred] == 0) progressing.push_back(pred);
    }
  }
  std::set<NodeKey> blocked;
  for (const auto& [n, s] : nodes) {
    if (!done.count(n)) blocked.insert(n);
  }
  return blocked;
}

// The executor a cycle starves of itself: the cycle's only executor queue,
// every future on it that executor's own work. A cycle through two pools, a
// loop or a task's dependency is a cross-call deadlock instead.
std::optional<EntityId> SelfStarvedExecutor(const Model& model, const std::vector<NodeKey>& cycle) {
  std::optional<EntityId> queue;
  for (const NodeKey& k : cycle) {
    if (k.kind != NodeKind::kExecutorQueue) continue;
    if (queue && *queue != k.id) return std::nullopt;
    queue = k.id;
  }
  if (!queue) return std::nullopt;
  for (const NodeKey& k : cycle) {
    if (k.kind == NodeKind::kLoop) return std::nullopt;
    if (k.kind != NodeKind::kFuture) continue;
    const Future* f = model.FindFuture(k.id);
    if (f == nullptr || f->producer_kind != ProducerKind::kExecutor || f->producer != *queue) {
      return std::nullopt;
    }
  }
  return queue;
}

TimeNs HeldSince(const Model& model, const std::vector<NodeKey>& cycle) {
  TimeNs since = 0;
  for (const NodeKey& n : cycle) {
    if (n.kind == NodeKind::kTask) {
      if (const Task* t = model.FindTask(n.id)) since = std::max(since, t->since);
    }
    if (n.kind != NodeKind::kWait) continue;
    if (const Wait* w = model.FindWait(n.id)) since = std::max(since, w->begin);
  }
  return since;
}

void AddAlsoBlocked(Deadlock& d, const NodeKey& k) {
  if (k.kind == NodeKind::kThread) d.also_blocked.push_back(k.id);
  if (k.kind == NodeKind::kTask) d.also_blocked_tasks.push_back(k.id);
}

}  // namespace

std::vector<Deadlock> FindDeadlocks(const Model& model) {
  GraphBuilder graph(model);
  const std::map<NodeKey, Successors> nodes = Explore(model, graph);
  const std::set<NodeKey> blocked = BlockedNodes(nodes);

  std::vector<Deadlock> deadlocks;
  std::map<NodeKey, size_t> owner;  // node -> index of the deadlock it leads into
  for (const NodeKey& start : blocked) {
    bool waiter = start.kind == NodeKind::kThread || start.kind == NodeKind::kTask;
    if (!waiter || owner.count(start)) continue;
    // Walk blocked successors until we meet our own path (a new cycle) or a
    // node already explained (we are only blocked behind that cycle).
    std::vector<NodeKey> path;
    std::map<NodeKey, size_t> index;
    NodeKey n = start;
    while (!owner.count(n) && !index.count(n)) {
      index[n] = path.size();
      path.push_back(n);
      auto s = nodes.find(n);
      if (s == nodes.end()) break;
      auto next = std::find_if(s->second.nodes.begin(), s->second.nodes.end(),
                               [&](const NodeKey& k) { return blocked.count(k) > 0; });
      // A blocked node always has a blocked successor (BlockedNodes); should
      // that ever break, no cycle is claimed.
      if (next == s->second.nodes.end()) break;
      n = *next;
    }
    if (!owner.count(n) && !index.count(n)) continue;  // stopped short: no cycle
    size_t target;
    if (owner.count(n)) {
      target = owner[n];
      for (const NodeKey& k : path) AddAlsoBlocked(deadlocks[target], k);
    } else {
      target = deadlocks.size();
      Deadlock d;
      d.cycle.assign(path.begin() + index[n], path.end());
      d.starved_executor = SelfStarvedExecutor(model, d.cycle);
      d.held_since = HeldSince(model, d.cycle);
      deadlocks.push_back(std::move(d));
      for (size_t i = 0; i < index[n]; ++i) AddAlsoBlocked(deadlocks[target], path[i]);
    }
    for (const NodeKey& k : path) owner[k] = target;
  }
  return deadlocks;
}

}  // namespace waitgraph::analyzer
