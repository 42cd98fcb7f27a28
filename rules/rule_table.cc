#include "rules/rule_table.h"

#include <array>

#include "rules/rule_docs.h"

namespace waitgraph::rules {
namespace {

using findings::ERROR;
using findings::WARNING;

const std::array<RuleInfo, 3>& Table() {
  static const std::array<RuleInfo, 3> table = {{
      {"WG001", "cross-call-deadlock", ERROR, RuleGroup::kStable,
       "threads, loops and executors wait for each other in a cycle, right now",
       RuleDoc("cross-call-deadlock")},
      {"WG002", "potential-cross-call-deadlock", WARNING, RuleGroup::kStable,
       "each wait of a cycle was seen, never all at once: unlucky timing hangs it",
       RuleDoc("potential-cross-call-deadlock")},
      {"WG003", "executor-starvation", ERROR, RuleGroup::kStable,
       "every worker of a bounded executor waits for work queued behind it",
       RuleDoc("executor-starvation")},
  }};
  return table;
}

}  // namespace

std::span<const RuleInfo> RuleTable() { return Table(); }

const RuleInfo* FindRuleInfo(absl::string_view code_or_name) {
  for (const RuleInfo& info : Table()) {
    if (info.code == code_or_name || info.name == code_or_name) return &info;
  }
  return nullptr;
}

const char* SeverityName(findings::Severity severity) {
  switch (severity) {
    case findings::ERROR: return "error";
    case findings::WARNING: return "warning";
    case findings::NOTE: return "note";
    default: return "unknown";
  }
}

}  // namespace waitgraph::rules
