#ifndef WAITGRAPH_RULES_REGISTRY_H_
#define WAITGRAPH_RULES_REGISTRY_H_

#include <memory>
#include <vector>

#include "rules/rule.h"

namespace waitgraph::rules {

class Registry {
 public:
  void Add(std::unique_ptr<Rule> rule) { rules_.push_back(std::move(rule)); }
  const std::vector<std::unique_ptr<Rule>>& rules() const { return rules_; }

  // Runs every rule; findings sorted by severity (errors first), then code.
  std::vector<findings::Finding> Run(const AnalysisInput& input) const;

 private:
  std::vector<std::unique_ptr<Rule>> rules_;
};

// Explicit registration from one place (no static self-registration that a
// linker may drop).
void RegisterAllRules(Registry& registry);

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_REGISTRY_H_
