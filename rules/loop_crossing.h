// loop-crossing (WG201, error): an asyncio object bound to one event loop
// used from another loop or from a thread not running it.
// Doc: rules/docs/loop-crossing.md.
#ifndef WAITGRAPH_RULES_LOOP_CROSSING_H_
#define WAITGRAPH_RULES_LOOP_CROSSING_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class LoopCrossingRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_LOOP_CROSSING_H_
