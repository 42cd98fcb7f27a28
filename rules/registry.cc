#include "rules/registry.h"

#include <algorithm>

#include "rules/cross_call_deadlock.h"
#include "rules/executor_starvation.h"
#include "rules/potential_cross_call_deadlock.h"

namespace waitgraph::rules {

void RegisterAllRules(Registry& registry) {
  registry.Add(std::make_unique<CrossCallDeadlockRule>());
  registry.Add(std::make_unique<PotentialCrossCallDeadlockRule>());
  registry.Add(std::make_unique<ExecutorStarvationRule>());
}

std::vector<findings::Finding> Registry::Run(const AnalysisInput& input) const {
  std::vector<findings::Finding> out;
  for (const auto& rule : rules_) rule->Check(input, out);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.severity() != b.severity() ? a.severity() > b.severity() : a.code() < b.code();
  });
  return out;
}

}  // namespace waitgraph::rules
