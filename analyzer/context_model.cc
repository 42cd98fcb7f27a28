#include "analyzer/context_model.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace waitgraph::analyzer {
namespace {

EntityId ContextKey(EntityId context, ThreadId thread) {
  return context != 0 ? context : (kThreadContextBit | thread);
}

}  // namespace

void ContextModel::OnEvent(const Model& model, const trace::Event& event, TimeNs time) {
  switch (event.kind()) {
    case trace::CONTEXT_COPIED: {
      ContextCopy copy;
      copy.parent = ContextKey(event.object(), event.thread());
      copy.kind = static_cast<trace::ContextCopyKind>(event.arg());
      copy.api = model.String(event.name());
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
      by_context_var_[{a.context, a.var}].push_back(a.index);
      first_thread_.emplace(a.context, a.thread);
      by_var_[a.var].push_back(a.index);
      accesses_.push_back(a);
      break;
    }
    case trace::CONTEXT_HANDOFF: {
      Handoff h;
      h.context = ContextKey(event.object(), event.thread());
      h.target_kind = static_cast<trace::EntityKind>(event.arg());
      h.api = model.String(event.name());
      h.stack = event.stack();
      h.time = time;
      h.thread = event.thread();
      handoffs_[{int(h.target_kind), event.subject()}] = std::move(h);
      break;
    }
    case trace::LOOP_CLOSED:
      loop_closed_at_.emplace(event.subject(), time);
      break;
    case trace::WORK_BEGIN: {
      WorkSpan& w = work_[event.object()];
      w.future = event.object();
      w.thread = event.thread();
      w.begin = time;
      work_on_thread_[event.thread()].push_back(event.object());
      break;
    }
    case trace::WORK_END: {
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

const VarAccess* ContextModel::VisibleBinding(EntityId context, EntityId var, TimeNs time) const {
  for (int depth = 0; depth < 256 && context != 0; ++depth) {
    auto it = by_context_var_.find({context, var});
    if (it != by_context_var_.end()) {
      // Tokens nest: reset() undoes the latest set() still in force, and
      // undoing the first one gives back what the context inherited.
      std::vector<const VarAccess*> sets;
      for (size_t i : it->second) {
        const VarAccess& a = accesses_[i];
        if (a.time >= time) break;
        if (a.kind == VarAccess::kSet) sets.push_back(&a);
        if (a.kind == VarAccess::kReset && !sets.empty()) sets.pop_back();
      }
      if (!sets.empty()) return sets.back();
    }
    const ContextCopy* copy = CopyOf(context);
    // Local storage of a new task starts empty: nothing is inherited.
    if (copy == nullptr || copy->kind == trace::CONTEXT_COPY_LOCAL) return nullptr;
    time = std::min(time, copy->time);
    context = copy->parent;
  }
  return nullptr;
}

std::vector<const VarAccess*> ContextModel::AccessesIn(EntityId context, EntityId var) const {
  std::vector<const VarAccess*> out;
  auto it = by_context_var_.find({context, var});
  if (it == by_context_var_.end()) return out;
  for (size_t i : it->second) out.push_back(&accesses_[i]);
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

const Handoff* ContextModel::HandoffFor(const VarAccess& access) const {
  auto threads = work_on_thread_.find(access.thread);
  if (threads != work_on_thread_.end()) {
    for (EntityId future : threads->second) {
      auto span = work_.find(future);
      if (span == work_.end()) continue;
      const WorkSpan& w = span->second;
      if (w.begin <= access.time && (w.end == 0 || access.time <= w.end)) {
        auto h = handoffs_.find({int(trace::ENTITY_FUTURE), future});
        return h == handoffs_.end() ? nullptr : &h->second;
      }
    }
  }
  auto h = handoffs_.find({int(trace::ENTITY_THREAD), access.thread});
  if (h != handoffs_.end()) return &h->second;
  return nullptr;
}

}  // namespace waitgraph::analyzer
