#include "rules/cycle_story.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "rules/describe.h"

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
    rel.set_message(absl::StrCat("the future's producer was set by ", f->producer_reason, " on ",
                                 model.ThreadLabel(f->producer_set_by)));
    if (const analyzer::Frame* fr = model.UserFrame(f->producer_stack)) {
      *rel.mutable_location() = ToLocation(*fr);
    }
    for (auto& loc : ToStack(model, f->producer_stack)) *rel.add_stack() = std::move(loc);
    story.related.push_back(std::move(rel));
  }
  switch (f->producer_kind) {
    case analyzer::ProducerKind::kLoop:
      story.fingerprint_parts.push_back(absl::StrCat("via:", f->producer_reason));
      return absl::StrCat("for a future only ", DescribeLoop(model, f->producer),
                          " can complete (handed off by ", f->producer_reason, ")");
    case analyzer::ProducerKind::kExecutor: {
      const analyzer::Executor* ex = model.FindExecutor(f->producer);
      bool queued = ex != nullptr && ex->queued.count(id);
      return absl::StrCat("for ", f->producer_reason, (queued ? " queued on " : " running on "),
                          DescribeExecutor(model, f->producer));
    }
    default:
      return "for a future";
  }
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
      case NodeKind::kFuture:
        absl::StrAppend(&text, " ", FuturePhrase(model, n.id, story));
        break;
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
