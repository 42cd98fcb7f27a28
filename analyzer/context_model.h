// The context tree: which contextvars.Context (or asgiref Local storage
// owner) each ContextVar set/get/reset happened in, which context each was
// copied from, and which work was handed to another thread without a copy.
//
// Built from CONTEXT_* events (trace/waitgraph_trace.proto) as an EventSink;
// queried by the context rules once the trace is loaded. Values are never
// known: a read only says whether it found a value set in its context or
// fell back to the default, so "did this read see that write" is answered
// by times: a read in context X sees the binding of the var that X holds at
// that moment, which is the latest set/reset in X before it, else what X
// inherited from the context it was copied from, at the copy.
#ifndef WAITGRAPH_ANALYZER_CONTEXT_MODEL_H_
#define WAITGRAPH_ANALYZER_CONTEXT_MODEL_H_

#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "analyzer/model.h"
#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::analyzer {

// A context with no id (a thread that has not used contexts yet) gets this
// synthetic id per thread: kThreadContextBit | native tid.
inline constexpr EntityId kThreadContextBit = EntityId{1} << 63;

// The name of the API behind a copy or hand-off ("create_task",
// "copy_context", "run_in_executor"...): the model's interned string
// (Model::String, stable), not a copy per entry.
class ApiName {
 public:
  const std::string& api() const { return api_ != nullptr ? *api_ : Empty(); }
  // `name` must outlive the entry: the model's interned string.
  void set_api(const std::string& name) { api_ = &name; }

 private:
  static const std::string& Empty();
  const std::string* api_ = nullptr;
};

struct ContextCopy : ApiName {
  EntityId parent = 0;
  trace::ContextCopyKind kind = trace::CONTEXT_COPY_NONE;
  StackId stack = 0;
  TimeNs time = 0;
  ThreadId thread = 0;
  EntityId loop = 0;  // the event loop running on `thread` then (0: none)
};

struct VarAccess {
  enum Kind { kSet, kGet, kReset } kind = kGet;
  EntityId var = 0;
  EntityId context = 0;
  bool found = false;           // gets
  // Sets: lost-context-write's search for this write was settled as
  // "nothing lost" (the parent side's answer was a set, or a read that saw
  // a newer value) when context_eviction.cc forgot what that search met;
  // the rule takes this verdict instead of searching what is left.
  bool settled_not_lost = false;
  EntityId token_context = 0;   // resets: where the token was made
  StackId stack = 0;
  // Sets: context_eviction.cc's search for the parent side's answer to this
  // write looked at every access before this index (0: none yet) and found
  // none that answers; the next pass goes on from here.
  uint32_t searched_to = 0;
  TimeNs time = 0;
  ThreadId thread = 0;
  size_t index = 0;             // position in accesses()
};

struct Handoff : ApiName {
  EntityId context = 0;         // the caller's context
  trace::EntityKind target_kind = trace::ENTITY_UNKNOWN;
  StackId stack = 0;
  TimeNs time = 0;
  ThreadId thread = 0;
};

// What the accesses of one var in one context add up to (for questions
// about a whole context's use of a var in O(1)).
struct VarUseSummary {
  bool any = false;
  TimeNs last = std::numeric_limits<TimeNs>::min();       // latest access
  TimeNs last_get = std::numeric_limits<TimeNs>::min();   // latest get
  TimeNs first_get = std::numeric_limits<TimeNs>::max();  // earliest get
};

// One piece of executor work run on a worker thread.
struct WorkSpan {
  EntityId future = 0;
  ThreadId thread = 0;
  TimeNs begin = 0;
  TimeNs end = 0;  // 0 while running
};

class ContextModel : public EventSink {
 public:
  void OnEvent(const Model& model, const trace::Event& event, TimeNs time) override;
  // Only the kinds OnEvent handles (a third of a server's events are loop
  // bindings it would look at for nothing).
  bool Wants(int kind) const override;
  void CountKept(KeptCounts& out) const override;

  const std::vector<VarAccess>& accesses() const { return accesses_; }
  const ContextCopy* CopyOf(EntityId context) const;
  const std::string& VarName(EntityId var) const;
  // "ContextVar 'request_id'" or "asgiref Local attribute 'connection'".
  std::string VarLabel(EntityId var) const;
  // True if `var` is an asgiref Local attribute (its storage is not
  // inherited by new tasks).
  bool IsLocalVar(EntityId var) const;
  // True if `var` is per task/thread by contract (asgiref's
  // Local(thread_critical=True), Django's database connections): a write
  // in one task is never meant for another.
  bool IsPerTaskByContract(EntityId var) const { return per_task_vars_.contains(var); }

  // The set of `var` whose value `context` holds just before `time` (resets
  // undo sets, copies inherit their parent's binding at the copy); nullptr
  // if the var has no binding there (reads give the default).
  const VarAccess* VisibleBinding(EntityId context, EntityId var, TimeNs time) const;
  // Indices into accesses() of the accesses of `var`, in trace order.
  const std::vector<size_t>& AccessesOfVar(EntityId var) const;
  // The accesses of `var` in `context`, in trace order.
  std::vector<const VarAccess*> AccessesIn(EntityId context, EntityId var) const;
  // The latest and earliest times `context` used `var` (O(1)).
  VarUseSummary UseIn(EntityId context, EntityId var) const;
  // The set of `var` last made in `context` among its accesses before the
  // first one later than `time` (the set a token made then came from), or
  // nullptr.
  const VarAccess* LatestSetUpTo(EntityId context, EntityId var, TimeNs time) const;
  // When the code that made `copy` can no longer run: the loop it ran on
  // was closed (a task does not outlive its loop). None while it may run.
  std::optional<TimeNs> CreatorGoneAt(const ContextCopy& copy) const;
  // The thread on which `context` was first seen in use (0 if never).
  ThreadId FirstThread(EntityId context) const;
  // True if `context` is `ancestor` or was copied from it, directly or not.
  bool DescendsFrom(EntityId context, EntityId ancestor) const;

