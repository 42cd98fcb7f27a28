// The one table of rule codes and names. Codes never change meaning; a
// retired rule stays here as kRemoved so old suppressions still resolve.
// Code blocks: WG0xx deadlocks and starvation, WG1xx context state,
// WG2xx loop affinity, WG3xx loop stalls.
#ifndef WAITGRAPH_RULES_RULE_TABLE_H_
#define WAITGRAPH_RULES_RULE_TABLE_H_

#include <span>
#include "absl/strings/string_view.h"

#include "rules/finding.pb.h"

namespace waitgraph::rules {

enum class RuleGroup { kStable, kPreview, kRemoved };

struct RuleInfo {
  absl::string_view code;
  absl::string_view name;
  findings::Severity severity;
  RuleGroup group;
  absl::string_view summary;
  absl::string_view doc;  // rules/docs/<name>.md, embedded at build time
};

std::span<const RuleInfo> RuleTable();
// By code ("WG001") or name ("cross-call-deadlock"); nullptr if unknown.
const RuleInfo* FindRuleInfo(absl::string_view code_or_name);
const char* SeverityName(findings::Severity severity);

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_RULE_TABLE_H_
