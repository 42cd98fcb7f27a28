#include "rules/cycle_graph.h"

#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rules/describe.h"

namespace waitgraph::rules {
namespace {

using analyzer::Model;
using analyzer::NodeKey;
using analyzer::NodeKind;

std::string NodeId(const NodeKey& n) {
  switch (n.kind) {
    case NodeKind::kThread: return absl::StrCat("thread:", n.id);
    case NodeKind::kWait: return absl::StrCat("wait:", n.id);
    case NodeKind::kFuture: return absl::StrCat("future:", n.id);
    case NodeKind::kLoop: return absl::StrCat("loop:", n.id);
    // One executor node whether the cycle goes through its queue or its drain.
    case NodeKind::kExecutorQueue:
    case NodeKind::kExecutorDrain: return absl::StrCat("executor:", n.id);
    case NodeKind::kLock: return absl::StrCat("lock:", n.id);
    case NodeKind::kSemaphore: return absl::StrCat("semaphore:", n.id);
    case NodeKind::kTask: return absl::StrCat("task:", n.id);
    case NodeKind::kTaskAnyOf: return absl::StrCat("anyof:", n.id);
    case NodeKind::kAsyncLock: return absl::StrCat("asynclock:", n.id);
  }
  return absl::StrCat("node:", n.id);
}

findings::GraphNode ThreadNode(const Model& model, analyzer::ThreadId tid) {
  findings::GraphNode node;
  node.set_kind("thread");
  node.set_label(model.ThreadLabel(tid));
  const analyzer::Thread* t = model.FindThread(tid);
  if (t == nullptr) return node;
  if (!t->loops_running.empty()) {
    node.set_role(absl::StrCat("runs ", DescribeLoop(model, t->loops_running.back())));
  } else if (t->worker_of) {
    // Short: the executor's own node, if on the cycle, says the rest.
    const analyzer::Executor* ex = model.FindExecutor(*t->worker_of);
    node.set_role(ex != nullptr && !ex->name_prefix.empty() ? absl::StrCat("worker of ", ex->name_prefix)
                                                           : "worker of an executor");
  }
  return node;
}

findings::GraphNode FutureNode(const Model& model, analyzer::EntityId id) {
  findings::GraphNode node;
  node.set_kind("future");
  node.set_label("future");
  if (const analyzer::Future* f = model.FindFuture(id); f && !f->producer_reason().empty()) {
    node.set_role(absl::StrCat("result of ", f->producer_reason()));
  }
  return node;
}

findings::GraphNode ExecutorNode(const Model& model, analyzer::EntityId id) {
  findings::GraphNode node;
  node.set_kind("executor");
  const analyzer::Executor* ex = model.FindExecutor(id);
  node.set_label(ex != nullptr && !ex->name_prefix.empty() ? ex->name_prefix : "executor");
  node.set_role(DescribeExecutor(model, id));
  return node;
}

findings::GraphNode DescribeNode(const Model& model, const NodeKey& n) {
  findings::GraphNode node;
  switch (n.kind) {
    case NodeKind::kThread: node = ThreadNode(model, n.id); break;
    case NodeKind::kFuture: node = FutureNode(model, n.id); break;
    case NodeKind::kExecutorQueue:
    case NodeKind::kExecutorDrain: node = ExecutorNode(model, n.id); break;
    case NodeKind::kLoop: {
      node.set_kind("loop");
      node.set_label("event loop");
      // "event loop created at app.py:40" says "event loop" once already.
      std::string role = DescribeLoop(model, n.id);
      if (absl::StartsWith(role, "event loop ")) role = role.substr(11);
      node.set_role(role);
      break;
    }
    case NodeKind::kLock: {
      node.set_kind("lock");
      const analyzer::Lock* lock = model.FindLock(n.id);
      const analyzer::LockClass* c = lock ? model.FindLockClass(lock->class_id) : nullptr;
      node.set_label(c != nullptr && !c->type_name.empty() ? c->type_name : "Lock");
      node.set_role(DescribeLock(model, n.id));
      break;
    }
    case NodeKind::kSemaphore:
      node.set_kind("semaphore");
      node.set_label("Semaphore");
      break;
    case NodeKind::kTask:
      node.set_kind("task");
      node.set_label(DescribeTask(model, n.id));
      break;
    case NodeKind::kTaskAnyOf:
      node.set_kind("task");
      node.set_label("any of several tasks");
      break;
    case NodeKind::kAsyncLock:
      node.set_kind("lock");
      node.set_label("asyncio.Lock");
      break;
    case NodeKind::kWait:
      node.set_kind("wait");
      break;
  }
  node.set_id(NodeId(n));
  return node;
}

void SetLocation(const Model& model, analyzer::StackId stack, findings::GraphEdge& edge) {
  if (const analyzer::Frame* fr = model.UserFrame(stack)) *edge.mutable_location() = ToLocation(*fr);
}

// The edge from thread `from` through its wait `wait` to what it waits for.
void WaitEdge(const Model& model, analyzer::EntityId wait, findings::GraphEdge& edge) {
  const analyzer::Wait* w = model.FindWait(wait);
  if (w == nullptr) {
    edge.set_label("waits");
    return;
  }
  edge.set_label(absl::StrCat("waits in ", w->api));
  SetLocation(model, w->stack, edge);
}

// What `from` waits for in `to`, when no wait node sits between them.
void DirectEdge(const Model& model, const NodeKey& from, const NodeKey& to,
                findings::GraphEdge& edge) {
  switch (from.kind) {
    case NodeKind::kFuture: {
      const analyzer::Future* f = model.FindFuture(from.id);
      if (f == nullptr) break;
      if (to.kind == NodeKind::kFuture) {
        for (const analyzer::FutureDependency& dep : f->after) {
          if (dep.future != to.id) continue;
          edge.set_label(absl::StrCat("completes after (", dep.reason, ")"));
          SetLocation(model, dep.stack, edge);
        }
        return;
      }
      if (to.kind == NodeKind::kExecutorQueue) edge.set_label("queued on");
      else if (to.kind == NodeKind::kThread && f->producer_kind == analyzer::ProducerKind::kExecutor)
        edge.set_label("runs on worker");
      else if (f->producer_reason().empty()) edge.set_label("completed only by");
      else edge.set_label(absl::StrCat("completed only by (", f->producer_reason(), ")"));
      SetLocation(model, f->producer_stack, edge);
      return;
    }
    case NodeKind::kLoop: edge.set_label("runs only on"); return;
    case NodeKind::kExecutorQueue: edge.set_label("next free worker"); return;
    case NodeKind::kExecutorDrain: edge.set_label("shutdown waits for worker"); return;
    case NodeKind::kLock: {
      edge.set_label("held by");
      if (const analyzer::Lock* lock = model.FindLock(from.id)) SetLocation(model, lock->holder_stack, edge);
      return;
    }
    case NodeKind::kSemaphore: edge.set_label("token held by"); return;
    case NodeKind::kAsyncLock: edge.set_label("held by"); return;
    case NodeKind::kTaskAnyOf: edge.set_label("any of"); return;
    case NodeKind::kTask: {
      const analyzer::Task* t = model.FindTask(from.id);
      if (to.kind == NodeKind::kThread) edge.set_label("its loop runs only on");
      else edge.set_label(t != nullptr ? absl::StrCat("awaits ", t->api) : "awaits");
      if (t != nullptr && to.kind != NodeKind::kThread) SetLocation(model, t->stack, edge);
      return;
    }
    case NodeKind::kThread:
    case NodeKind::kWait: break;
  }
  edge.set_label("waits for");
}

// "loop", "executor" or "thread" for a class key ("loop@app.py:40").
std::string KindOfClassKey(const std::string& key) {
  if (absl::StartsWith(key, "loop")) return "loop";
  if (absl::StartsWith(key, "executor")) return "executor";
  return "thread";
}

void AddClassNode(findings::CycleGraph& graph, const std::string& key, std::string kind,
                  const std::string& label) {
  for (const findings::GraphNode& n : graph.nodes()) {
    if (n.id() == key) return;
  }
  findings::GraphNode* node = graph.add_nodes();
  node->set_id(key);
  node->set_kind(std::move(kind));
  node->set_label(label);
}

std::string SeenAt(const Model& model, analyzer::TimeNs time) {
  return absl::StrFormat("at +%.2f s", SecondsSinceStart(model, time));
}

}  // namespace

findings::CycleGraph DrawClassCycle(const Model& model, const analyzer::ClassCycle& cycle) {
  findings::CycleGraph graph;
  graph.set_latent(true);
  for (const analyzer::ClassEdge& e : cycle.edges) {
    AddClassNode(graph, e.from.key, KindOfClassKey(e.from.key), e.from.label);
  }
  for (const analyzer::ClassEdge& e : cycle.edges) {
    findings::GraphEdge* edge = graph.add_edges();
    edge->set_from(e.from.key);
    edge->set_to(e.to.key);
    edge->set_label(absl::StrCat("blocked in ", e.first.api, " ", SeenAt(model, e.first.time)));
    SetLocation(model, e.first.stack, *edge);
  }
  return graph;
}

findings::CycleGraph DrawLockOrderCycle(const Model& model, const analyzer::LockOrderCycle& cycle) {
  using analyzer::LockOrderNode;
  findings::CycleGraph graph;
  graph.set_latent(true);
  for (const analyzer::LockOrderEdge& e : cycle.edges) {
    std::string kind = e.from.kind == LockOrderNode::Kind::kLockClass ? "lock" : KindOfClassKey(e.from.key);
    AddClassNode(graph, e.from.key, kind, e.from.label);
  }
  for (const analyzer::LockOrderEdge& e : cycle.edges) {
    findings::GraphEdge* edge = graph.add_edges();
    edge->set_from(e.from.key);
    edge->set_to(e.to.key);
    std::string what = e.to.kind == LockOrderNode::Kind::kWork
                           ? absl::StrCat("its holder waited in ", e.first.api, " for")
                       : e.from.kind == LockOrderNode::Kind::kWork ? std::string("its work took")
                                                                   : std::string("its holder then took");
    edge->set_label(absl::StrCat(what, " ", SeenAt(model, e.first.time)));
    SetLocation(model, e.first.stack, *edge);
  }
  return graph;
}

findings::CycleGraph DrawCycle(const Model& model, const analyzer::Deadlock& deadlock) {
  findings::CycleGraph graph;
  const std::vector<NodeKey>& cycle = deadlock.cycle;
  std::set<std::string> seen;
  for (const NodeKey& n : cycle) {
    if (n.kind == NodeKind::kWait) continue;  // drawn as an edge
    findings::GraphNode node = DescribeNode(model, n);
    if (seen.insert(node.id()).second) *graph.add_nodes() = std::move(node);
  }
  const size_t size = cycle.size();
  for (size_t i = 0; i < size; ++i) {
    const NodeKey& from = cycle[i];
    if (from.kind == NodeKind::kWait) continue;
    const NodeKey& next = cycle[(i + 1) % size];
    findings::GraphEdge edge;
    edge.set_from(NodeId(from));
    if (next.kind == NodeKind::kWait) {
      edge.set_to(NodeId(cycle[(i + 2) % size]));
      WaitEdge(model, next.id, edge);
    } else {
      edge.set_to(NodeId(next));
      DirectEdge(model, from, next, edge);
    }
    *graph.add_edges() = std::move(edge);
  }
  return graph;
}

}  // namespace waitgraph::rules
