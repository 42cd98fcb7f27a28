#include "rules/cross_call_deadlock.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
    const analyzer::Wait* first =
        story.threads.empty() ? nullptr : OutermostWait(model, story.threads.front());
    if (first == nullptr && !story.tasks.empty()) LocateAtTask(model, story.tasks.front(), f);
    if (first != nullptr) {
      if (const analyzer::Frame* fr = model.UserFrame(first->stack)) {
        *f.mutable_location() = ToLocation(*fr);
      }
      for (auto& loc : ToStack(model, first->stack)) *f.add_stack() = std::move(loc);
      f.set_fix(FixFor(first->api));
    }
    for (auto& rel : story.related) *f.add_related() = std::move(rel);
    SetFingerprint(f, story.fingerprint_parts);
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
