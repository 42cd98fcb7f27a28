// Forgetting dead contexts (issue 13 item 8): `waitgraph run` follows a
// program's trace to its end, and a server making a context per request
// would otherwise keep every request's accesses, copies, hand-offs and
// executor work until then.
//
// The rules run once, at the end, on what is kept; so a dead context may
// go only if no rule's answer can change without it. Per pass:
//  - executor work that ended, with no read of a var in an uncopied
//    context on its thread while it ran (the only question that names
//    work: context-not-propagated's HandoffFor), goes with its hand-off;
//  - a context that died (CONTEXT_GONE, over kForgetLagNs ago) goes with
//    its accesses if none of its reads is a context-not-propagated
//    candidate (it is a copy, or read no var as the default), no kept
//    copy, hand-off or mismatched reset names it, each of its writes
//    lost-context-write
//    would look at is settled as no finding (the first access of the
//    parent's side after it is a set, or a read that sees a newer value),
//    and none of its accesses is one that a kept write's search could
//    meet before its own answer.
// A write settled as no finding keeps that verdict (VarAccess::
// settled_not_lost; the rule takes it), so what its search met may go even
// when the write's own context stays for another reason. How many task
// copies of a parent that set a var were forgotten is kept
// (lost-context-write asks whether two or more did). Anything unsure stays:
// keeping is always exact, the rules see the same data as without a pass,
// with one bound: of the dead tasks whose write a reader missed, only the
// first kKeptLostWritesPerSite of each site are kept (a bug hit on every
// request would otherwise keep every request); the report says how many
// more went (a later one of a site is reported only if none of the kept
// ones passes the rule's remaining checks).
#include <algorithm>
#include <limits>
#include <string>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "analyzer/context_model.h"

