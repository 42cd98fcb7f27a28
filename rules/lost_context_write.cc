// lost-context-write: a var set in a child's copy of a context, which the
// context it was copied from (or a later copy of that) reads afterwards
// without seeing the write.
//
// Why the conditions: a child that reads its own write is usually keeping
// per-task state (a request id), so such a write counts only when the
// parent side plainly waited for the child and then found nothing at all
// (the default): it touched the var neither while the child still used it
// nor had a value of its own. Copy-backs (asgiref's _restore_context) are
// sets in the parent, so reads after them see a binding newer than the
// write and stay silent.
#include "rules/lost_context_write.h"

#include <algorithm>
#include <limits>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "rules/context_story.h"
#include "rules/describe.h"
#include "rules/lost_write_search.h"

namespace waitgraph::rules {
namespace {

using analyzer::ContextModel;
using analyzer::EntityId;
using analyzer::TimeNs;
using analyzer::VarAccess;

// How many of a parent's own tasks set a var (each in its own copy), per
// parent, counted for a var's whole history at once.
using WritersByParent = absl::flat_hash_map<EntityId, absl::flat_hash_set<EntityId>>;
WritersByParent ChildrenThatSet(const ContextModel& cm, const ParentSideAccesses& search,
                                EntityId var) {
  WritersByParent writers;
  for (size_t i : cm.AccessesOfVar(var)) {
    const VarAccess& a = cm.accesses()[i];
    if (a.kind != VarAccess::kSet || search.IsCopyBack(a)) continue;
    const analyzer::ContextCopy* c = cm.CopyOf(a.context);
    if (c != nullptr &&
        (c->kind == trace::CONTEXT_COPY_TASK || c->kind == trace::CONTEXT_COPY_LOCAL)) {
      writers[c->parent].insert(a.context);
    }
  }
  return writers;
}

// The copy a write was made in, if it is one a task made on its own (a
// context copied on purpose, copy_context() then ctx.run(var.set, ...), as
// anyio does for its worker threads, is meant to keep its writes).
const analyzer::ContextCopy* TaskCopyOf(const ContextModel& cm, const VarAccess& w) {
  const analyzer::ContextCopy* copy = cm.CopyOf(w.context);
  if (copy == nullptr || (copy->kind != trace::CONTEXT_COPY_TASK &&
                          copy->kind != trace::CONTEXT_COPY_LOCAL)) {
    return nullptr;
  }
  return copy;
}

}  // namespace

const RuleInfo& LostContextWriteRule::info() const {
  return *FindRuleInfo("lost-context-write");
}

void LostContextWriteRule::Check(const AnalysisInput& input,
                                 std::vector<findings::Finding>& out) const {
  if (input.contexts == nullptr) return;
  const ContextModel& cm = *input.contexts;
  const analyzer::Model& model = input.model;
  std::set<std::pair<EntityId, std::string>> reported;
  // The parent side's later accesses, indexed once for every write that
  // may ask (each write's walk over them made this rule quadratic).
  ParentSideAccesses search(model, cm);
  for (const VarAccess& w : cm.accesses()) {
    if (w.kind != VarAccess::kSet || w.settled_not_lost || cm.IsPerTaskByContract(w.var)) continue;
    if (const analyzer::ContextCopy* copy = TaskCopyOf(cm, w); copy && !search.IsCopyBack(w)) {
      search.Want(copy->parent, w.var);
    }
  }
  search.Build();

  // Per var, then per parent: a server spawning a task per request asks once.
  absl::flat_hash_map<EntityId, WritersByParent> writers;
  auto children_that_set = [&](EntityId parent, EntityId var) -> size_t {
    auto [it, added] = writers.try_emplace(var);
    if (added) it->second = ChildrenThatSet(cm, search, var);
    auto of_parent = it->second.find(parent);
    // Plus those the context model forgot once they died (no double count:
    // a forgotten context's accesses are gone).
    return (of_parent == it->second.end() ? 0 : of_parent->second.size()) +
           cm.ForgottenSetters(parent, var);
  };

  for (const VarAccess& w : cm.accesses()) {
    if (w.kind != VarAccess::kSet || search.IsCopyBack(w)) continue;
    // Settled as nothing lost when the context model forgot what its
    // search met (analyzer/context_eviction.cc): searching what is left
    // could meet a later access instead.
    if (w.settled_not_lost) continue;
    // Per task by contract (Local(thread_critical=True)): not meant to be shared.
    if (cm.IsPerTaskByContract(w.var)) continue;
    // Only the copies tasks make on their own.
    const analyzer::ContextCopy* copy = TaskCopyOf(cm, w);
    if (copy == nullptr) continue;
    const EntityId parent = copy->parent;

    // The child's own use of the var after this write.
    const analyzer::VarUseSummary child_use = cm.UseIn(w.context, w.var);
    const bool reread = child_use.last_get > w.time;
    const TimeNs child_last = std::max(w.time, child_use.last);

    // Undone (reset) or overwritten in the child before it was done with
    // the var: nothing of this write was left to lose.
    // (Just after the child's last use; a hostile trace's times may sit at
    // the clock's end, where +1 would overflow.)
    const TimeNs after_child =
        child_last < std::numeric_limits<TimeNs>::max() ? child_last + 1 : child_last;
    if (cm.VisibleBinding(w.context, w.var, after_child) != &w) continue;

    // The parent side's first access once the child was done with the var
    // (the parent itself, or a later copy of it; never the child's own):
    // touching it while the child still used it is noted on the way.
    // Only the creator's side while it can still run counts: a read after
    // its loop closed is a later, independent caller (a second
    // async_to_sync call reading Django's script prefix) that never
    // expected the child's value, even where asgiref resolves both to the
    // same thread's Local storage.
    const std::optional<TimeNs> creator_gone = cm.CreatorGoneAt(*copy);
    const ParentSideAccesses::Found next = search.After(w, parent, creator_gone, child_last);
    const bool parent_used_meanwhile = next.used_meanwhile;
    const VarAccess* miss = nullptr;
    if (next.access != nullptr && next.access->kind == VarAccess::kGet) {
      // Not a set of the parent side's own, and not copied back or rewritten.
      const VarAccess& r = *next.access;
      const VarAccess* seen = cm.VisibleBinding(r.context, r.var, r.time);
      if (seen == nullptr || seen->time <= w.time) miss = &r;
    }
    if (miss == nullptr) continue;
    if (reread) {
      // A child that used its own value counts only if the parent side
      // expected one: it found nothing at all, did not touch the var while
      // the child used it, and had not already read (and lived with) the
      // default before making children that each set their own (a server
      // logging "-" as its own request id while each request task sets and
      // logs its own). With one child alone writing it, a parent that read
      // the default before is waiting for that child's value (a view
      // logging request_id before the signal whose receiver assigns it,
      // Django #36714).
      bool parent_read_before = cm.UseIn(parent, w.var).first_get < copy->time;
      if (parent_read_before && children_that_set(parent, w.var) < 2) {
        parent_read_before = false;
      }
      if (miss->found || parent_used_meanwhile || parent_read_before) continue;
    }
    // Different scopes (e.g. two pytest tests): each is meant to start
    // afresh, so not seeing the other's writes is the point.
    if (model.ScopeAt(w.time) != model.ScopeAt(miss->time)) continue;
    // A library's own bookkeeping (asgiref's thread_sensitive_context, ...):
    // both the write and the read sit in library code.
    if (InnermostIsLibrary(model, w.stack) && InnermostIsLibrary(model, miss->stack)) continue;

    const analyzer::Frame* wf = model.UserFrame(w.stack);
    std::string write_site = wf ? ShortWhere(*wf) : "an unknown place";
    // One finding per var, write site, spawn site and scope (a loop that
    // spawns many tasks gives one).
    if (!reported.insert({w.var, absl::StrCat(write_site, " ", WhereIn(model, copy->stack), " ",
                                              model.ScopeAt(w.time))})
             .second) {
      continue;
    }

    const std::string var = cm.VarLabel(w.var);
    const std::string api = ApiOf(model, copy->stack, copy->api());
    const std::string copy_site = WhereIn(model, copy->stack);
    const std::string read_site = WhereIn(model, miss->stack);
    const std::string child_desc = absl::StrCat("the task made by ", api, " at ", copy_site);
    const std::string reader =
        miss->context == parent ? "the caller" : DescribeContext(model, cm, miss->context);

    findings::Finding f = NewFinding(info());
    if (wf != nullptr) *f.mutable_location() = ToLocation(*wf);
    for (auto& loc : ToStack(model, w.stack)) *f.add_stack() = std::move(loc);
    f.set_time_ns(miss->time);
    f.set_message(absl::StrCat(
        var, " set at ", write_site, " in ", child_desc, " is lost: ",
        copy->kind == trace::CONTEXT_COPY_LOCAL ? "asgiref keeps Local storage per task, "
                                                : "the task runs in its own copy of the context, ",
        reader, " reads it at ", read_site, " afterwards and gets ",
        miss->found ? "its own older value" : "the default"));
    f.set_headline(absl::StrCat(var, " set in a task is lost to ", reader));
    *f.add_related() = AccessLocation(model, w, "set here", absl::StrCat(var, " set in ", child_desc));
    {
      findings::RelatedLocation r;
      r.set_role("copied here");
      r.set_message(absl::StrCat(api, copy->kind == trace::CONTEXT_COPY_LOCAL
                                          ? " gives the child task its own (empty) Local storage"
                                          : " gives the child its own copy of the context"));
      if (const analyzer::Frame* cf = model.UserFrame(copy->stack)) *r.mutable_location() = ToLocation(*cf);
      for (auto& loc : ToStack(model, copy->stack)) *r.add_stack() = std::move(loc);
      *f.add_related() = std::move(r);
    }
    *f.add_related() = AccessLocation(model, *miss, "read here",
                                      absl::StrCat(reader, " reads ", var, " without the write"));
    f.set_fix(
        "run the code that sets the var in the caller's context (await it directly instead of "
        "through a task or gather), or create the task with an explicit shared context "
        "(context=ctx) and read the var from ctx, or return the value instead of setting it");
    SetFingerprint(f, {cm.VarName(w.var), FingerprintPart(model, "set", w.stack),
                       FingerprintPart(model, api, copy->stack)});
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
