#include "rules/cycle_story.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rules/describe.h"
#include "analyzer/class_graph.h"

namespace waitgraph::rules {
namespace {

using analyzer::Model;
using analyzer::NodeKey;
using analyzer::NodeKind;

std::vector<NodeKey> RotateToLoopThread(const Model& model, std::vector<NodeKey> cycle) {
  auto runs_loop = [&](const NodeKey& n) {
    if (n.kind != NodeKind::kThread) return false;
    const analyzer::Thread* t = model.FindThread(n.id);
    return t != nullptr && !t->loops_running.empty();
  };
  auto is_thread = [](const NodeKey& n) { return n.kind == NodeKind::kThread; };
  auto start = std::find_if(cycle.begin(), cycle.end(), runs_loop);
  if (start == cycle.end()) start = std::find_if(cycle.begin(), cycle.end(), is_thread);
  if (start != cycle.end()) std::rotate(cycle.begin(), start, cycle.end());
  return cycle;
}

std::string FuturePhrase(const Model& model, analyzer::EntityId id, CycleStory& story) {
  const analyzer::Future* f = model.FindFuture(id);
  if (f == nullptr) return "for a future";
  if (f->producer_stack != 0) {
    findings::RelatedLocation rel;
    rel.set_role("completed only by");
    rel.set_message(absl::StrCat("the future's producer was set by ", f->producer_reason(), " on ",
                                 model.ThreadLabel(f->producer_set_by)));
    if (const analyzer::Frame* fr = model.UserFrame(f->producer_stack)) {
      *rel.mutable_location() = ToLocation(*fr);
    }
    for (auto& loc : ToStack(model, f->producer_stack)) *rel.add_stack() = std::move(loc);
    story.related.push_back(std::move(rel));
  }
  switch (f->producer_kind) {
    case analyzer::ProducerKind::kLoop:
      story.fingerprint_parts.push_back(absl::StrCat("via:", f->producer_reason()));
      return absl::StrCat("for a future only ", DescribeLoop(model, f->producer),
                          " can complete (handed off by ", f->producer_reason(), ")");
    case analyzer::ProducerKind::kExecutor: {
      const analyzer::Executor* ex = model.FindExecutor(f->producer);
      bool queued = ex != nullptr && ex->queued.count(id);
      return absl::StrCat("for ", f->producer_reason(), (queued ? " queued on " : " running on "),
                          DescribeExecutor(model, f->producer));
    }
    default:
      return "for a future";
  }
}

// The dependency of future `id` on future `next` (FUTURE_PRODUCER of kind
// ENTITY_FUTURE), if that is how the cycle goes on.
const analyzer::FutureDependency* DependencyOn(const Model& model, analyzer::EntityId id,
                                               const NodeKey& next) {
  const analyzer::Future* f = model.FindFuture(id);
  if (f == nullptr || next.kind != NodeKind::kFuture) return nullptr;
  for (const analyzer::FutureDependency& dep : f->after) {
    if (dep.future == next.id) return &dep;
  }
  return nullptr;
}

std::string DependencyPhrase(const Model& model, const analyzer::FutureDependency& dep,
                             CycleStory& story) {
  findings::RelatedLocation rel;
  rel.set_role("waits for");
  rel.set_message(absl::StrCat(dep.reason, ", handed over on ", model.ThreadLabel(dep.seen_on)));
  if (const analyzer::Frame* fr = model.UserFrame(dep.stack)) {
    *rel.mutable_location() = ToLocation(*fr);
  }
  for (auto& loc : ToStack(model, dep.stack)) *rel.add_stack() = std::move(loc);
  story.related.push_back(std::move(rel));
  story.fingerprint_parts.push_back(FingerprintPart(model, "await", dep.stack));
  return absl::StrCat(", which waits (", dep.reason, ")");
}

// " for Lock created at app.py:12, held by Thread-2 since app.py:30", with
// where the holder took it and where the lock was made as related locations.
std::string LockPhrase(const Model& model, analyzer::EntityId id, CycleStory& story) {
  std::string text = absl::StrCat(" for ", DescribeLock(model, id));
  const analyzer::Lock* lock = model.FindLock(id);
  if (lock == nullptr) return text;
  if (lock->holder != 0) {
    absl::StrAppend(&text, ", held by ", model.ThreadLabel(lock->holder));
    const analyzer::Frame* site = model.UserFrame(lock->holder_stack);
    if (site != nullptr) absl::StrAppend(&text, " since ", analyzer::ShortLocation(*site));
    findings::RelatedLocation rel;
    rel.set_role("held since");
    rel.set_message(absl::StrCat(model.ThreadLabel(lock->holder), " took ",
                                 DescribeLock(model, id), " here"));
    if (site != nullptr) *rel.mutable_location() = ToLocation(*site);
    for (auto& loc : ToStack(model, lock->holder_stack)) *rel.add_stack() = std::move(loc);
    story.related.push_back(std::move(rel));
  }
  if (const analyzer::LockClass* c = model.FindLockClass(lock->class_id); c && c->created_stack) {
    findings::RelatedLocation rel;
    rel.set_role("lock created here");
    rel.set_message(DescribeLock(model, id));
    if (const analyzer::Frame* fr = model.UserFrame(c->created_stack)) {
      *rel.mutable_location() = ToLocation(*fr);
    }
    for (auto& loc : ToStack(model, c->created_stack)) *rel.add_stack() = std::move(loc);
    story.related.push_back(std::move(rel));
  }
  return text;
}

// How a task's wait leads to the next node of the cycle: "for an
// asyncio.Lock held by task b", "for task b to finish". `after` is the node
// after `next` (the owner of a lock).
std::string TaskLink(const Model& model, const NodeKey& next, const NodeKey& after) {
  switch (next.kind) {
    case NodeKind::kAsyncLock:
      return absl::StrCat(" for an asyncio.Lock held by ", DescribeTask(model, after.id));
    case NodeKind::kTask: return absl::StrCat(" for ", DescribeTask(model, next.id), " to finish");
    case NodeKind::kTaskAnyOf: return " for any of several tasks";
    case NodeKind::kThread:
      return absl::StrCat(", and its loop runs only on ", model.ThreadLabel(next.id));
    default: return "";
  }
}

void TellTask(const Model& model, const std::vector<NodeKey>& cycle, size_t i, CycleStory& story,
              std::string& text) {
  const NodeKey& n = cycle[i];
  story.tasks.push_back(n.id);
  const analyzer::Task* t = model.FindTask(n.id);
  if (t == nullptr) return;
  absl::StrAppend(&text, text.empty() ? "" : "; ", DescribeTask(model, n.id), " waits in ",
                  DescribeTaskWait(model, *t),
                  TaskLink(model, cycle[(i + 1) % cycle.size()], cycle[(i + 2) % cycle.size()]));
  story.related.push_back(TaskWaitLocation(model, *t, "waits for"));
  story.fingerprint_parts.push_back(FingerprintPart(model, t->api, t->stack));
}

}  // namespace

CycleStory TellCycle(const Model& model, const analyzer::Deadlock& deadlock) {
  CycleStory story;
  std::vector<NodeKey> cycle = RotateToLoopThread(model, deadlock.cycle);
  std::string text;
  for (size_t i = 0; i < cycle.size(); ++i) {
    const NodeKey& n = cycle[i];
    switch (n.kind) {
      case NodeKind::kThread: {
        story.threads.push_back(n.id);
        std::string who = story.threads.size() == 1 ? DescribeThread(model, n.id)
                                                    : model.ThreadLabel(n.id);
        absl::StrAppend(&text, text.empty() ? "" : ", ", who, " waits in ",
                        DescribeWaitChain(model, n.id));
        const analyzer::Thread* t = model.FindThread(n.id);
        for (analyzer::EntityId w : t->active_waits) {
          if (const analyzer::Wait* wait = model.FindWait(w)) {
            story.related.push_back(WaitLocation(model, *wait, "waits for"));
            story.fingerprint_parts.push_back(FingerprintPart(model, wait->api, wait->stack));
          }
        }
        break;
      }
      case NodeKind::kWait:
        break;  // told by the thread's wait chain
      case NodeKind::kExecutorDrain:
        absl::StrAppend(&text, " for the workers of ", DescribeExecutor(model, n.id));
        break;
      case NodeKind::kFuture: {
        absl::StrAppend(&text, " ", FuturePhrase(model, n.id, story));
        const NodeKey& next = cycle[(i + 1) % cycle.size()];
        if (const analyzer::FutureDependency* dep = DependencyOn(model, n.id, next)) {
          absl::StrAppend(&text, DependencyPhrase(model, *dep, story));
        }
        break;
      }
      case NodeKind::kLoop: {
        const NodeKey& next = cycle[(i + 1) % cycle.size()];
        absl::StrAppend(&text, ", and that loop runs only on ", model.ThreadLabel(next.id));
        // The loop's own story: where it was made.
        if (const analyzer::Loop* loop = model.FindLoop(n.id); loop && loop->created_stack) {
          findings::RelatedLocation rel;
          rel.set_role("loop created here");
          rel.set_message(DescribeLoop(model, n.id));
          if (const analyzer::Frame* fr = model.UserFrame(loop->created_stack)) {
            *rel.mutable_location() = ToLocation(*fr);
          }
          for (auto& loc : ToStack(model, loop->created_stack)) *rel.add_stack() = std::move(loc);
          story.related.push_back(std::move(rel));
        }
        break;
      }
      case NodeKind::kExecutorQueue:
        break;  // told by the future phrase
      case NodeKind::kLock:
        absl::StrAppend(&text, LockPhrase(model, n.id, story));
        break;
      case NodeKind::kSemaphore: {
        std::vector<std::string> holders;
        if (const analyzer::Semaphore* sem = model.FindSemaphore(n.id)) {
          for (const auto& [tid, tokens] : sem->holders) holders.push_back(model.ThreadLabel(tid));
        }
        absl::StrAppend(&text, " for a token of the semaphore, held by ",
                        absl::StrJoin(holders, " and "));
        break;
      }
      case NodeKind::kTask:
        TellTask(model, cycle, i, story, text);
        break;
      case NodeKind::kTaskAnyOf:
      case NodeKind::kAsyncLock:
        break;  // told by the task that waits for it
    }
  }
  story.text = std::move(text);
  return story;
}

}  // namespace waitgraph::rules
