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
#include <map>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "rules/context_story.h"
#include "rules/describe.h"

namespace waitgraph::rules {
namespace {

using analyzer::ContextModel;
using analyzer::EntityId;
using analyzer::TimeNs;
using analyzer::VarAccess;

bool InStack(const analyzer::Model& model, analyzer::StackId stack, const char* function) {
  for (const analyzer::Frame* f : model.StackFrames(stack)) {
    if (f->function == function) return true;
  }
  return false;
}

// asgiref copies a child's changes back with _restore_context: its reads
// and writes are plumbing, not the program's.
bool IsCopyBack(const analyzer::Model& model, const VarAccess& a) {
  return InStack(model, a.stack, "_restore_context");
}

// `context` is `parent` itself, or descends from a copy of `parent` made
// after `after` (a later copy), not through `child`.
bool InParentLineage(const ContextModel& cm, EntityId context, EntityId parent, EntityId child,
                     TimeNs after) {
  if (context == parent) return true;
  for (int depth = 0; depth < 256; ++depth) {
    if (context == child) return false;
    const analyzer::ContextCopy* copy = cm.CopyOf(context);
    if (copy == nullptr) return false;
    if (copy->parent == parent) return copy->time > after;
    context = copy->parent;
  }
  return false;
}

// How many of `parent`'s own tasks set `var` (each in its own copy).
size_t ChildrenThatSet(const analyzer::Model& model, const ContextModel& cm, EntityId parent,
                       EntityId var) {
  std::set<EntityId> writers;
  for (size_t i : cm.AccessesOfVar(var)) {
    const VarAccess& a = cm.accesses()[i];
    if (a.kind != VarAccess::kSet || IsCopyBack(model, a)) continue;
    const analyzer::ContextCopy* c = cm.CopyOf(a.context);
    if (c != nullptr && c->parent == parent &&
        (c->kind == trace::CONTEXT_COPY_TASK || c->kind == trace::CONTEXT_COPY_LOCAL)) {
      writers.insert(a.context);
    }
  }
  return writers.size();
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
  // The context each context was ultimately copied from: accesses in another
  // tree (another thread's contexts) are rejected with one lookup instead of
  // a walk up their copy chain (which made this rule quadratic in practice).
  std::unordered_map<EntityId, EntityId> roots;
  auto root_of = [&](EntityId context) {
    auto [it, added] = roots.try_emplace(context, context);
    if (!added) return it->second;
    EntityId root = context;
    for (int depth = 0; depth < 256; ++depth) {
      const analyzer::ContextCopy* c = cm.CopyOf(root);
      if (c == nullptr) break;
      root = c->parent;
    }
    return roots[context] = root;
  };

  // Per (parent, var): a server spawning a task per request asks once.
  std::map<std::pair<EntityId, EntityId>, size_t> writers;
  auto children_that_set = [&](EntityId parent, EntityId var) {
    auto [it, added] = writers.try_emplace({parent, var}, 0);
    if (added) it->second = ChildrenThatSet(model, cm, parent, var);
    return it->second;
  };

  for (const VarAccess& w : cm.accesses()) {
    if (w.kind != VarAccess::kSet || IsCopyBack(model, w)) continue;
    // Per task by contract (Local(thread_critical=True)): not meant to be shared.
    if (cm.IsPerTaskByContract(w.var)) continue;
    const analyzer::ContextCopy* copy = cm.CopyOf(w.context);
    // Only the copies tasks make on their own: a context copied on purpose
    // (copy_context(), then ctx.run(var.set, ...), as anyio does for its
    // worker threads) is meant to keep its writes.
    if (copy == nullptr || (copy->kind != trace::CONTEXT_COPY_TASK &&
                            copy->kind != trace::CONTEXT_COPY_LOCAL)) {
      continue;
    }
    const EntityId parent = copy->parent;

    // The child's own use of the var after this write.
    bool reread = false;
    TimeNs child_last = w.time;
    for (const VarAccess* a : cm.AccessesIn(w.context, w.var)) {
      if (a->time <= w.time) continue;
      if (a->kind == VarAccess::kGet) reread = true;
      child_last = std::max(child_last, a->time);
    }

    // Undone (reset) or overwritten in the child before it was done with
    // the var: nothing of this write was left to lose.
    // (Just after the child's last use; a hostile trace's times may sit at
    // the clock's end, where +1 would overflow.)
    const TimeNs after_child =
        child_last < std::numeric_limits<TimeNs>::max() ? child_last + 1 : child_last;
    if (cm.VisibleBinding(w.context, w.var, after_child) != &w) continue;

    const VarAccess* miss = nullptr;
    bool parent_used_meanwhile = false;
    // Only the creator's side while it can still run counts: a read after
    // its loop closed is a later, independent caller (a second
    // async_to_sync call reading Django's script prefix) that never
    // expected the child's value, even where asgiref resolves both to the
    // same thread's Local storage.
    const std::optional<TimeNs> creator_gone = cm.CreatorGoneAt(*copy);
    const std::vector<size_t>& of_var = cm.AccessesOfVar(w.var);
    for (auto i = std::upper_bound(of_var.begin(), of_var.end(), w.index); i != of_var.end();
         ++i) {
      const VarAccess& r = cm.accesses()[*i];
      if (r.time <= w.time) continue;
      if (root_of(r.context) != root_of(parent)) continue;
      if (!InParentLineage(cm, r.context, parent, w.context, w.time)) continue;
      if (IsCopyBack(model, r)) continue;
      if (creator_gone && r.time > *creator_gone) continue;
      if (r.time < child_last) {
        parent_used_meanwhile = true;
        continue;
      }
      if (r.kind != VarAccess::kGet) break;  // the parent side sets it itself
      const VarAccess* seen = cm.VisibleBinding(r.context, r.var, r.time);
      if (seen != nullptr && seen->time > w.time) break;  // copied back, or rewritten
      miss = &r;
      break;
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
      bool parent_read_before = false;
      for (const VarAccess* a : cm.AccessesIn(parent, w.var)) {
        if (a->time < copy->time && a->kind == VarAccess::kGet) parent_read_before = true;
      }
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
    const std::string api = ApiOf(model, copy->stack, copy->api);
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
