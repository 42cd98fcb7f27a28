// executor-starvation (WG003, error): every worker of a bounded executor
// waits on futures that only work queued on that same executor can
// complete. Doc: rules/docs/executor-starvation.md.
#ifndef WAITGRAPH_RULES_EXECUTOR_STARVATION_H_
#define WAITGRAPH_RULES_EXECUTOR_STARVATION_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class ExecutorStarvationRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_EXECUTOR_STARVATION_H_
