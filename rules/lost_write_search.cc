#include "rules/lost_write_search.h"

#include <algorithm>
#include <limits>

#include "analyzer/work_counters.h"

namespace waitgraph::rules {

using analyzer::EntityId;
using analyzer::TimeNs;
using analyzer::VarAccess;

bool ParentSideAccesses::IsCopyBack(const VarAccess& access) const {
  auto [it, added] = copy_back_stacks_.try_emplace(access.stack, false);
  if (added) {
    for (const analyzer::Frame* f : model_.StackFrames(access.stack)) {
      if (f->function == "_restore_context") it->second = true;
    }
  }
  return it->second;
}

EntityId ParentSideAccesses::RootOf(EntityId context) const {
  auto it = roots_.find(context);
  if (it != roots_.end()) return it->second;
  EntityId root = context;
  for (int depth = 0; depth < 256; ++depth) {
    const analyzer::ContextCopy* c = contexts_.CopyOf(root);
    if (c == nullptr) break;
    root = c->parent;
  }
  roots_.emplace(context, root);
  return root;
}

void ParentSideAccesses::Want(EntityId parent, EntityId var) { wanted_[var].insert(parent); }

void ParentSideAccesses::Build() {
  for (const auto& [var, parents] : wanted_) {
    for (size_t i : contexts_.AccessesOfVar(var)) AddCandidates(var, parents, i);
  }
  for (auto& [key, list] : lists_) BuildTree(list);
}

// Files access `index` under each wanted parent whose side it is on: the
// parent itself, or a context whose chain of copies (up to 256, as the rule
// walks it) first reaches the parent through `via`.
void ParentSideAccesses::AddCandidates(EntityId var, const absl::flat_hash_set<EntityId>& parents,
                                       size_t index) {
  const VarAccess& r = contexts_.accesses()[index];
  if (IsCopyBack(r)) return;
  const EntityId root = RootOf(r.context);
  auto add = [&](EntityId parent, TimeNs copied_at, EntityId via) {
    CandidateList& list = lists_[{parent, var}];
    if (!list.entries.empty() && r.time < list.entries.back().time) list.times_in_order = false;
    list.entries.push_back({r.time, copied_at, via, static_cast<uint32_t>(index)});
  };
  absl::flat_hash_set<EntityId> reached;  // parents this access was filed under
  if (parents.contains(r.context)) {
    add(r.context, std::numeric_limits<TimeNs>::max(), 0);
    reached.insert(r.context);
  }
  EntityId context = r.context;
  for (int depth = 0; depth < 256; ++depth) {
    const analyzer::ContextCopy* copy = contexts_.CopyOf(context);
    if (copy == nullptr) break;
    const EntityId parent = copy->parent;
    if (parents.contains(parent) && reached.insert(parent).second && RootOf(parent) == root) {
      add(parent, copy->time, context);
    }
    context = parent;
  }
}

void ParentSideAccesses::BuildTree(CandidateList& list) {
  list.leaves = 1;
  while (list.leaves < list.entries.size()) list.leaves *= 2;
  list.tree.assign(2 * list.leaves, std::numeric_limits<TimeNs>::min());
  for (size_t i = 0; i < list.entries.size(); ++i) list.tree[list.leaves + i] = list.entries[i].copied_at;
  for (size_t n = list.leaves; n-- > 1;) list.tree[n] = std::max(list.tree[2 * n], list.tree[2 * n + 1]);
}

size_t ParentSideAccesses::FirstCopiedAfter(const CandidateList& list, size_t from, size_t to,
                                            TimeNs time) {
  // Depth-first from the root, left to right, into subtrees that overlap
  // [from, to) and hold a copy made after `time`: O(log n) nodes.
  struct Node {
    size_t n, lo, hi;
  };
  Node stack[2 * 64];
  size_t top = 0;
  stack[top++] = {1, 0, list.leaves};
  while (top > 0) {
    const Node node = stack[--top];
    ++analyzer::Work().lost_write_steps;
    if (node.hi <= from || node.lo >= to || list.tree[node.n] <= time) continue;
    if (node.hi - node.lo == 1) return node.lo;
    const size_t mid = (node.lo + node.hi) / 2;
    stack[top++] = {2 * node.n + 1, mid, node.hi};  // right after left
    stack[top++] = {2 * node.n, node.lo, mid};
  }
  return to;
}

ParentSideAccesses::Found ParentSideAccesses::After(const VarAccess& write, EntityId parent,
                                                    std::optional<TimeNs> gone,
                                                    TimeNs child_last) const {
  Found out;
  auto it = lists_.find(std::make_pair(parent, write.var));
  if (it == lists_.end()) return out;
  const CandidateList& list = it->second;
  const std::vector<Candidate>& es = list.entries;
  const std::vector<VarAccess>& accesses = contexts_.accesses();
  const size_t later = std::partition_point(es.begin(), es.end(), [&](const Candidate& c) {
                         return c.access <= write.index;
                       }) - es.begin();
  auto qualifies = [&](const Candidate& c) {
    return c.time > write.time && c.copied_at > write.time && c.via != write.context &&
           !(gone && c.time > *gone);
  };

  if (!list.times_in_order) {  // a clock that stepped back: look at each
    for (size_t p = later; p < es.size(); ++p) {
      ++analyzer::Work().lost_write_steps;
      if (!qualifies(es[p])) continue;
      if (es[p].time < child_last) {
        out.used_meanwhile = true;
        continue;
      }
      out.access = &accesses[es[p].access];
      break;
    }
    return out;
  }

  // Times in order: the time bounds are a range of entries.
  auto first_at = [&](auto before) {
    return static_cast<size_t>(std::partition_point(es.begin(), es.end(), before) - es.begin());
  };
  const size_t from =
      std::max(later, first_at([&](const Candidate& c) { return c.time <= write.time; }));
  const size_t to = gone ? first_at([&](const Candidate& c) { return c.time <= *gone; }) : es.size();
  auto first_qualifying = [&](size_t start) {
    for (size_t p = FirstCopiedAfter(list, start, to, write.time); p < to;
         p = FirstCopiedAfter(list, p + 1, to, write.time)) {
      if (es[p].via != write.context) return p;  // never the writing task's own copies
    }
    return to;
  };
  size_t first = first_qualifying(from);
  if (first >= to) return out;
  if (es[first].time < child_last) {
    out.used_meanwhile = true;
    first = first_qualifying(
        std::max(from, first_at([&](const Candidate& c) { return c.time < child_last; })));
    if (first >= to) return out;
  }
  out.access = &accesses[es[first].access];
  return out;
}

}  // namespace waitgraph::rules
