// `waitgraph rules` and `waitgraph explain NAME|CODE`: the rule table and docs.
#include <algorithm>
#include <iostream>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "rules/rule_table.h"

namespace waitgraph::cli {

int RulesCommand(const Args& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << "usage: waitgraph rules\n\nLists every rule: code, name, severity, summary.\n"
                 "`waitgraph explain NAME|CODE` prints one rule's documentation.\n";
    return kExitOk;
  }
  if (!args.empty()) {
    std::cerr << "waitgraph: rules takes no arguments (see `waitgraph rules --help`)\n";
    return kExitBadInput;
  }
  std::vector<rules::RuleInfo> table(rules::RuleTable().begin(), rules::RuleTable().end());
  std::sort(table.begin(), table.end(), [](const auto& a, const auto& b) { return a.code < b.code; });
  for (const rules::RuleInfo& r : table) {
    if (r.group == rules::RuleGroup::kRemoved) continue;
    std::cout << absl::StrFormat("%-6s %-31s %-8s %s\n", r.code, r.name,
                                 rules::SeverityName(r.severity), r.summary);
  }
  return kExitOk;
}

int ExplainCommand(const Args& args) {
  if (args.size() != 1 || args[0] == "--help" || args[0] == "-h") {
    bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
    (help ? std::cout : std::cerr)
        << "usage: waitgraph explain NAME|CODE\n\nPrints a rule's documentation: what it finds, "
           "why it hurts, an example, the fix.\n";
    return help ? kExitOk : kExitBadInput;
  }
  const rules::RuleInfo* info = rules::FindRuleInfo(args[0]);
  if (info == nullptr) {
    std::cerr << "waitgraph: unknown rule " << args[0] << "; `waitgraph rules` lists them\n";
    return kExitBadInput;
  }
  std::cout << info->doc;
  return kExitOk;
}

}  // namespace waitgraph::cli
