#include "rules/loop_crossing.h"

#include "absl/strings/str_cat.h"
#include "rules/loop_story.h"

namespace waitgraph::rules {

const RuleInfo& LoopCrossingRule::info() const { return *FindRuleInfo("loop-crossing"); }

void LoopCrossingRule::Check(const AnalysisInput& input,
                             std::vector<findings::Finding>& out) const {
  for (const auto& group : GroupIncidents(input, analyzer::IncidentKind::kLoopCrossing)) {
    const analyzer::Incident& i = group.front();
    std::string object = DescribeBoundObject(input, i.object);
    if (object.empty()) object = "an object";
    std::string message = absl::StrCat(
        object, " is bound to ",
        input.loop_affinity->DescribeLoopOrigin(input.model, i.loop, i.time), ", but ",
        DescribeUseSite(input.model, i), " used it from ", DescribeUser(input, i),
        i.api == "await" ? ": CPython raises \"attached to a different loop\" in the awaiting task"
                         : ": its waiters are woken from the wrong thread, or not at all");
    out.push_back(LoopIncidentFinding(
        input, info(), group, std::move(message),
        "make the object on the loop that uses it (per loop or per call, not module-level or in "
        "another thread's lifespan), or hand work to its loop with "
        "asyncio.run_coroutine_threadsafe / loop.call_soon_threadsafe"));
    const analyzer::BoundObject* bound = input.loop_affinity->FindObject(i.object);
    out.back().set_headline(absl::StrCat(
        bound != nullptr && !bound->type_name().empty() ? bound->type_name() : std::string("an object"),
        " used from another ", i.user_loop != 0 ? "event loop" : "thread than its loop's"));
  }
}

}  // namespace waitgraph::rules
