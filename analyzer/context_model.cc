#include "analyzer/context_model.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "analyzer/work_counters.h"

namespace waitgraph::analyzer {
namespace {

EntityId ContextKey(EntityId context, ThreadId thread) {
  return context != 0 ? context : (kThreadContextBit | thread);
}

}  // namespace

const std::string& ApiName::Empty() {
  static const std::string* const kEmpty = new std::string();
  return *kEmpty;
}

bool ContextModel::Wants(int kind) const {
  switch (kind) {
    case trace::CONTEXT_COPIED:
    case trace::CONTEXT_VAR_SET:
    case trace::CONTEXT_VAR_GET:
    case trace::CONTEXT_VAR_RESET:
    case trace::CONTEXT_HANDOFF:
    case trace::CONTEXT_GONE:
    case trace::LOOP_CLOSED:
    case trace::WORK_BEGIN:
    case trace::WORK_END:
      return true;
    default:
      return false;
  }
}

void ContextModel::OnEvent(const Model& model, const trace::Event& event, TimeNs time) {
  switch (event.kind()) {
    case trace::CONTEXT_COPIED: {
      ContextCopy copy;
      copy.parent = ContextKey(event.object(), event.thread());
      copy.kind = static_cast<trace::ContextCopyKind>(event.arg());
      copy.set_api(model.String(event.name()));
      copy.stack = event.stack();
      copy.time = time;
      copy.thread = event.thread();
      if (const Thread* t = model.FindThread(event.thread()); t && !t->loops_running.empty()) {
        copy.loop = t->loops_running.back();
      }
      EntityId child = event.subject();
      if (child == 0 || child == copy.parent) break;
      // A context passed to create_task(context=) keeps the parent it was
      // copied from; only an otherwise unknown one hangs under the caller.
      if (copy.kind == trace::CONTEXT_COPY_SHARED && copies_.count(child)) break;
      copies_[child] = std::move(copy);
      break;
    }
    case trace::CONTEXT_VAR_SET:
    case trace::CONTEXT_VAR_GET:
    case trace::CONTEXT_VAR_RESET: {
      VarAccess a;
      a.kind = event.kind() == trace::CONTEXT_VAR_SET   ? VarAccess::kSet
               : event.kind() == trace::CONTEXT_VAR_GET ? VarAccess::kGet
                                                        : VarAccess::kReset;
      a.var = event.subject();
      a.context = ContextKey(event.object(), event.thread());
      a.found = a.kind == VarAccess::kGet && event.arg() != 0;
      if (a.kind == VarAccess::kReset) a.token_context = EntityId(event.arg());
      if (a.kind == VarAccess::kSet && event.arg() == 1) per_task_vars_.insert(a.var);
      a.stack = event.stack();
      a.time = time;
      a.thread = event.thread();
      a.index = accesses_.size();
      if (event.name() != 0 && !var_names_.count(a.var)) {
        var_names_[a.var] = model.String(event.name());
      }
      by_context_var_[{a.context, a.var}].Add(a);
      first_thread_.emplace(a.context, a.thread);
      by_var_[a.var].push_back(a.index);
      accesses_.push_back(a);
      break;
    }
    case trace::CONTEXT_HANDOFF: {
      Handoff h;
      h.context = ContextKey(event.object(), event.thread());
      h.target_kind = static_cast<trace::EntityKind>(event.arg());
      h.set_api(model.String(event.name()));
      h.stack = event.stack();
      h.time = time;
      h.thread = event.thread();
      handoffs_[{int(h.target_kind), event.subject()}] = std::move(h);
      break;
    }
    case trace::CONTEXT_GONE:
      NoteGone(model, event.subject(), time);
      break;
    case trace::LOOP_CLOSED:
      loop_closed_at_.emplace(event.subject(), time);
      break;
    case trace::WORK_BEGIN: {
      work_index_.clear();
      WorkSpan& w = work_[event.object()];
      w.future = event.object();
      w.thread = event.thread();
      w.begin = time;
      work_on_thread_[event.thread()].push_back(event.object());
      break;
    }
    case trace::WORK_END: {
      work_index_.clear();
      auto it = work_.find(event.object());
      if (it != work_.end()) it->second.end = time;
      break;
    }
    default:
      break;
  }
}

const ContextCopy* ContextModel::CopyOf(EntityId context) const {
  auto it = copies_.find(context);
  return it == copies_.end() ? nullptr : &it->second;
}

const std::string& ContextModel::VarName(EntityId var) const {
  static const std::string* empty = new std::string("?");
  auto it = var_names_.find(var);
  return it == var_names_.end() ? *empty : it->second;
}

bool ContextModel::IsLocalVar(EntityId var) const {
  return absl::StartsWith(VarName(var), "Local.");
}

std::string ContextModel::VarLabel(EntityId var) const {
  const std::string& name = VarName(var);
  if (IsLocalVar(var)) return absl::StrCat("asgiref Local attribute '", name.substr(6), "'");
  return absl::StrCat("ContextVar '", name, "'");
}

void ContextModel::VarHistory::Add(const VarAccess& a) {
  Entry e;
  const Entry* prev = entries.empty() ? nullptr : &entries.back();
  const int32_t here = static_cast<int32_t>(entries.size());
  e.max_time = prev != nullptr ? std::max(prev->max_time, a.time) : a.time;
  e.access = static_cast<uint32_t>(a.index);
  e.top = prev != nullptr ? prev->top : -1;
  e.last_set = prev != nullptr ? prev->last_set : -1;
  if (a.kind == VarAccess::kSet) {
    e.below = e.top;
    e.top = e.last_set = here;
  } else if (a.kind == VarAccess::kReset && e.top >= 0) {
    // Tokens nest: reset() undoes the latest set() still in force, and
    // undoing the first one gives back what the context inherited.
    e.top = entries[e.top].below;
  }
  entries.push_back(e);
  use.any = true;
  use.last = std::max(use.last, a.time);
  if (a.kind == VarAccess::kGet) {
    use.last_get = std::max(use.last_get, a.time);
    use.first_get = std::min(use.first_get, a.time);
  }
}

size_t ContextModel::VarHistory::CountBefore(TimeNs time, bool inclusive) const {
  // The running maximum makes "before the first entry at or after `time`"
  // a binary search even where the trace's clock steps back.
  auto it = std::partition_point(entries.begin(), entries.end(), [&](const Entry& e) {
    return inclusive ? e.max_time <= time : e.max_time < time;
  });
  Work().binding_steps += 1;
  return static_cast<size_t>(it - entries.begin());
}

const ContextModel::VarHistory* ContextModel::HistoryOf(EntityId context, EntityId var) const {
  auto it = by_context_var_.find(std::make_pair(context, var));
  return it == by_context_var_.end() ? nullptr : &it->second;
}

const VarAccess* ContextModel::VisibleBinding(EntityId context, EntityId var, TimeNs time) const {
  for (int depth = 0; depth < 256 && context != 0; ++depth) {
    ++Work().binding_steps;
    if (const VarHistory* h = HistoryOf(context, var)) {
      // The set in force just before the first access at or after `time`.
      const size_t n = h->CountBefore(time, /*inclusive=*/false);
      if (n > 0 && h->entries[n - 1].top >= 0) {
        return &accesses_[h->entries[h->entries[n - 1].top].access];
      }
    }
    const ContextCopy* copy = CopyOf(context);
    // Local storage of a new task starts empty: nothing is inherited.
    if (copy == nullptr || copy->kind == trace::CONTEXT_COPY_LOCAL) return nullptr;
    time = std::min(time, copy->time);
    context = copy->parent;
  }
  return nullptr;
}

VarUseSummary ContextModel::UseIn(EntityId context, EntityId var) const {
  const VarHistory* h = HistoryOf(context, var);
  return h == nullptr ? VarUseSummary{} : h->use;
}

const VarAccess* ContextModel::LatestSetUpTo(EntityId context, EntityId var, TimeNs time) const {
  const VarHistory* h = HistoryOf(context, var);
  if (h == nullptr) return nullptr;
  const size_t n = h->CountBefore(time, /*inclusive=*/true);
  if (n == 0 || h->entries[n - 1].last_set < 0) return nullptr;
  return &accesses_[h->entries[h->entries[n - 1].last_set].access];
}

std::vector<const VarAccess*> ContextModel::AccessesIn(EntityId context, EntityId var) const {
  std::vector<const VarAccess*> out;
  if (const VarHistory* h = HistoryOf(context, var)) {
    for (const VarHistory::Entry& e : h->entries) out.push_back(&accesses_[e.access]);
  }
  return out;
}

const std::vector<size_t>& ContextModel::AccessesOfVar(EntityId var) const {
  static const std::vector<size_t>* empty = new std::vector<size_t>();
  auto it = by_var_.find(var);
  return it == by_var_.end() ? *empty : it->second;
}

std::optional<TimeNs> ContextModel::CreatorGoneAt(const ContextCopy& copy) const {
  auto it = loop_closed_at_.find(copy.loop);
  if (copy.loop == 0 || it == loop_closed_at_.end()) return std::nullopt;
  return it->second;
}

ThreadId ContextModel::FirstThread(EntityId context) const {
  auto it = first_thread_.find(context);
  return it == first_thread_.end() ? 0 : it->second;
}

bool ContextModel::DescendsFrom(EntityId context, EntityId ancestor) const {
  for (int depth = 0; depth < 256; ++depth) {
    if (context == ancestor) return true;
    const ContextCopy* copy = CopyOf(context);
    if (copy == nullptr) return false;
    context = copy->parent;
  }
  return false;
}

const ContextModel::WorkIndex& ContextModel::WorkIndexOf(
    ThreadId thread, const std::vector<EntityId>& futures) const {
  auto [it, added] = work_index_.try_emplace(thread);
  WorkIndex& index = it->second;
  if (!added) return index;
  index.futures = futures;
  TimeNs begin_max = std::numeric_limits<TimeNs>::min();
  TimeNs end_max = std::numeric_limits<TimeNs>::min();
  for (EntityId future : futures) {
    auto span = work_.find(future);  // always there: made with the list entry
    const TimeNs begin = span->second.begin;
    const TimeNs end = span->second.end == 0 ? std::numeric_limits<TimeNs>::max() : span->second.end;
    if (begin < begin_max) index.begins_in_order = false;
    begin_max = std::max(begin_max, begin);
    end_max = std::max(end_max, end);
    index.begin_max.push_back(begin_max);
    index.end_max.push_back(end_max);
  }
  return index;
}

const Handoff* ContextModel::HandoffFor(const VarAccess& access) const {
  auto threads = work_on_thread_.find(access.thread);
  if (threads != work_on_thread_.end()) {
    // The first work on the thread (in the order begun) running at the
    // access: with begins in order, the first span whose end (running
    // maximum) reaches the access, if it began by then.
    const WorkIndex& index = WorkIndexOf(access.thread, threads->second);
    const std::vector<EntityId>& futures = index.futures;
    std::optional<EntityId> running;
    if (index.begins_in_order) {
      ++Work().handoff_steps;
      const size_t began = std::partition_point(index.begin_max.begin(), index.begin_max.end(),
                                                [&](TimeNs b) { return b <= access.time; }) -
                           index.begin_max.begin();
      const size_t first = std::partition_point(index.end_max.begin(), index.end_max.end(),
                                                [&](TimeNs e) { return e < access.time; }) -
                           index.end_max.begin();
      if (first < began) running = futures[first];
    } else {
      for (EntityId future : futures) {  // a clock that stepped back: look at each
        ++Work().handoff_steps;
        const WorkSpan& w = work_.find(future)->second;
        if (w.begin <= access.time && (w.end == 0 || access.time <= w.end)) {
          running = future;
          break;
        }
      }
    }
    if (running) {
      auto h = handoffs_.find({int(trace::ENTITY_FUTURE), *running});
      return h == handoffs_.end() ? nullptr : &h->second;
    }
  }
  auto h = handoffs_.find({int(trace::ENTITY_THREAD), access.thread});
  if (h != handoffs_.end()) return &h->second;
  return nullptr;
}

}  // namespace waitgraph::analyzer
