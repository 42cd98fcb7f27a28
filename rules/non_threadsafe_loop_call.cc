#include "rules/non_threadsafe_loop_call.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rules/loop_story.h"

namespace waitgraph::rules {

const RuleInfo& NonThreadsafeLoopCallRule::info() const {
  return *FindRuleInfo("non-threadsafe-loop-call");
}

void NonThreadsafeLoopCallRule::Check(const AnalysisInput& input,
                                      std::vector<findings::Finding>& out) const {
  for (const auto& group : GroupIncidents(input, analyzer::IncidentKind::kNonThreadsafeCall)) {
    const analyzer::Incident& i = group.front();
    std::string what = DescribeUseSite(input.model, i);
    std::string object = DescribeBoundObject(input, i.object);
    if (!object.empty()) absl::StrAppend(&what, " (waking the waiters of ", object, ")");
    std::vector<std::string> runners;
    if (const analyzer::LoopLife* l = input.loop_affinity->FindLoop(i.loop)) {
      for (analyzer::ThreadId t : l->run_by) runners.push_back(input.model.ThreadLabel(t));
    }
    std::string message = absl::StrCat(
        what, " on ", input.loop_affinity->DescribeLoopOrigin(input.model, i.loop, i.time),
        ", from ", DescribeUser(input, i), " while ",
        runners.empty() ? std::string("another thread") : absl::StrJoin(runners, ", "),
        " runs it: asyncio loops are not thread-safe, the loop is not woken and its "
        "state can be corrupted");
    out.push_back(LoopIncidentFinding(
        input, info(), group, std::move(message),
        "from another thread use loop.call_soon_threadsafe or "
        "asyncio.run_coroutine_threadsafe (and resolve its futures through them)"));
    out.back().set_headline(absl::StrCat(i.api, " on a running event loop from another thread"));
  }
}

}  // namespace waitgraph::rules
