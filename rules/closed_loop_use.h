// closed-loop-use (WG202, error): work handed to or done on an event loop
// after it closed, or handed to a stopped loop that never runs again.
// Doc: rules/docs/closed-loop-use.md.
#ifndef WAITGRAPH_RULES_CLOSED_LOOP_USE_H_
#define WAITGRAPH_RULES_CLOSED_LOOP_USE_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class ClosedLoopUseRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_CLOSED_LOOP_USE_H_
