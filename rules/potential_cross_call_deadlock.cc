#include "rules/potential_cross_call_deadlock.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "rules/cycle_graph.h"
#include "rules/describe.h"

namespace waitgraph::rules {
namespace {

using analyzer::BlockingClass;
using analyzer::ClassGraph;

// Classes taking part in the deadlocks that are happening right now: a
// latent cycle over them is the same bug, already reported as an error.
std::set<std::string> ClassesInActualDeadlocks(const AnalysisInput& input) {
  std::set<std::string> keys;
  const analyzer::Model& model = input.model;
  for (const analyzer::Deadlock& d : input.deadlocks) {
    for (const analyzer::NodeKey& n : d.cycle) {
      if (n.kind == analyzer::NodeKind::kThread) {
        keys.insert(ClassGraph::ThreadClass(model, n.id).key);
        if (const analyzer::Thread* t = model.FindThread(n.id); t && !t->loops_running.empty()) {
          keys.insert(ClassGraph::LoopClass(model, t->loops_running.back()).key);
        }
      } else if (n.kind == analyzer::NodeKind::kLoop) {
        keys.insert(ClassGraph::LoopClass(model, n.id).key);
      } else if (n.kind == analyzer::NodeKind::kExecutorDrain ||
                 n.kind == analyzer::NodeKind::kExecutorQueue) {
        keys.insert(ClassGraph::ExecutorClass(model, n.id).key);
      }
    }
  }
  return keys;
}

// Pools waiting on each other want layering; anything with a loop or a
// thread in it wants one wait made non-blocking.
std::string FixFor(const analyzer::ClassCycle& cycle) {
  bool only_pools = std::all_of(cycle.edges.begin(), cycle.edges.end(), [](const auto& e) {
    return e.from.kind == BlockingClass::Kind::kExecutor;
  });
  if (only_pools) {
    return "use separate pools for the outer and inner jobs (a pool whose jobs wait must not "
           "run jobs another waiting pool needs), or do not block inside pool work: await "
           "it or chain callbacks";
  }
  return "make one of these waits non-blocking (await it, or shut down with wait=False), or run "
         "the callback on a loop or pool the waiter does not hold";
}

}  // namespace

const RuleInfo& PotentialCrossCallDeadlockRule::info() const {
  return *FindRuleInfo("potential-cross-call-deadlock");
}

void PotentialCrossCallDeadlockRule::Check(const AnalysisInput& input,
                                           std::vector<findings::Finding>& out) const {
  const analyzer::Model& model = input.model;
  const std::set<std::string> actual = ClassesInActualDeadlocks(input);
  for (const analyzer::ClassCycle& cycle : input.classes.FindCycles()) {
    bool covered = true;
    for (const auto& e : cycle.edges) covered = covered && actual.count(e.from.key) > 0;
    if (covered) continue;

    findings::Finding f = NewFinding(info());
    std::vector<std::string> steps, parts;
    for (const analyzer::ClassEdge& e : cycle.edges) {
      const analyzer::ClassEdgeSighting& s = e.first;
      f.set_time_ns(std::max<int64_t>(f.time_ns(), s.time));  // the cycle closed at its last edge
      std::string chain = s.api;
      std::vector<const analyzer::Frame*> frames = model.StackFrames(s.stack);
      if (!frames.empty()) chain = absl::StrCat(frames.front()->function, " → ", s.api);
      const analyzer::Frame* user = model.UserFrame(s.stack);
      steps.push_back(absl::StrFormat("%s blocked in %s waiting for %s (seen at +%.2f s%s)",
                                      e.from.label, chain, s.target_text,
                                      SecondsSinceStart(model, s.time),
                                      user ? absl::StrCat(", ", analyzer::ShortLocation(*user)) : ""));
      parts.push_back(absl::StrCat(e.from.kind == BlockingClass::Kind::kLoop ? "loop:" : "class:",
                                   FingerprintPart(model, s.api, s.stack)));
      findings::RelatedLocation rel;
      rel.set_role("waits for");
      rel.set_message(absl::StrFormat("%s, on %s, blocked in %s waiting for %s at +%.2f s (seen %d time%s)",
                                      e.from.label, model.ThreadLabel(s.thread), s.api,
                                      s.target_text, SecondsSinceStart(model, s.time),
                                      s.times_seen, s.times_seen == 1 ? "" : "s"));
      if (user != nullptr) *rel.mutable_location() = ToLocation(*user);
      for (auto& loc : ToStack(model, s.stack)) *rel.add_stack() = std::move(loc);
      if (!f.has_location() && user != nullptr) {
        *f.mutable_location() = ToLocation(*user);
        for (auto& loc : ToStack(model, s.stack)) *f.add_stack() = std::move(loc);
      }
      *f.add_related() = std::move(rel);
    }
    f.set_headline(absl::StrCat("a cycle of ", CountOf(steps.size(), "wait"),
                                ", each seen, never all at once"));
    f.set_message(absl::StrCat(
        "potential deadlock: ", absl::StrJoin(steps, "; "),
        "; each wait was seen, never all at once, so only timing kept it from hanging"));
    f.set_fix(FixFor(cycle));
    *f.mutable_cycle() = DrawClassCycle(model, cycle);
    SetFingerprint(f, parts);
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
