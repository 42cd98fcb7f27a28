#include "rules/cross_call_deadlock.h"

#include <algorithm>
#include <set>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rules/cycle_graph.h"
#include "rules/cycle_story.h"
#include "rules/describe.h"

namespace waitgraph::rules {
namespace {

// The fix depends on how the first thread of the story blocks.
std::string FixFor(const std::string& api) {
  if (api == "ThreadPoolExecutor.shutdown") {
    return "do not wait for the executor on the thread its work calls back into: shut it down "
           "with wait=False, cancel_futures=True, or await the pending work before exiting";
  }
  if (api == "Thread.join") {
    return "do not join, on a loop thread, a thread that needs that loop: await "
           "loop.run_in_executor(None, thread.join) or signal it to stop first";
  }
  if (api == "Future.result" || api == "Future.exception" ||
      api == "CurrentThreadExecutor.run_until_future") {
    return "do not block on a future whose producer needs this thread: await it "
           "(asyncio.wrap_future) or complete it from a thread that is free";
  }
  return "break the cycle: never block a thread on work that needs that same thread, its "
         "event loop or its pool to finish";
}

// What the cycle runs through, for the fix.
struct CycleShape {
  std::set<analyzer::EntityId> executor_queues;
  bool task_dependency = false;  // a future that waits for a task's executor work
};

CycleShape ShapeOf(const analyzer::Model& model, const analyzer::Deadlock& deadlock) {
  CycleShape shape;
  for (const analyzer::NodeKey& n : deadlock.cycle) {
    if (n.kind == analyzer::NodeKind::kExecutorQueue) shape.executor_queues.insert(n.id);
    if (n.kind != analyzer::NodeKind::kFuture) continue;
    const analyzer::Future* f = model.FindFuture(n.id);
    if (f == nullptr) continue;
    for (const analyzer::FutureDependency& dep : f->after) {
      analyzer::NodeKey on{analyzer::NodeKind::kFuture, dep.future};
      if (std::find(deadlock.cycle.begin(), deadlock.cycle.end(), on) != deadlock.cycle.end()) {
        shape.task_dependency = true;
      }
    }
  }
  return shape;
}

// The fix depends on what the cycle runs through, then on how the first
// thread of the story blocks.
std::string FixFor(const CycleShape& shape, const std::string& api) {
  if (shape.task_dependency) {
    return "do not wait, in thread-sensitive sync code, for a task that itself calls "
           "thread-sensitive sync code (asgiref runs that on the waiting thread's executor): "
           "await the task from async code after the sync code returns, or call the sync "
           "function directly instead of through sync_to_async";
  }
  if (shape.executor_queues.size() > 1) {
    return "use separate pools for the outer and inner jobs (a pool whose jobs wait must not "
           "run jobs another waiting pool needs), or do not block inside pool work: await "
           "it or chain callbacks";
  }
  return FixFor(api);
}

// The wait of `thread` that is on the cycle (a nested one, when an outer
// wait is not what blocks it), else its outermost.
const analyzer::Wait* CycleWait(const analyzer::Model& model, const analyzer::Deadlock& deadlock,
                                analyzer::ThreadId thread) {
  for (const analyzer::NodeKey& n : deadlock.cycle) {
    if (n.kind != analyzer::NodeKind::kWait) continue;
    const analyzer::Wait* w = model.FindWait(n.id);
    if (w != nullptr && w->thread == thread) return w;
  }
  return OutermostWait(model, thread);
}

// A cycle through threading locks: the fix is about the locks.
std::optional<std::string> LockFix(const analyzer::Deadlock& deadlock) {
  bool lock = false, work = false;
  for (const analyzer::NodeKey& n : deadlock.cycle) {
    lock = lock || n.kind == analyzer::NodeKind::kLock || n.kind == analyzer::NodeKind::kSemaphore;
    work = work || n.kind == analyzer::NodeKind::kFuture || n.kind == analyzer::NodeKind::kLoop ||
           n.kind == analyzer::NodeKind::kExecutorDrain;
  }
  if (!lock) return std::nullopt;
  if (work) {
    return "release the lock before waiting for work that takes it (or do not take that lock "
           "in the work)";
  }
  return "take these locks in one order everywhere (or guard the data with a single lock)";
}

// A cycle of asyncio tasks only: the first task's await is the primary location.
void LocateAtTask(const analyzer::Model& model, analyzer::EntityId task, findings::Finding& f) {
  const analyzer::Task* t = model.FindTask(task);
  if (t == nullptr) return;
  if (const analyzer::Frame* fr = model.UserFrame(t->stack)) *f.mutable_location() = ToLocation(*fr);
  for (auto& loc : ToStack(model, t->stack)) *f.add_stack() = std::move(loc);
  f.set_fix("take asyncio locks in one global order in every task (or hold one at a time), and "
            "never await a task that waits for something you hold");
}

}  // namespace

const RuleInfo& CrossCallDeadlockRule::info() const {
  return *FindRuleInfo("cross-call-deadlock");
}

void CrossCallDeadlockRule::Check(const AnalysisInput& input,
                                  std::vector<findings::Finding>& out) const {
  const analyzer::Model& model = input.model;
  for (const analyzer::Deadlock& deadlock : input.deadlocks) {
    if (deadlock.starved_executor) continue;  // executor-starvation tells those
    CycleStory story = TellCycle(model, deadlock);
    if (story.threads.empty() && story.tasks.empty()) continue;
    findings::Finding f = NewFinding(info());
    double held = static_cast<double>(model.last_time() - deadlock.held_since) / 1e9;
    f.set_held_seconds(held);
    f.set_time_ns(deadlock.held_since);
    f.set_message(absl::StrFormat("deadlock: %s; held %.1f s", story.text, held));
    std::vector<std::string> names;
    for (analyzer::ThreadId t : story.threads) names.push_back(model.ThreadLabel(t));
    for (analyzer::EntityId t : story.tasks) names.push_back(DescribeTask(model, t));
    f.set_headline(names.size() == 1 ? absl::StrCat(names.front(), " waits for itself")
                                     : absl::StrCat(JoinAnd(names), " wait for each other"));
    const analyzer::Wait* first =
        story.threads.empty() ? nullptr : CycleWait(model, deadlock, story.threads.front());
    if (first == nullptr && !story.tasks.empty()) LocateAtTask(model, story.tasks.front(), f);
    if (first != nullptr) {
      if (const analyzer::Frame* fr = model.UserFrame(first->stack)) {
        *f.mutable_location() = ToLocation(*fr);
      }
      for (auto& loc : ToStack(model, first->stack)) *f.add_stack() = std::move(loc);
      f.set_fix(FixFor(ShapeOf(model, deadlock), first->api));
    }
    if (auto fix = LockFix(deadlock)) f.set_fix(*fix);
    for (auto& rel : story.related) *f.add_related() = std::move(rel);
    *f.mutable_cycle() = DrawCycle(model, deadlock);
    SetFingerprint(f, story.fingerprint_parts);
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
