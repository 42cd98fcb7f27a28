// context-reset-mismatch (WG103): see rules/docs/context-reset-mismatch.md. Reads the context tree
// (analyzer/context_model.h); silent when it was not built.
#ifndef WAITGRAPH_RULES_CONTEXT_RESET_MISMATCH_H_
#define WAITGRAPH_RULES_CONTEXT_RESET_MISMATCH_H_

#include "rules/rule.h"

namespace waitgraph::rules {

class ContextResetMismatchRule : public Rule {
 public:
  const RuleInfo& info() const override;
  void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const override;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_CONTEXT_RESET_MISMATCH_H_
