#include "rules/nothing_can_move.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "analyzer/standstill.h"
#include "rules/describe.h"

namespace waitgraph::rules {
namespace {

using analyzer::EntityId;
using analyzer::Model;
using analyzer::NodeKind;
using analyzer::ThreadId;

// True when a cross-call-deadlock cycle runs through the standstill (one of
// its waiters is on a cycle or behind one): the cycle is why nothing can
// move, and that finding tells it with the owners; this one would only list
// its consequences (tasks that await work the cycle holds, a loop left idle).
// A second, independent cause shows once the cycle is fixed.
bool ExplainedByCycles(const analyzer::Standstill& s,
                       const std::vector<analyzer::Deadlock>& deadlocks) {
  std::set<ThreadId> threads;
  std::set<EntityId> tasks;
  for (const analyzer::Deadlock& d : deadlocks) {
    for (const analyzer::NodeKey& n : d.cycle) {
      if (n.kind == NodeKind::kThread) threads.insert(n.id);
      if (n.kind == NodeKind::kTask) tasks.insert(n.id);
    }
    threads.insert(d.also_blocked.begin(), d.also_blocked.end());
    tasks.insert(d.also_blocked_tasks.begin(), d.also_blocked_tasks.end());
  }
  for (ThreadId t : s.blocked_threads) {
    if (threads.count(t)) return true;
  }
  for (EntityId t : s.waiting_tasks) {
    if (tasks.count(t)) return true;
  }
  return false;
}

std::string TaskPhrase(const Model& model, EntityId id) {
  const analyzer::Task* t = model.FindTask(id);
  if (t == nullptr) return DescribeTask(model, id);
  return absl::StrCat(DescribeTask(model, id), " waits in ", DescribeTaskWait(model, *t));
}

findings::RelatedLocation IdleLocation(const Model& model, ThreadId tid, std::string role,
                                       std::string message) {
  findings::RelatedLocation rel;
  rel.set_role(std::move(role));
  rel.set_message(std::move(message));
  const analyzer::Thread* t = model.FindThread(tid);
  if (t != nullptr && !t->loops_running.empty()) {
    if (const analyzer::Loop* loop = model.FindLoop(t->loops_running.back())) {
      if (const analyzer::Frame* f = model.UserFrame(loop->created_stack)) {
        *rel.mutable_location() = ToLocation(*f);
      }
      for (auto& loc : ToStack(model, loop->created_stack)) *rel.add_stack() = std::move(loc);
    }
  }
  return rel;
}

// "every task and thread waits, and nothing can wake them: task main waits
// in main → Event.wait; MainThread (running ...) is idle in its selector".
std::string Story(const Model& model, const analyzer::Standstill& s) {
  std::vector<std::string> parts;
  for (EntityId id : s.waiting_tasks) parts.push_back(TaskPhrase(model, id));
  for (ThreadId tid : s.blocked_threads) {
    parts.push_back(absl::StrCat(model.ThreadLabel(tid), " waits in ",
                                 DescribeWaitChain(model, tid)));
  }
  for (ThreadId tid : s.idle_loop_threads) {
    parts.push_back(absl::StrCat(DescribeThread(model, tid),
                                 " sits in its selector with no timer and no descriptor to wake it"));
  }
  for (ThreadId tid : s.idle_workers) {
    parts.push_back(absl::StrCat(model.ThreadLabel(tid), " is an idle executor worker"));
  }
  return absl::StrJoin(parts, "; ");
}

void AddLocations(const Model& model, const analyzer::Standstill& s, findings::Finding& f,
                  std::vector<std::string>& fingerprint) {
  bool located = false;
  for (EntityId id : s.waiting_tasks) {
    const analyzer::Task* t = model.FindTask(id);
    if (t == nullptr) continue;
    if (!located) {
      if (const analyzer::Frame* fr = model.UserFrame(t->stack)) *f.mutable_location() = ToLocation(*fr);
      for (auto& loc : ToStack(model, t->stack)) *f.add_stack() = std::move(loc);
      located = true;
    }
    *f.add_related() = TaskWaitLocation(model, *t, "waits for");
    fingerprint.push_back(FingerprintPart(model, t->api, t->stack));
  }
  for (ThreadId tid : s.blocked_threads) {
    const analyzer::Thread* t = model.FindThread(tid);
    for (EntityId w : t->active_waits) {
      const analyzer::Wait* wait = model.FindWait(w);
      if (wait == nullptr) continue;
      if (!located) {
        if (const analyzer::Frame* fr = model.UserFrame(wait->stack)) {
          *f.mutable_location() = ToLocation(*fr);
        }
        for (auto& loc : ToStack(model, wait->stack)) *f.add_stack() = std::move(loc);
        located = true;
      }
      *f.add_related() = WaitLocation(model, *wait, "waits for");
      fingerprint.push_back(FingerprintPart(model, wait->api, wait->stack));
    }
  }
  for (ThreadId tid : s.idle_loop_threads) {
    *f.add_related() = IdleLocation(model, tid, "idle loop",
                                    absl::StrCat(DescribeThread(model, tid),
                                                 " sits in its selector; nothing can wake it"));
  }
  for (ThreadId tid : s.idle_workers) {
    *f.add_related() = IdleLocation(model, tid, "idle worker",
                                    absl::StrCat(model.ThreadLabel(tid),
                                                 " waits for work only a submit can bring"));
  }
}

}  // namespace

const RuleInfo& NothingCanMoveRule::info() const { return *FindRuleInfo("nothing-can-move"); }

void NothingCanMoveRule::Check(const AnalysisInput& input,
                               std::vector<findings::Finding>& out) const {
  const Model& model = input.model;
  std::optional<analyzer::Standstill> s = analyzer::FindStandstill(model);
  if (!s || ExplainedByCycles(*s, input.deadlocks)) return;
  findings::Finding f = NewFinding(info());
  double held = static_cast<double>(model.last_time() - s->since) / 1e9;
  if (held < 0) held = 0;
  f.set_held_seconds(held);
  f.set_time_ns(s->since);
  size_t waiters = s->waiting_tasks.size() + s->blocked_threads.size();
  f.set_message(absl::StrFormat(
      "nothing can move: %d waiter%s and no thread, timer or descriptor left to wake %s: %s; "
      "held %.1f s",
      waiters, waiters == 1 ? "" : "s", waiters == 1 ? "it" : "them", Story(model, *s), held));
  f.set_headline(absl::StrCat(CountOf(waiters, "waiter"), " and nothing left to wake ",
                              waiters == 1 ? "it" : "them"));
  std::vector<std::string> fingerprint;
  AddLocations(model, *s, f, fingerprint);
  f.set_fix("whatever each waiter needs must come from code that still runs: set the event, "
            "put to the queue or release the lock on every path (also on errors), or bound "
            "the wait (asyncio.timeout, a timeout=) so it can give up");
  SetFingerprint(f, fingerprint);
  out.push_back(std::move(f));
}

}  // namespace waitgraph::rules
