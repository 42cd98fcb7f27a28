#include "rules/lock_order_inversion.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "rules/cycle_graph.h"
#include "rules/describe.h"

namespace waitgraph::rules {
namespace {

using analyzer::LockOrder;
using analyzer::LockOrderEdge;
using analyzer::LockOrderNode;

// Lock classes on the deadlocks happening right now: an inversion among
// them is that deadlock, already reported by cross-call-deadlock.
std::set<std::string> ClassesInActualDeadlocks(const AnalysisInput& input) {
  std::set<std::string> keys;
  for (const analyzer::Deadlock& d : input.deadlocks) {
    for (const analyzer::NodeKey& n : d.cycle) {
      if (n.kind != analyzer::NodeKind::kLock) continue;
      if (const analyzer::Lock* lock = input.model.FindLock(n.id)) {
        keys.insert(LockOrder::LockClassNode(input.model, lock->class_id).key);
      }
    }
  }
  return keys;
}

bool CoveredByActualDeadlock(const analyzer::LockOrderCycle& cycle,
                             const std::set<std::string>& actual) {
  if (actual.empty()) return false;
  for (const LockOrderEdge& e : cycle.edges) {
    if (e.from.kind == LockOrderNode::Kind::kLockClass && !actual.count(e.from.key)) return false;
  }
  return true;
}

// One step of the story, in words.
std::string Step(const analyzer::Model& model, const LockOrderEdge& e) {
  const analyzer::LockOrderSighting& s = e.first;
  const analyzer::Frame* where = model.UserFrame(s.stack);
  std::string at = absl::StrFormat(" (%s+%.2f s)",
                                   where ? absl::StrCat(analyzer::ShortLocation(*where), ", ") : "",
                                   SecondsSinceStart(model, s.time));
  std::string who = model.ThreadLabel(s.thread);
  if (e.from.kind == LockOrderNode::Kind::kWork) {
    return absl::StrCat("work of ", e.from.label, " took ", e.to.label, " on ", who, at);
  }
  if (e.to.kind == LockOrderNode::Kind::kWork) {
    return absl::StrCat(who, " held ", e.from.label, " while waiting in ",
                        s.api.empty() ? "a blocking call" : s.api, " for work of ", e.to.label, at);
  }
  return absl::StrCat(who, " took ", e.to.label, " while holding ", e.from.label, at);
}

findings::RelatedLocation TakenHere(const analyzer::Model& model, const LockOrderEdge& e,
                                    std::string message) {
  findings::RelatedLocation rel;
  rel.set_role(e.to.kind == LockOrderNode::Kind::kWork ? "waits for" : "takes");
  rel.set_message(std::move(message));
  if (const analyzer::Frame* f = model.UserFrame(e.first.stack)) *rel.mutable_location() = ToLocation(*f);
  for (auto& loc : ToStack(model, e.first.stack)) *rel.add_stack() = std::move(loc);
  return rel;
}

findings::RelatedLocation HeldSince(const analyzer::Model& model, const LockOrderEdge& e) {
  findings::RelatedLocation rel;
  rel.set_role("held since");
  rel.set_message(absl::StrCat(model.ThreadLabel(e.first.thread), " took ", e.from.label, " here"));
  if (const analyzer::Frame* f = model.UserFrame(e.first.held_stack)) {
    *rel.mutable_location() = ToLocation(*f);
  }
  for (auto& loc : ToStack(model, e.first.held_stack)) *rel.add_stack() = std::move(loc);
  return rel;
}

// Fingerprint parts: the files and functions of where each order was
// taken, never lines.
std::string Part(const analyzer::Model& model, const LockOrderEdge& e) {
  const char* what = e.to.kind == LockOrderNode::Kind::kWork ? "wait" : "take";
  return absl::StrCat(what, ":", FingerprintPart(model, e.first.api, e.first.stack));
}

}  // namespace

const RuleInfo& LockOrderInversionRule::info() const {
  return *FindRuleInfo("lock-order-inversion");
}

void LockOrderInversionRule::Check(const AnalysisInput& input,
                                   std::vector<findings::Finding>& out) const {
  if (input.lock_order == nullptr) return;
  const analyzer::Model& model = input.model;
  const std::set<std::string> actual = ClassesInActualDeadlocks(input);
  for (analyzer::LockOrderCycle cycle : input.lock_order->FindCycles()) {
    if (CoveredByActualDeadlock(cycle, actual)) continue;
    // Told in the order things happened: from the edge seen first.
    auto first = std::min_element(cycle.edges.begin(), cycle.edges.end(),
                                  [](const LockOrderEdge& a, const LockOrderEdge& b) {
                                    return a.first.time < b.first.time;
                                  });
    std::rotate(cycle.edges.begin(), first, cycle.edges.end());
    findings::Finding f = NewFinding(info());
    std::vector<std::string> steps, parts;
    bool through_work = false;
    for (const LockOrderEdge& e : cycle.edges) {
      through_work = through_work || e.to.kind == LockOrderNode::Kind::kWork;
      f.set_time_ns(std::max<int64_t>(f.time_ns(), e.first.time));  // closed at its last edge
      std::string step = Step(model, e);
      steps.push_back(step);
      parts.push_back(Part(model, e));
      if (!f.has_location()) {
        if (const analyzer::Frame* fr = model.UserFrame(e.first.stack)) {
          *f.mutable_location() = ToLocation(*fr);
          for (auto& loc : ToStack(model, e.first.stack)) *f.add_stack() = std::move(loc);
        }
      }
      *f.add_related() = TakenHere(model, e, step);
      if (e.first.held_stack != 0) *f.add_related() = HeldSince(model, e);
    }
    f.set_headline(cycle.edges.size() == 2
                       ? "locks taken in opposite orders"
                       : absl::StrCat("locks taken in a cycle of ", cycle.edges.size(), " orders"));
    f.set_message(absl::StrCat(
        "lock order inversion: ", absl::StrJoin(steps, "; "),
        "; each order was seen, never all at once, so only timing kept it from deadlocking"));
    f.set_fix(through_work
                  ? "release the lock before waiting for that work, or do not take a lock of that "
                    "class in the work"
                  : "take these locks in one order everywhere (or guard the data with a single "
                    "lock)");
    *f.mutable_cycle() = DrawLockOrderCycle(model, cycle);
    SetFingerprint(f, parts);
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
