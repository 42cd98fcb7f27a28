#include "rules/registry.h"

#include <algorithm>

#include "rules/context_not_propagated.h"
#include "rules/context_reset_mismatch.h"
#include "rules/cross_call_deadlock.h"
#include "rules/lost_context_write.h"
#include "rules/executor_starvation.h"
#include "rules/lock_order_inversion.h"
#include "rules/closed_loop_use.h"
#include "rules/loop_churn.h"
#include "rules/loop_crossing.h"
#include "rules/non_threadsafe_loop_call.h"
#include "rules/nothing_can_move.h"
#include "rules/executor_saturation.h"
#include "rules/loop_stall.h"
#include "rules/potential_cross_call_deadlock.h"

namespace waitgraph::rules {

void RegisterAllRules(Registry& registry) {
  registry.Add(std::make_unique<CrossCallDeadlockRule>());
  registry.Add(std::make_unique<PotentialCrossCallDeadlockRule>());
  registry.Add(std::make_unique<ExecutorStarvationRule>());
  registry.Add(std::make_unique<LockOrderInversionRule>());
  registry.Add(std::make_unique<NothingCanMoveRule>());
  registry.Add(std::make_unique<LostContextWriteRule>());
  registry.Add(std::make_unique<ContextNotPropagatedRule>());
  registry.Add(std::make_unique<ContextResetMismatchRule>());
  registry.Add(std::make_unique<LoopCrossingRule>());
  registry.Add(std::make_unique<ClosedLoopUseRule>());
  registry.Add(std::make_unique<NonThreadsafeLoopCallRule>());
  registry.Add(std::make_unique<LoopChurnRule>());
  registry.Add(std::make_unique<LoopStallRule>());
  registry.Add(std::make_unique<ExecutorSaturationRule>());
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
