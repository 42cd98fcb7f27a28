#include "rules/rule_table.h"

#include <array>

#include "absl/strings/match.h"
#include "rules/rule_docs.h"

namespace waitgraph::rules {
namespace {

using findings::ERROR;
using findings::NOTE;
using findings::WARNING;

std::span<const RuleInfo> Table() {
  static const auto table = std::to_array<RuleInfo>({
      {"WG001", "cross-call-deadlock", ERROR, RuleGroup::kStable,
       "threads, loops and executors wait for each other in a cycle, right now",
       RuleDoc("cross-call-deadlock")},
      {"WG002", "potential-cross-call-deadlock", WARNING, RuleGroup::kStable,
       "each wait of a cycle was seen, never all at once: unlucky timing hangs it",
       RuleDoc("potential-cross-call-deadlock")},
      {"WG003", "executor-starvation", ERROR, RuleGroup::kStable,
       "every worker of a bounded executor waits for work queued behind it",
       RuleDoc("executor-starvation")},
      {"WG004", "lock-order-inversion", WARNING, RuleGroup::kStable,
       "threading locks taken in orders that form a cycle, each seen but never all at once",
       RuleDoc("lock-order-inversion")},
      {"WG005", "nothing-can-move", ERROR, RuleGroup::kStable,
       "no thread can run and no event loop can be woken: every waiter waits forever",
       RuleDoc("nothing-can-move")},
      {"WG301", "loop-stall", WARNING, RuleGroup::kStable,
       "a callback or task step blocked its event loop: names the blocking call and its caller",
       RuleDoc("loop-stall")},
      {"WG302", "executor-saturation", WARNING, RuleGroup::kStable,
       "every worker of a bounded executor or limiter was busy while work queued behind it",
       RuleDoc("executor-saturation")},
      {"WG201", "loop-crossing", ERROR, RuleGroup::kStable,
       "an asyncio object bound to one event loop used from another loop or thread",
       RuleDoc("loop-crossing")},
      {"WG202", "closed-loop-use", ERROR, RuleGroup::kStable,
       "work handed to or done on a closed loop, or handed to a stopped loop that never runs again",
       RuleDoc("closed-loop-use")},
      {"WG203", "non-threadsafe-loop-call", ERROR, RuleGroup::kStable,
       "call_soon / call_later / create_task on a running loop from another thread",
       RuleDoc("non-threadsafe-loop-call")},
      {"WG204", "loop-churn", NOTE, RuleGroup::kStable,
       "one thread makes many short-lived event loops (async_to_sync under WSGI)",
       RuleDoc("loop-churn")},
      {"WG101", "lost-context-write", WARNING, RuleGroup::kStable,
       "a ContextVar set in a task's copy of the context is read, unseen, by its parent",
       RuleDoc("lost-context-write")},
      {"WG102", "context-not-propagated", WARNING, RuleGroup::kStable,
       "work handed to a thread reads as the default a ContextVar its caller had set",
       RuleDoc("context-not-propagated")},
      {"WG103", "context-reset-mismatch", ERROR, RuleGroup::kStable,
       "ContextVar.reset with a token made in another context",
       RuleDoc("context-reset-mismatch")},
  });
  return table;
}

}  // namespace

std::span<const RuleInfo> RuleTable() { return Table(); }

const RuleInfo* FindRuleInfo(absl::string_view code_or_name) {
  for (const RuleInfo& info : Table()) {
    // Any case: `explain wg001`, `ignore[WG001]`, `Cross-Call-Deadlock`.
    if (absl::EqualsIgnoreCase(info.code, code_or_name) ||
        absl::EqualsIgnoreCase(info.name, code_or_name)) {
      return &info;
    }
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
