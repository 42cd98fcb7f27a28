#include "rules/executor_starvation.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "rules/cycle_graph.h"
#include "rules/describe.h"

namespace waitgraph::rules {

const RuleInfo& ExecutorStarvationRule::info() const {
  return *FindRuleInfo("executor-starvation");
}

void ExecutorStarvationRule::Check(const AnalysisInput& input,
                                   std::vector<findings::Finding>& out) const {
  const analyzer::Model& model = input.model;
  for (const analyzer::Deadlock& deadlock : input.deadlocks) {
    if (!deadlock.starved_executor) continue;
    const analyzer::Executor* ex = model.FindExecutor(*deadlock.starved_executor);
    if (ex == nullptr) continue;
    findings::Finding f = NewFinding(info());
    std::vector<std::string> holders;
    std::vector<std::string> parts;
    std::set<analyzer::ThreadId> workers;
    for (const auto& [future, worker] : ex->running) workers.insert(worker);
    for (analyzer::ThreadId worker : workers) {
      holders.push_back(
          absl::StrCat(model.ThreadLabel(worker), " waits in ", DescribeWaitChain(model, worker)));
      const analyzer::Wait* wait = OutermostWait(model, worker);
      if (wait == nullptr) continue;
      *f.add_related() = WaitLocation(model, *wait, "waits for");
      const analyzer::Frame* fr = model.UserFrame(wait->stack);
      parts.push_back(FingerprintPart(model, wait->api, wait->stack));
      if (!f.has_location() && fr != nullptr) {
        *f.mutable_location() = ToLocation(*fr);
        for (auto& loc : ToStack(model, wait->stack)) *f.add_stack() = std::move(loc);
      }
    }
    double held = static_cast<double>(model.last_time() - deadlock.held_since) / 1e9;
    f.set_held_seconds(held);
    f.set_time_ns(deadlock.held_since);
    f.set_message(absl::StrFormat(
        "every worker of %s waits for work queued behind it on the same executor: %s; %s "
        "queued, none can start; held %.1f s",
        DescribeExecutor(model, ex->id), absl::StrJoin(holders, "; "),
        CountOf(ex->queued.size(), "item"), held));
    f.set_headline(absl::StrCat(ex->name_prefix.empty() ? std::string("an executor")
                                                        : absl::StrCat("executor '", ex->name_prefix, "'"),
                                " waits on its own queue"));
    f.set_fix(
        "do not block a worker on work submitted to its own executor: submit the sub-work to "
        "a separate executor, run it inline, or make the parent job not wait for it");
    *f.mutable_cycle() = DrawCycle(model, deadlock);
    SetFingerprint(f, parts);
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
