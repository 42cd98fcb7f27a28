// Rule docs (rules/docs/*.md) compiled into the binary, so `waitgraph
// explain` works from any install. Generated: see rules/CMakeLists.txt.
#ifndef WAITGRAPH_RULES_RULE_DOCS_H_
#define WAITGRAPH_RULES_RULE_DOCS_H_

#include "absl/strings/string_view.h"

namespace waitgraph::rules {

// The markdown doc of rule `name`, or "" if it has none.
absl::string_view RuleDoc(absl::string_view name);

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_RULE_DOCS_H_
