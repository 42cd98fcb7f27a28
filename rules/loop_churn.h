// loop-churn (WG204, note): one thread makes many short-lived event loops
// (async_to_sync under WSGI, asyncio.run per call).
// Doc: rules/docs/loop-churn.md.
#ifndef WAITGRAPH_RULES_LOOP_CHURN_H_
#define WAITGRAPH_RULES_LOOP_CHURN_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class LoopChurnRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_LOOP_CHURN_H_