  // Work handed to a thread without a copy that was running `access`
  // (executor work on that worker, else the thread's own start), or nullptr.
  const Handoff* HandoffFor(const VarAccess& access) const;

  // How many task copies of `parent` that set `var` were forgotten (at most
  // 2: lost-context-write asks only whether two or more did).
  size_t ForgottenSetters(EntityId parent, EntityId var) const;
  // What was forgotten so far (context_eviction.cc), for tests and benches.
  struct Forgotten {
    size_t contexts = 0;
    size_t accesses = 0;
    size_t work_spans = 0;
    size_t passes = 0;
    // Dead tasks whose write a reader missed, past the first
    // kKeptLostWritesPerSite of their site (see context_eviction.cc).
    size_t lost_write_repeats = 0;
  };
  const Forgotten& forgotten() const { return forgotten_; }
  // How long after a context's CONTEXT_GONE (in trace time) its history may
  // be forgotten: events of other threads reach the trace up to ~100 ms
  // late, so anything that could still name it has arrived by then.
  static constexpr TimeNs kForgetLagNs = 1'000'000'000;
  // Dead tasks kept because a reader missed their write (lost-context-write
  // findings, maybe), per var, write stack, copy stack and scope: the rule
  // reports the first of a site that passes its checks, so a bug hit on
  // every request keeps this many tasks, not one per request.
  static constexpr int kKeptLostWritesPerSite = 8;
  // After each chunk: dead contexts too few to start a pass by their count
  // (a service gone idle, or one making few contexts) are looked at once
  // the trace has moved on by the lag since the last pass.
  void ForgetWhenIdle(const Model& model);
  // Tests: a pass after every `min_gone` deaths, with `lag` (process-wide).
  static void SetForgetPolicyForTesting(size_t min_gone, TimeNs lag);

 private:
  // One entry per context, copy, hand-off or piece of work: flat tables, no
  // node each (nothing depends on their order).
  std::vector<VarAccess> accesses_;
  absl::flat_hash_map<EntityId, ContextCopy> copies_;
  std::map<EntityId, std::string> var_names_;
  std::set<EntityId> per_task_vars_;
  std::map<EntityId, TimeNs> loop_closed_at_;
  absl::flat_hash_map<EntityId, ThreadId> first_thread_;
  // The accesses of one var in one context, in trace order, each with the
  // set in force after it: "which set does a read at time t see" is then a
  // binary search, not a walk over the context's history per question.
  struct VarHistory {
    struct Entry {
      TimeNs max_time = 0;  // the latest time of this entry and every one before it
      uint32_t access = 0;  // index into accesses_
      int32_t top = -1;     // position of the set in force after this entry (-1: none)
      int32_t below = -1;   // a set: the set in force before it (what its reset restores)
      int32_t last_set = -1;  // position of the latest set up to this entry
    };
    std::vector<Entry> entries;
    VarUseSummary use;
    void Add(const VarAccess& a);
    // Entries before the first one at or after `time` (or after it: `inclusive`).
    size_t CountBefore(TimeNs time, bool inclusive) const;
  };
  const VarHistory* HistoryOf(EntityId context, EntityId var) const;
  // The executor work a thread ran, indexed for "which work was running at
  // t": spans in the order they began, with running maxima of begins and
  // ends. Built on the first question after the work changed.
  struct WorkIndex {
    std::vector<EntityId> futures;
    std::vector<TimeNs> begin_max;
    std::vector<TimeNs> end_max;  // an unfinished span ends at the clock's end
    bool begins_in_order = true;
  };
  const WorkIndex& WorkIndexOf(ThreadId thread, const std::vector<EntityId>& futures) const;

  std::map<EntityId, std::vector<size_t>> by_var_;  // indices into accesses_
  absl::flat_hash_map<std::pair<EntityId, EntityId>, VarHistory> by_context_var_;
  absl::flat_hash_map<std::pair<int, EntityId>, Handoff> handoffs_;  // (target kind, future id | native tid)
  absl::flat_hash_map<EntityId, WorkSpan> work_;  // by future id
  std::map<ThreadId, std::vector<EntityId>> work_on_thread_;
  mutable absl::flat_hash_map<ThreadId, WorkIndex> work_index_;  // cleared when work changes

  // Forgetting dead contexts (context_eviction.cc): once CONTEXT_GONE says a
  // context died, and no rule can still be answered differently without
  // it, its accesses, copy and history go (see Forget()).
  void NoteGone(const Model& model, EntityId context, TimeNs time);
  void Forget(const Model& model, TimeNs now);
  bool IsCopyBackStack(const Model& model, StackId stack);
  absl::flat_hash_map<EntityId, TimeNs> gone_;  // dead contexts still kept, when they died
  size_t gone_since_pass_ = 0;
  TimeNs last_pass_at_ = 0;  // trace time of the last pass
  bool gone_too_recent_at_pass_ = false;  // the last pass left deaths younger than the lag
  absl::flat_hash_map<std::pair<EntityId, EntityId>, int> forgotten_setters_;  // (parent, var)
  absl::flat_hash_map<StackId, bool> copy_back_stacks_;
  Forgotten forgotten_;
};

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_CONTEXT_MODEL_H_
