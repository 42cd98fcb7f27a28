// lock-order-inversion (WG004, warning): threading locks taken in orders
// that form a cycle over lock classes (lockdep), each order seen but never
// all at once; or a lock held while waiting for executor/loop work that
// takes a lock of that class. Doc: rules/docs/lock-order-inversion.md.
#ifndef WAITGRAPH_RULES_LOCK_ORDER_INVERSION_H_
#define WAITGRAPH_RULES_LOCK_ORDER_INVERSION_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class LockOrderInversionRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_LOCK_ORDER_INVERSION_H_
