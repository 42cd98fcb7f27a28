#include "analyzer/lock_order.h"

#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "analyzer/graph_cycles.h"

namespace waitgraph::analyzer {
namespace {

using Kind = LockOrderNode::Kind;

// Frames of the modules that make locks on their callers' behalf.
bool MakesLocksForCaller(const Frame& f) {
  return absl::EndsWith(f.file, "/threading.py") || absl::EndsWith(f.file, "/queue.py");
}

LockOrderNode WorkNode(const BlockingClass& c) { return {Kind::kWork, c.key, c.label}; }

// The class of whatever must act for a wait on `target` to end, if it is
// work of an executor or a loop.
std::optional<LockOrderNode> WorkWaitedFor(const Model& model, const Target& target) {
  if (target.kind == trace::ENTITY_EXECUTOR) {
    return WorkNode(ClassGraph::ExecutorClass(model, target.id));
  }
  if (target.kind != trace::ENTITY_FUTURE) return std::nullopt;
  const Future* f = model.FindFuture(target.id);
  if (f == nullptr) return std::nullopt;
  if (f->producer_kind == ProducerKind::kExecutor) {
    return WorkNode(ClassGraph::ExecutorClass(model, f->producer));
  }
  if (f->producer_kind == ProducerKind::kLoop) return WorkNode(ClassGraph::LoopClass(model, f->producer));
  return std::nullopt;
}

}  // namespace

LockOrderNode LockOrder::LockClassNode(const Model& model, EntityId class_id) {
  const LockClass* c = model.FindLockClass(class_id);
  std::string key = absl::StrCat("lockclass#", class_id);
  if (c == nullptr) return {Kind::kLockClass, key, absl::StrCat("lock class #", class_id)};
  std::string type = c->type_name.empty() ? "lock" : c->type_name;
  const Frame* site = nullptr;
  for (const Frame* f : model.StackFrames(c->created_stack)) {
    if (!MakesLocksForCaller(*f)) {
      site = f;
      break;
    }
  }
  if (site == nullptr) return {Kind::kLockClass, key, absl::StrCat(type, " #", class_id)};
  std::string label = absl::StrCat(type, " created at ", ShortLocation(*site));
  const Frame* user = model.UserFrame(c->created_stack);
  if (site->library && user != nullptr && !user->library) {
    absl::StrAppend(&label, " (made from ", ShortLocation(*user), ")");
  }
  return {Kind::kLockClass, key, label};
}

bool LockOrder::Wants(int kind) const {
  return kind == trace::LOCK_ORDER || kind == trace::LOCK_IN_WORK || kind == trace::WAIT_BEGIN;
}

void LockOrder::OnEvent(const Model& model, const trace::Event& e, TimeNs time) {
  switch (e.kind()) {
    case trace::LOCK_ORDER:
      AddEdge(LockClassNode(model, e.subject()), LockClassNode(model, e.object()),
              {e.thread(), time, e.stack(), static_cast<StackId>(e.arg()), ""});
      return;
    case trace::LOCK_IN_WORK: {
      BlockingClass work = e.arg() == trace::ENTITY_LOOP ? ClassGraph::LoopClass(model, e.subject())
                                                         : ClassGraph::ExecutorClass(model, e.subject());
      AddEdge(WorkNode(work), LockClassNode(model, e.object()), {e.thread(), time, e.stack(), 0, ""});
      return;
    }
    case trace::WAIT_BEGIN: {
      // A wait with a timeout ends by itself: it cannot close a cycle.
      if (e.arg() & trace::WAIT_HAS_TIMEOUT) return;
      const Thread* t = model.FindThread(e.thread());
      if (t == nullptr || t->held_locks.empty()) return;
      Target target{static_cast<trace::EntityKind>(e.arg() & 0xff), e.object()};
      std::optional<LockOrderNode> work = WorkWaitedFor(model, target);
      if (!work) return;
      const Wait* w = model.FindWait(e.subject());
      for (EntityId id : t->held_locks) {
        const Lock* lock = model.FindLock(id);
        if (lock == nullptr) continue;
        AddEdge(LockClassNode(model, lock->class_id), *work,
                {e.thread(), time, e.stack(), lock->holder_stack, w ? w->api : ""});
      }
      return;
    }
    default:
      return;
  }
}

void LockOrder::AddEdge(const LockOrderNode& from, const LockOrderNode& to,
                        LockOrderSighting sighting) {
  if (from == to) return;
  edges_.try_emplace({from, to}, std::move(sighting));  // keeps the first sighting
}

std::vector<LockOrderCycle> LockOrder::FindCycles() const { return CyclesOf<LockOrderCycle>(edges_); }

void LockOrder::CountKept(KeptCounts& out) const {
  out.push_back({"lock_order.edges", edges_.size()});
}

}  // namespace waitgraph::analyzer
