// lost-context-write's one expensive question, answered in O(log n) per
// write: after a write made in a task's copy of a context, which is the
// first access of that var on the side of the context the task was copied
// from (that context itself, or a copy of it made after the write)? Walking
// every later access of the var per write made the rule quadratic on a
// server whose request tasks all set the same var.
//
// Per (parent context, var) that some write asks about, the parent side's
// candidates are listed once, in trace order; a candidate in a copy of the
// parent carries the time of that copy, so "made after the write" is a
// range-maximum search (a segment tree) instead of a walk.
#ifndef WAITGRAPH_RULES_LOST_WRITE_SEARCH_H_
#define WAITGRAPH_RULES_LOST_WRITE_SEARCH_H_

#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "analyzer/context_model.h"
#include "analyzer/model.h"

namespace waitgraph::rules {

class ParentSideAccesses {
 public:
  ParentSideAccesses(const analyzer::Model& model, const analyzer::ContextModel& contexts)
      : model_(model), contexts_(contexts) {}

  // Before Build(): writes of `var` in copies of `parent` will be asked about.
  void Want(analyzer::EntityId parent, analyzer::EntityId var);
  void Build();

  struct Found {
    // The first parent-side access at or after `child_last` (nullptr: none).
    const analyzer::VarAccess* access = nullptr;
    // A parent-side access came before it (while the child still used the var).
    bool used_meanwhile = false;
  };
  // The parent side's accesses of `write.var` later than `write` (in the
  // trace and in time), not in a copy-back, and not after `gone` (when the
  // code that made the copy could no longer run), the first of them at or
  // after `child_last`; exactly what walking every later access of the var
  // in trace order finds.
  Found After(const analyzer::VarAccess& write, analyzer::EntityId parent,
              std::optional<analyzer::TimeNs> gone, analyzer::TimeNs child_last) const;

  // asgiref's _restore_context copying a child's changes back: plumbing.
  bool IsCopyBack(const analyzer::VarAccess& access) const;
  // The context `context` was ultimately copied from (at most 256 copies up).
  analyzer::EntityId RootOf(analyzer::EntityId context) const;

 private:
  struct Candidate {
    analyzer::TimeNs time = 0;
    // When the parent's copy it sits in was made; the parent itself: never
    // too early (the largest time).
    analyzer::TimeNs copied_at = 0;
    analyzer::EntityId via = 0;  // that copy (0: the parent itself)
    uint32_t access = 0;         // index into accesses()
  };
  struct CandidateList {
    std::vector<Candidate> entries;  // in trace order
    std::vector<analyzer::TimeNs> tree;  // maxima of copied_at, a segment tree
    size_t leaves = 0;
    bool times_in_order = true;
  };
  void AddCandidates(analyzer::EntityId var, const absl::flat_hash_set<analyzer::EntityId>& parents,
                     size_t index);
  static void BuildTree(CandidateList& list);
  // The first entry in [from, to) whose copy was made after `time`.
  static size_t FirstCopiedAfter(const CandidateList& list, size_t from, size_t to,
                                 analyzer::TimeNs time);

  const analyzer::Model& model_;
  const analyzer::ContextModel& contexts_;
  absl::flat_hash_map<analyzer::EntityId, absl::flat_hash_set<analyzer::EntityId>> wanted_;  // var -> parents
  absl::flat_hash_map<std::pair<analyzer::EntityId, analyzer::EntityId>, CandidateList> lists_;
  mutable absl::flat_hash_map<analyzer::StackId, bool> copy_back_stacks_;
  mutable absl::flat_hash_map<analyzer::EntityId, analyzer::EntityId> roots_;
};

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_LOST_WRITE_SEARCH_H_
