// context-reset-mismatch: ContextVar.reset(token) in a context other than
// the one whose set() made the token. CPython raises ValueError and the
// var keeps its value (OpenTelemetry's "Failed to detach context").
#include "rules/context_reset_mismatch.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "rules/context_story.h"
#include "rules/describe.h"

namespace waitgraph::rules {

using analyzer::VarAccess;

const RuleInfo& ContextResetMismatchRule::info() const {
  return *FindRuleInfo("context-reset-mismatch");
}

void ContextResetMismatchRule::Check(const AnalysisInput& input,
                                     std::vector<findings::Finding>& out) const {
  if (input.contexts == nullptr) return;
  const analyzer::ContextModel& cm = *input.contexts;
  const analyzer::Model& model = input.model;
  std::set<std::string> reported;  // reset sites

  for (const VarAccess& reset : cm.accesses()) {
    if (reset.kind != VarAccess::kReset || reset.token_context == 0 ||
        reset.token_context == reset.context) {
      continue;
    }
    // The set() that made the token: the latest one in the token's context.
    const VarAccess* made = cm.LatestSetUpTo(reset.token_context, reset.var, reset.time);
    const std::string reset_site = WhereIn(model, reset.stack);
    if (!reported.insert(reset_site).second) continue;
    const std::string var = cm.VarLabel(reset.var);

    findings::Finding f = NewFinding(info());
    if (const analyzer::Frame* rf = model.UserFrame(reset.stack)) *f.mutable_location() = ToLocation(*rf);
    for (auto& loc : ToStack(model, reset.stack)) *f.add_stack() = std::move(loc);
    f.set_time_ns(reset.time);
    f.set_message(absl::StrCat(
        var, " reset at ", reset_site, " in ", DescribeContext(model, cm, reset.context),
        " with a token made", made ? absl::StrCat(" by the set at ", WhereIn(model, made->stack)) : "",
        " in ", DescribeContext(model, cm, reset.token_context),
        ": reset raises ValueError and the var keeps its value"));
    f.set_headline(absl::StrCat(var, " reset in another context than its set"));
    if (made != nullptr) {
      *f.add_related() = AccessLocation(model, *made, "token made here",
                                        absl::StrCat(var, " set; its token belongs to this context"));
    }
    *f.add_related() = AccessLocation(model, reset, "reset here",
                                      absl::StrCat(var, " reset in another context"));
    f.set_fix(
        "reset the token in the context that made it: keep set() and reset(token) in the same "
        "task or callback (a try/finally in one coroutine), or use ctx.run for both");
    SetFingerprint(f, {cm.VarName(reset.var), FingerprintPart(model, "reset", reset.stack)});
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
