// context-not-propagated: work handed to another thread (executor.submit,
// loop.run_in_executor, threading.Thread) runs in that thread's context,
// not a copy of the caller's, so a var the caller had set reads as the
// default there.
#include "rules/context_not_propagated.h"

#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "rules/context_story.h"
#include "rules/describe.h"

namespace waitgraph::rules {

using analyzer::VarAccess;

const RuleInfo& ContextNotPropagatedRule::info() const {
  return *FindRuleInfo("context-not-propagated");
}

void ContextNotPropagatedRule::Check(const AnalysisInput& input,
                                     std::vector<findings::Finding>& out) const {
  if (input.contexts == nullptr) return;
  const analyzer::ContextModel& cm = *input.contexts;
  const analyzer::Model& model = input.model;
  std::set<std::tuple<analyzer::EntityId, std::string, std::string>> reported;

  for (const VarAccess& r : cm.accesses()) {
    if (r.kind != VarAccess::kGet || r.found) continue;
    // Running in a known copy (ctx.run, sync_to_async): the context was
    // propagated; the var is simply unset there.
    if (cm.CopyOf(r.context) != nullptr) continue;
    const analyzer::Handoff* h = cm.HandoffFor(r);
    if (h == nullptr || h->context == r.context) continue;
    const VarAccess* set = cm.VisibleBinding(h->context, r.var, h->time);
    if (set == nullptr) continue;

    // A library's own bookkeeping: set and read both inside library code.
    if (InnermostIsLibrary(model, set->stack) && InnermostIsLibrary(model, r.stack)) continue;

    const std::string api = ApiOf(model, h->stack, h->api());
    const std::string handoff_site = WhereIn(model, h->stack);
    const std::string read_site = WhereIn(model, r.stack);
    if (!reported.insert({r.var, handoff_site, read_site}).second) continue;
    const std::string var = cm.VarLabel(r.var);

    findings::Finding f = NewFinding(info());
    if (const analyzer::Frame* rf = model.UserFrame(r.stack)) *f.mutable_location() = ToLocation(*rf);
    for (auto& loc : ToStack(model, r.stack)) *f.add_stack() = std::move(loc);
    f.set_time_ns(r.time);
    f.set_message(absl::StrCat(var, " set at ", WhereIn(model, set->stack),
                               " in the caller is read as the default at ", read_site,
                               " in work handed to thread ", model.ThreadLabel(r.thread), " by ",
                               api, " at ", handoff_site,
                               ": the caller's context was not copied into it"));
    f.set_headline(absl::StrCat(var, " not copied to thread ", model.ThreadLabel(r.thread)));
    *f.add_related() = AccessLocation(model, *set, "set here", absl::StrCat(var, " set by the caller"));
    {
      findings::RelatedLocation rel;
      rel.set_role("handed off here");
      rel.set_message(absl::StrCat(api, " runs the work without a copy of the context"));
      if (const analyzer::Frame* hf = model.UserFrame(h->stack)) *rel.mutable_location() = ToLocation(*hf);
      for (auto& loc : ToStack(model, h->stack)) *rel.add_stack() = std::move(loc);
      *f.add_related() = std::move(rel);
    }
    *f.add_related() = AccessLocation(model, r, "read here", absl::StrCat(var, " read as the default"));
    f.set_fix(
        "run the work in a copy of the caller's context: "
        "loop.run_in_executor(None, contextvars.copy_context().run, fn, *args), "
        "executor.submit(contextvars.copy_context().run, fn, ...), "
        "asyncio.to_thread or asgiref.sync_to_async, or pass the value as an argument");
    SetFingerprint(f, {cm.VarName(r.var), FingerprintPart(model, api, h->stack),
                       FingerprintPart(model, "get", r.stack)});
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
