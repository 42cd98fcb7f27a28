#include "rules/closed_loop_use.h"

#include "absl/strings/str_cat.h"
#include "rules/loop_story.h"

namespace waitgraph::rules {

const RuleInfo& ClosedLoopUseRule::info() const { return *FindRuleInfo("closed-loop-use"); }

void ClosedLoopUseRule::Check(const AnalysisInput& input,
                              std::vector<findings::Finding>& out) const {
  for (const auto& group : GroupIncidents(input, analyzer::IncidentKind::kClosedLoopUse)) {
    const analyzer::Incident& i = group.front();
    // A stopped loop as it was then (it may be closed later, by its owner).
    const std::string loop =
        input.loop_affinity->DescribeLoopOrigin(input.model, i.loop, i.loop_stopped ? i.time : 0);
    const std::string use = DescribeUseSite(input.model, i);
    std::string object = DescribeBoundObject(input, i.object);
    std::string message;
    if (i.loop_stopped) {
      message = absl::StrCat(use, " handed work to ", loop,
                             ", which had stopped and never ran again: the work never runs and "
                             "whoever waits for it waits forever");
    } else if (!object.empty()) {
      message = absl::StrCat(object, " belongs to ", loop, ", and ", use,
                             " used it after that loop "
                             "closed, from ",
                             DescribeUser(input, i));
    } else {
      message =
          absl::StrCat(use, " handed work to ", loop, ", which was already closed (called from ",
                       DescribeUser(input, i), ")");
    }
    out.push_back(LoopIncidentFinding(
        input, info(), group, std::move(message),
        "do not keep loop-bound objects (clients, connections, queues, futures) beyond the loop "
        "that made them: make them per loop and close them before it closes, and hand work only "
        "to a loop that is running"));
    const analyzer::BoundObject* bound = input.loop_affinity->FindObject(i.object);
    out.back().set_headline(
        i.loop_stopped ? "work handed to an event loop that never runs again"
        : bound != nullptr && !bound->type_name().empty()
            ? absl::StrCat(bound->type_name(), " used after its event loop closed")
            : absl::StrCat(i.api, " on a closed event loop"));
  }
}

}  // namespace waitgraph::rules
