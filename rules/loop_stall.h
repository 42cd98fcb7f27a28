// loop-stall (WG301, warning; error from WAITGRAPH_STALL_ERROR_MS, default
// 1000): one callback or task step held an event loop's thread longer than
// the shim's threshold. Names the blocking call and the user frame that
// made it (sampled during the stall), how often, and what waited meanwhile.
// Doc: rules/docs/loop-stall.md.
#ifndef WAITGRAPH_RULES_LOOP_STALL_H_
#define WAITGRAPH_RULES_LOOP_STALL_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class LoopStallRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_LOOP_STALL_H_
