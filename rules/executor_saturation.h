// executor-saturation (WG302, warning): every worker of a bounded executor
// (ThreadPoolExecutor, a loop's default executor) or every token of anyio's
// CapacityLimiter (Starlette's threadpool) was taken while work queued
// behind them longer than WAITGRAPH_SATURATION_MS (default 500); names what
// held them. Doc: rules/docs/executor-saturation.md.
#ifndef WAITGRAPH_RULES_EXECUTOR_SATURATION_H_
#define WAITGRAPH_RULES_EXECUTOR_SATURATION_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class ExecutorSaturationRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_EXECUTOR_SATURATION_H_
