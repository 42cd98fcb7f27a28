// nothing-can-move (WG005, error): no thread can run and no event loop can be
// woken, so every waiter waits forever (Go's "all goroutines are asleep").
// Doc: rules/docs/nothing-can-move.md.
#ifndef WAITGRAPH_RULES_NOTHING_CAN_MOVE_H_
#define WAITGRAPH_RULES_NOTHING_CAN_MOVE_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class NothingCanMoveRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_NOTHING_CAN_MOVE_H_
