// potential-cross-call-deadlock (WG002, warning): the class graph (loops,
// executors and thread roles, by where they were made) has a cycle whose
// edges were each seen but never all at once. Doc:
// rules/docs/potential-cross-call-deadlock.md.
#ifndef WAITGRAPH_RULES_POTENTIAL_CROSS_CALL_DEADLOCK_H_
#define WAITGRAPH_RULES_POTENTIAL_CROSS_CALL_DEADLOCK_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class PotentialCrossCallDeadlockRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_POTENTIAL_CROSS_CALL_DEADLOCK_H_