namespace waitgraph::analyzer {
namespace {

// A pass looks at everything kept: run when as many contexts died since
// the last one as a quarter of what is kept (amortised O(1) per context).
constexpr size_t kMinGoneForPass = 1024;
size_t g_min_gone_for_pass = kMinGoneForPass;
TimeNs g_forget_lag = ContextModel::kForgetLagNs;
constexpr int kMaxDepth = 256;  // as the rules walk chains of copies

bool IsTaskCopy(const ContextCopy* copy) {
  return copy != nullptr &&
         (copy->kind == trace::CONTEXT_COPY_TASK || copy->kind == trace::CONTEXT_COPY_LOCAL);
}

}  // namespace

void ContextModel::SetForgetPolicyForTesting(size_t min_gone, TimeNs lag) {
  g_min_gone_for_pass = min_gone;
  g_forget_lag = lag;
}

size_t ContextModel::ForgottenSetters(EntityId parent, EntityId var) const {
  auto it = forgotten_setters_.find(std::make_pair(parent, var));
  return it == forgotten_setters_.end() ? 0 : size_t(it->second);
}

bool ContextModel::IsCopyBackStack(const Model& model, StackId stack) {
  auto [it, added] = copy_back_stacks_.try_emplace(stack, false);
  if (added) {
    // As rules/lost_write_search.cc: asgiref's _restore_context is plumbing.
    for (const Frame* f : model.StackFrames(stack)) {
      if (f->function == "_restore_context") it->second = true;
    }
  }
  return it->second;
}

void ContextModel::NoteGone(const Model& model, EntityId context, TimeNs time) {
  if (!copies_.count(context) && !first_thread_.count(context)) return;  // nothing of it kept
  gone_.emplace(context, time);
  const size_t every = g_min_gone_for_pass < kMinGoneForPass
                           ? g_min_gone_for_pass  // tests
                           : std::max(kMinGoneForPass, copies_.size() / 4);
  if (++gone_since_pass_ < every) return;
  // The trace's own time, not `run`'s clock: while `run` lags its program,
  // events of other threads that name the context may still be unread.
  Forget(model, std::max(time, model.last_trace_time()));
}

void ContextModel::ForgetWhenIdle(const Model& model) {
  // Only for deaths the last pass did not look at, or saw too recent: the
  // contexts that stay for a rule's sake are not looked at again and again
  // (a pass is O(what is kept), and a paused program writes heartbeats).
  if (gone_since_pass_ == 0 && !gone_too_recent_at_pass_) return;
  const TimeNs now = model.last_trace_time();
  if (now < last_pass_at_ || now - last_pass_at_ < std::max<TimeNs>(g_forget_lag, 1)) return;
  Forget(model, now);
}

namespace {

// Where an access sits relative to `parent`, as lost_write_search.cc files
// it: the parent itself, or a context whose chain of copies first reaches
// it through `via` (made at `copied_at`), with the same root.
struct Side {
  bool on = false;
  TimeNs copied_at = 0;
  EntityId via = 0;
};

}  // namespace

void ContextModel::Forget(const Model& model, TimeNs now) {
  gone_since_pass_ = 0;
  last_pass_at_ = now;
  ++forgotten_.passes;
  if (now < std::numeric_limits<TimeNs>::min() + g_forget_lag) return;
  const TimeNs cutoff = now - g_forget_lag;

  auto root_of = [&](EntityId context) {
    for (int depth = 0; depth < kMaxDepth; ++depth) {
      const ContextCopy* c = CopyOf(context);
      if (c == nullptr) break;
      context = c->parent;
    }
    return context;
  };
  auto side_of = [&](EntityId context, EntityId parent) {
    Side s;
    if (context == parent) return Side{true, std::numeric_limits<TimeNs>::max(), 0};
    EntityId c = context;
    for (int depth = 0; depth < kMaxDepth; ++depth) {
      const ContextCopy* copy = CopyOf(c);
      if (copy == nullptr) break;
      if (copy->parent == parent) {
        if (root_of(parent) == root_of(context)) s = Side{true, copy->time, c};
        return s;
      }
      c = copy->parent;
    }
    return s;
  };

  // 1. Executor work no kept read can ask about.
  absl::flat_hash_map<ThreadId, std::vector<TimeNs>> uncopied_reads;
  for (const VarAccess& a : accesses_) {
    if (a.kind == VarAccess::kGet && !a.found && !copies_.count(a.context)) {
      uncopied_reads[a.thread].push_back(a.time);
    }
  }
  for (auto& [thread, times] : uncopied_reads) std::sort(times.begin(), times.end());
  absl::flat_hash_set<EntityId> work_gone;
  for (auto it = work_.begin(); it != work_.end();) {
    const WorkSpan& w = it->second;
    bool asked = false;
    if (auto reads = uncopied_reads.find(w.thread); reads != uncopied_reads.end()) {
      auto r = std::lower_bound(reads->second.begin(), reads->second.end(), w.begin);
      asked = r != reads->second.end() && *r <= w.end;
    }
    if (w.end == 0 || w.end >= cutoff || asked) {
      ++it;
      continue;
    }
    handoffs_.erase({int(trace::ENTITY_FUTURE), it->first});
    work_gone.insert(it->first);
    work_.erase(it++);  // a flat table: erase returns nothing
  }
  if (!work_gone.empty()) {
    forgotten_.work_spans += work_gone.size();
    for (auto it = work_on_thread_.begin(); it != work_on_thread_.end();) {
      auto& futures = it->second;
      futures.erase(std::remove_if(futures.begin(), futures.end(),
                                   [&](EntityId f) { return work_gone.contains(f); }),
                    futures.end());
      it = futures.empty() ? work_on_thread_.erase(it) : std::next(it);
    }
    work_index_.clear();
  }

  // 2. Which dead contexts may go: candidates, then everything that must
  // stay takes its parent and what its kept writes' searches meet with it.
  absl::flat_hash_set<EntityId> going;
  gone_too_recent_at_pass_ = false;
  for (const auto& [context, died] : gone_) {
    if (died <= cutoff) {
      going.insert(context);
    } else {
      gone_too_recent_at_pass_ = true;
    }
  }
  if (going.empty()) return;

  // A write lost-context-write would look at, with the access that answers
  // its search (0 accesses scanned: none yet, the search stays open).
  struct Asked {
    size_t write = 0;
    size_t answer = std::numeric_limits<size_t>::max();  // index, or none
  };
  absl::flat_hash_map<EntityId, std::vector<Asked>> asked_by;  // context -> its writes
  // (parent, var) -> the first write whose search is still open: every
  // later access on that parent's side stays.
  absl::flat_hash_map<std::pair<EntityId, EntityId>, size_t> open_from;
  std::vector<EntityId> staying;
  // Dead tasks whose write a parent-side read missed (a finding, maybe).
  struct Missed {
    EntityId context;
    size_t write, answer;
    std::tuple<EntityId, StackId, StackId, std::string> site;  // as the rule dedupes, finer
  };
  std::vector<Missed> missed;
  auto open_search = [&](EntityId parent, EntityId var, size_t index) {
    auto [it, added] = open_from.try_emplace({parent, var}, index);
    if (!added) it->second = std::min(it->second, index);
  };

  for (const auto& [key, history] : by_context_var_) {
    const auto [context, var] = key;
    const ContextCopy* copy = CopyOf(context);
    if (!IsTaskCopy(copy) || IsPerTaskByContract(var)) continue;
    if (!going.contains(context)) {
      // Alive (or not long dead): any of its writes may still be asked
      // about; the first (entries are in trace order) opens the search.
      for (const auto& e : history.entries) {
        const VarAccess& a = accesses_[e.access];
        if (a.kind == VarAccess::kSet) {
          open_search(copy->parent, var, a.index);
          break;
        }
      }
      continue;
    }
    if (history.entries.empty() || history.entries.back().top < 0) continue;
    const VarAccess& w = accesses_[history.entries[history.entries.back().top].access];
    if (w.settled_not_lost || IsCopyBackStack(model, w.stack)) continue;
    // As lost-context-write: the child's last use, then the write must
    // still be what the child holds.
    const TimeNs child_last = std::max(w.time, history.use.last);
    const TimeNs after_child =
        child_last < std::numeric_limits<TimeNs>::max() ? child_last + 1 : child_last;
    if (VisibleBinding(context, var, after_child) != &w) continue;
    // Its search: the parent side's first access after the child was done.
    const std::optional<TimeNs> creator_gone = CreatorGoneAt(*copy);
    const std::vector<size_t>& of_var = AccessesOfVar(var);
    const VarAccess* answer = nullptr;
    // From where the last pass's search stopped: the accesses before it
    // are not the answer. What skips an access below stays true later (a
    // loop that closes only excludes more), except being off the parent's
    // side while a copy event of its chain is still to come (events of
    // other threads come late): such an access, if younger than the
    // cutoff, is where the next pass goes on from; else from the answer.
    auto p = w.searched_to > w.index
                 ? std::lower_bound(of_var.begin(), of_var.end(), size_t{w.searched_to})
                 : std::upper_bound(of_var.begin(), of_var.end(), w.index);
    const EntityId parent_root = root_of(copy->parent);
    // Whether a copy event still to come could put `q` (off the parent's
    // side now) under the parent: only one of the top of its chain (every
    // link below is known), and only if that top was first seen (copied
    // from) after the cutoff; a chain at the parent's own root, or topped
    // by a thread's synthetic context, gains nothing that matters.
    auto may_gain_copy = [&](const VarAccess& q) {
      EntityId top = q.context;
      TimeNs seen = q.time;  // when the top was known to exist
      for (int depth = 0; depth < kMaxDepth; ++depth) {
        const ContextCopy* c = CopyOf(top);
        if (c == nullptr) break;
        seen = c->time;
        top = c->parent;
      }
      return top != parent_root && (top & kThreadContextBit) == 0 && seen > cutoff;
    };
    std::optional<size_t> unsure;  // the first such access
    for (; p != of_var.end(); ++p) {
      const VarAccess& q = accesses_[*p];
      if (IsCopyBackStack(model, q.stack)) continue;
      const Side side = side_of(q.context, copy->parent);
      if (!side.on && !unsure && q.time > cutoff && may_gain_copy(q)) {
        unsure = q.index;
      }
      if (!side.on || q.time <= w.time || side.copied_at <= w.time || side.via == w.context ||
          (creator_gone && q.time > *creator_gone)) {
        continue;
      }
      if (q.time < child_last) continue;  // the parent side used it meanwhile
      answer = &q;
      break;
    }
    // An answer stands only where nothing later can close the creator's
    // loop before it (events of other threads come late): else the
    // search stays open, and so does every later access it may meet.
    accesses_[w.index].searched_to = static_cast<uint32_t>(
        unsure.value_or(answer != nullptr ? answer->index : accesses_.size()));
    if (answer == nullptr || answer->time > cutoff) {
      asked_by[context].push_back({w.index, std::numeric_limits<size_t>::max()});
      open_search(copy->parent, var, w.index);
      staying.push_back(context);
      continue;
    }
    bool no_finding = answer->kind != VarAccess::kGet;  // a set (or reset) of the parent side's own
    if (!no_finding) {
      const VarAccess* seen = VisibleBinding(answer->context, var, answer->time);
      no_finding = seen != nullptr && seen->time > w.time;  // it sees a newer value
    }
    if (no_finding) {
      // Final (the child is long dead, the answer older than the lag): the
      // write keeps its verdict, so a context kept for another reason (the
      // caller of a task whose write was lost) does not keep what its
      // search met, nor that what its own writes' searches met, and so on
      // along every later request of a connection.
      accesses_[w.index].settled_not_lost = true;
      continue;
    }
    missed.push_back({context, w.index, answer->index,
                      {var, w.stack, copy->stack, model.ScopeAt(w.time)}});
  }
  // A finding, maybe: kept, with what its search met; but only the first
  // few (in trace order, as the rule looks) of each site. The rest may go
  // (nothing else keeping them): counted for the report's note.
  std::sort(missed.begin(), missed.end(),
            [](const Missed& a, const Missed& b) { return a.write < b.write; });
  absl::flat_hash_map<std::tuple<EntityId, StackId, StackId, std::string>, int> per_site;
  absl::flat_hash_set<EntityId> repeats;
  for (const Missed& m : missed) {
    if (++per_site[m.site] > kKeptLostWritesPerSite) {
      repeats.insert(m.context);
      continue;
    }
    asked_by[m.context].push_back({m.write, m.answer});
    staying.push_back(m.context);
  }
  // Named by a kept hand-off, or by a reset in another context than its set;
  // or a context no copy made (a thread's, or one copied out of sight) that
  // read a var as the default: context-not-propagated asks about that read.
  for (const auto& [key, handoff] : handoffs_) staying.push_back(handoff.context);
  for (const VarAccess& a : accesses_) {
    if (a.kind == VarAccess::kReset && a.token_context != 0 && a.token_context != a.context) {
      staying.push_back(a.context);
      staying.push_back(a.token_context);
    }
    if (a.kind == VarAccess::kGet && !a.found && !copies_.count(a.context)) {
      staying.push_back(a.context);
    }
  }
  // Every kept copy keeps its parent.
  for (const auto& [context, copy] : copies_) {
    if (!going.contains(context)) staying.push_back(copy.parent);
  }
  // An access of a var on the side of a parent whose search is open stays.
  if (!open_from.empty()) {
    for (const VarAccess& a : accesses_) {
      if (!going.contains(a.context)) continue;
      EntityId c = a.context;
      for (int depth = 0; depth < kMaxDepth; ++depth) {
        const ContextCopy* copy = CopyOf(c);
        if (copy == nullptr) break;
        auto open = open_from.find(std::make_pair(copy->parent, a.var));
        if (open != open_from.end() && open->second < a.index) {
          staying.push_back(a.context);
          break;
        }
        c = copy->parent;
      }
    }
  }

  // What stays keeps its parent, and what its unsettled writes' searches
  // met up to their answers (such a write is asked about again at the end).
  while (!staying.empty()) {
    const EntityId context = staying.back();
    staying.pop_back();
    if (!going.erase(context)) continue;
    if (const ContextCopy* copy = CopyOf(context)) staying.push_back(copy->parent);
    auto asked = asked_by.find(context);
    if (asked == asked_by.end()) continue;
    for (const Asked& q : asked->second) {
      const VarAccess& w = accesses_[q.write];
      const EntityId parent = CopyOf(context)->parent;
      if (q.answer == std::numeric_limits<size_t>::max()) continue;  // open: kept above
      const std::vector<size_t>& of_var = AccessesOfVar(w.var);
      for (auto p = std::upper_bound(of_var.begin(), of_var.end(), w.index);
           p != of_var.end() && *p <= q.answer; ++p) {
        const VarAccess& met = accesses_[*p];
        if (going.contains(met.context) && side_of(met.context, parent).on) {
          staying.push_back(met.context);
        }
      }
    }
  }
  if (going.empty()) return;
  for (EntityId context : repeats) forgotten_.lost_write_repeats += going.contains(context);

  // 3. Forget them: what lost-context-write counts, then the data.
  for (auto it = by_context_var_.begin(); it != by_context_var_.end();) {
    const auto [context, var] = it->first;
    if (!going.contains(context)) {
      ++it;
      continue;
    }
    const ContextCopy* copy = CopyOf(context);
    if (IsTaskCopy(copy)) {
      for (const auto& e : it->second.entries) {
        const VarAccess& a = accesses_[e.access];
        if (a.kind == VarAccess::kSet && !IsCopyBackStack(model, a.stack)) {
          int& n = forgotten_setters_[{copy->parent, var}];
          n = std::min(n + 1, 2);
          break;
        }
      }
    }
    by_context_var_.erase(it++);
  }
  // A forgotten parent had no kept copy (a kept copy keeps its parent) and,
  // long dead, gets no new one: nothing asks how many of its copies set a
  // var any more.
  absl::erase_if(forgotten_setters_,
                 [&](const auto& entry) { return going.contains(entry.first.first); });
  for (EntityId context : going) {
    copies_.erase(context);
    first_thread_.erase(context);
    gone_.erase(context);
  }
  forgotten_.contexts += going.size();
  // Accesses keep their trace order; indices are renumbered everywhere.
  std::vector<uint32_t> renumbered(accesses_.size(), 0);
  std::vector<uint32_t> kept_before(accesses_.size() + 1, 0);  // for searched_to
  size_t kept = 0;
  for (size_t i = 0; i < accesses_.size(); ++i) {
    kept_before[i] = static_cast<uint32_t>(kept);
    if (going.contains(accesses_[i].context)) continue;
    renumbered[i] = static_cast<uint32_t>(kept);
    accesses_[kept] = accesses_[i];
    accesses_[kept].index = kept;
    ++kept;
  }
  kept_before[accesses_.size()] = static_cast<uint32_t>(kept);
  forgotten_.accesses += accesses_.size() - kept;
  accesses_.resize(kept);
  for (VarAccess& a : accesses_) a.searched_to = kept_before[a.searched_to];
  accesses_.shrink_to_fit();
  for (auto& [key, history] : by_context_var_) {
    for (auto& e : history.entries) e.access = renumbered[e.access];
  }
  // Refilled in place: each var's list keeps its memory (no reallocations
  // per pass).
  for (auto& [var, indices] : by_var_) indices.clear();
  for (const VarAccess& a : accesses_) by_var_[a.var].push_back(a.index);
}

void ContextModel::CountKept(KeptCounts& out) const {
  out.insert(out.end(), {
      {"contexts.accesses", accesses_.size()},
      {"contexts.accesses_by_var", EntriesIn(by_var_)},
      {"contexts.copies", copies_.size()},
      {"contexts.context_vars", by_context_var_.size()},
      {"contexts.first_threads", first_thread_.size()},
      {"contexts.handoffs", handoffs_.size()},
      {"contexts.work_spans", work_.size()},
      {"contexts.work_on_threads", EntriesIn(work_on_thread_)},
      {"contexts.gone_kept", gone_.size()},
      {"contexts.forgotten_setters", forgotten_setters_.size()},
      {"contexts.copy_back_stacks", copy_back_stacks_.size()},
      {"contexts.var_names", var_names_.size()},
      {"contexts.loops_closed", loop_closed_at_.size()},
      {"contexts.forgotten_contexts", forgotten_.contexts},
      {"contexts.forget_passes", forgotten_.passes},
  });
}

}  // namespace waitgraph::analyzer
