// lost-context-write (WG101): see rules/docs/lost-context-write.md. Reads the context tree
// (analyzer/context_model.h); silent when it was not built.
#ifndef WAITGRAPH_RULES_LOST_CONTEXT_WRITE_H_
#define WAITGRAPH_RULES_LOST_CONTEXT_WRITE_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class LostContextWriteRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_LOST_CONTEXT_WRITE_H_
