// non-threadsafe-loop-call (WG203, error): call_soon, call_later or
// create_task on a running loop from another thread.
// Doc: rules/docs/non-threadsafe-loop-call.md.
#ifndef WAITGRAPH_RULES_NON_THREADSAFE_LOOP_CALL_H_
#define WAITGRAPH_RULES_NON_THREADSAFE_LOOP_CALL_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class NonThreadsafeLoopCallRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_NON_THREADSAFE_LOOP_CALL_H_
