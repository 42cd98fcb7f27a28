// A rule reads the analysis of one trace and emits findings. One rule per
// file pair, with its doc in rules/docs/<name>.md and its entry in the
// central table (rule_table.cc).
#ifndef WAITGRAPH_RULES_RULE_H_
#define WAITGRAPH_RULES_RULE_H_

#include <vector>

#include "analyzer/class_graph.h"
#include "analyzer/context_model.h"
#include "analyzer/lock_order.h"
#include "analyzer/loop_affinity.h"
#include "analyzer/model.h"
#include "analyzer/trace_loader.h"
#include "analyzer/saturation.h"
#include "analyzer/stall_model.h"
#include "analyzer/wait_graph.h"
#include "rules/finding.pb.h"
#include "rules/rule_table.h"

namespace waitgraph::rules {

// Everything the analyzer derived, computed once and shared by all rules.
struct AnalysisInput {
  const analyzer::Model& model;
  const analyzer::ClassGraph& classes;
  const std::vector<analyzer::Deadlock>& deadlocks;  // active right now
  // The context tree (nullptr: not analysed, the context rules stay silent).
  const analyzer::ContextModel* contexts = nullptr;
  // Loop affinity (nullptr: not analysed, its rules stay silent).
  const analyzer::LoopAffinity* loop_affinity = nullptr;
  // Loop stalls and saturated pools (nullptr: not analysed, rules stay silent).
  const analyzer::StallModel* stalls = nullptr;
  const analyzer::SaturationModel* saturation = nullptr;
  // The lock-class order graph (nullptr: not analysed, its rule stays silent).
  const analyzer::LockOrder* lock_order = nullptr;
};

// Everything `analysis` derived, for the rules: the one place that knows
// which analyses exist (a new one is added here and in TraceAnalysis).
inline AnalysisInput InputFor(const analyzer::TraceAnalysis& analysis,
                              const std::vector<analyzer::Deadlock>& deadlocks) {
  AnalysisInput input{analysis.model(), analysis.classes(), deadlocks};
  input.contexts = &analysis.contexts();
  input.loop_affinity = &analysis.loop_affinity();
  input.stalls = &analysis.stalls();
  input.saturation = &analysis.saturation();
  input.lock_order = &analysis.lock_order();
  return input;
}

class Rule {
 public:
  virtual ~Rule() = default;
  virtual const RuleInfo& info() const = 0;
  virtual void Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const = 0;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_RULE_H_
