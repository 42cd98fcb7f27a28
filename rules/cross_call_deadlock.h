// cross-call-deadlock (WG001, error): a cycle of blocking waits, all active
// now, across threads, event loops, executors and futures. Doc:
// rules/docs/cross-call-deadlock.md.
#ifndef WAITGRAPH_RULES_CROSS_CALL_DEADLOCK_H_
#define WAITGRAPH_RULES_CROSS_CALL_DEADLOCK_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class CrossCallDeadlockRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_CROSS_CALL_DEADLOCK_H_
