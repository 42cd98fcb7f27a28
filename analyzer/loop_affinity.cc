#include "analyzer/loop_affinity.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "analyzer/work_counters.h"

namespace waitgraph::analyzer {
namespace {

std::string At(const Frame& f) { return absl::StrCat(f.shown_path(), ":", f.line); }

// "asyncio.run", "anyio.run", "AsyncToSync.__call__": a library function as
// a user would name it (a plain function with its package's name).
std::string ApiName(const Frame& f) {
  if (absl::StrContains(f.function, ".")) return f.function;
  if (absl::StrContains(f.file, "/asyncio/")) return absl::StrCat("asyncio.", f.function);
  for (const char* marker : {"/dist-packages/", "/site-packages/"}) {
    size_t at = f.file.find(marker);
    if (at == std::string::npos) continue;
    std::string rest = f.file.substr(at + std::string(marker).size());
    size_t slash = rest.find('/');
    std::string package = rest.substr(0, slash == std::string::npos ? rest.find('.') : slash);
    return absl::StrCat(package, ".", f.function);
  }
  return f.function;
}

bool ThirdParty(const Frame& f) { return f.origin == FrameOrigin::kSitePackages; }

const Frame* InnermostThirdParty(const std::vector<const Frame*>& frames) {
  for (const Frame* f : frames) {
    if (ThirdParty(*f)) return f;
  }
  return nullptr;
}

}  // namespace

const BoundObject* LoopAffinity::FindObject(EntityId id) const { return objects_.Find(id); }

const LoopLife* LoopAffinity::FindLoop(EntityId id) const {
  auto it = loops_.find(id);
  return it == loops_.end() ? nullptr : &it->second;
}

EntityId LoopAffinity::RunningLoopOf(const Model& model, ThreadId thread) const {
  const Thread* t = model.FindThread(thread);
  return t != nullptr && !t->loops_running.empty() ? t->loops_running.back() : 0;
}

void LoopAffinity::AddIncident(Incident incident) {
  if (incident.object != 0 && FindObject(incident.object) != nullptr) {
    object_incidents_.insert(std::make_tuple(incident.loop, incident.thread, incident.user_loop));
  }
  // Bounded: a service that crosses on every request repeats itself.
  if (incidents_.size() >= kMaxIncidents) return;
  incidents_.push_back(std::move(incident));
}

bool LoopAffinity::CausedByLastUse(const Model& model, const trace::Event& call) const {
  auto it = last_use_.find(call.thread());
  if (it == last_use_.end() || it->second.loop != call.subject()) return false;
  // Nested in the use: the use's stack is the outer part of the call's.
  std::vector<const Frame*> use = model.StackFrames(it->second.stack);
  std::vector<const Frame*> inner = model.StackFrames(call.stack());
  if (use.empty() || use.size() > inner.size()) return false;
  return std::equal(use.rbegin(), use.rend(), inner.rbegin());
}

// A use from a thread that runs no loop, of an object whose loop is idle
// and was last run (or, never run, made) on this very thread. asyncio's
// own debug check allows it: nothing else runs the loop meanwhile, so the
// waiters it wakes run at the loop's next run. Whether that next run is on
// this thread decides it (SettleOwnerUses).
bool LoopAffinity::IsIdleOwnerUse(const Incident& use) const {
  if (use.user_loop != 0) return false;
  const LoopLife* l = FindLoop(use.loop);
  if (l == nullptr || l->running) return false;
  const ThreadId owner = l->runs > 0 ? l->last_run_by : l->created_on;
  return owner == use.thread;
}

// The loop runs again on `runner`: owner uses made while it was idle are
// crossings only if the loop changed threads.
void LoopAffinity::SettleOwnerUses(EntityId loop, ThreadId runner) {
  auto it = pending_owner_uses_.find(loop);
  if (it == pending_owner_uses_.end()) return;
  std::vector<Incident> uses = std::move(it->second);
  pending_owner_uses_.erase(it);
  pending_owner_use_count_ -= uses.size();
  for (Incident& i : uses) {
    ++Work().pending_steps;
    if (i.thread != runner) AddIncident(std::move(i));
  }
}

// How far out (in frames) from the failed call the code that handles its
// RuntimeError may be: the caller itself, or a helper or two out.
constexpr size_t kMaxHandlerDepth = 2;

// `next` (a later stack on the same thread) is the same invocation of a
// function that is on the failed call's stack, close to it and not across
// an event loop callback: the caller caught the RuntimeError and carried on.
// Frames are interned by (file, function, line), so the callers of that
// function are the very same frames on both stacks and it itself differs
// only by its line.
bool LoopAffinity::ContinuesAfterFailure(const Model& model, StackId failed, StackId next) {
  std::vector<const Frame*> a = model.StackFrames(failed);
  std::vector<const Frame*> b = model.StackFrames(next);
  size_t common = 0;
  while (common < a.size() && common < b.size() &&
         a[a.size() - 1 - common] == b[b.size() - 1 - common]) {
    ++common;
  }
  if (common == a.size() || common == b.size()) return false;
  const size_t handler = a.size() - 1 - common;
  const Frame* caught = a[handler];
  const Frame* resumed = b[b.size() - 1 - common];
  if (handler > kMaxHandlerDepth || caught->file != resumed->file ||
      caught->function != resumed->function) {
    return false;
  }
  for (size_t i = 0; i <= handler; ++i) {
    // Raised inside a loop callback: the loop caught it, not the caller.
    if (a[i]->function == "Handle._run" || a[i]->function == "BaseEventLoop._run_once") {
      return false;
    }
  }
  return true;
}

// The first thing after a failed hand-off that hands work somewhere decides
// it: done by the failed call's own caller, it is the fallback (the work is
// not lost); anything else, the failure stands.
void LoopAffinity::SettleFailedHandoff(const Model& model, const trace::Event& e) {
  if (failed_handoffs_.empty()) return;  // the common case, on every event
  auto it = failed_handoffs_.find(e.thread());
  if (it == failed_handoffs_.end()) return;
  switch (e.kind()) {
    case trace::EXECUTOR_SUBMIT:
    case trace::LOOP_CREATED:
    case trace::LOOP_RUN_BEGIN:
    case trace::LOOP_HANDOFF:
      break;
    default:
      return;
  }
  Incident failed = std::move(it->second);
  failed_handoffs_.erase(it);
  if (!ContinuesAfterFailure(model, failed.stack, e.stack())) AddIncident(std::move(failed));
}

void LoopAffinity::AddPendingHandoff(const PendingKey& key, Incident handoff) {
  const uint64_t place = pending_handoffs_seen_++;
  PendingHandoffs& pending = pending_handoffs_[handoff.loop];
  if (auto it = pending.index.find(key); it != pending.index.end()) {
    // The same object, API and stack: the same group in every rule, which
    // shows its earliest member (the first to come between equal times)
    // and counts the rest. So the earliest is kept, with the count.
    auto& [kept_place, kept] = pending.kept[it->second];
    const uint64_t times = kept.times + 1;
    if (handoff.time < kept.time) {
      kept = std::move(handoff);
      kept_place = place;
    }
    kept.times = times;
    return;
  }
  if (pending_handoff_count_ >= kMaxPendingHandoffs) {
    ++pending.dropped;
    return;
  }
  pending.index.emplace(key, pending.kept.size());
  pending.kept.emplace_back(place, std::move(handoff));
  ++pending_handoff_count_;
}

uint64_t LoopAffinity::handoffs_dropped() const {
  uint64_t dropped = 0;
  for (const auto& [loop, pending] : pending_handoffs_) dropped += pending.dropped;
  return dropped;
}

bool LoopAffinity::Wants(int kind) const {
  if (IsLoopLifeEvent(kind)) return true;
  switch (kind) {
    case trace::LOOP_BOUND:
    case trace::LOOP_OBJECT_CREATED:
    case trace::LOOP_FOREIGN_USE:
    case trace::LOOP_CALL:
    case trace::EXECUTOR_SUBMIT:  // may settle a failed hand-off
      return true;
    default:
      return false;
  }
}

void LoopAffinity::OnEvent(const Model& model, const trace::Event& e, TimeNs time) {
  SettleFailedHandoff(model, e);
  switch (e.kind()) {
    case trace::LOOP_CREATED: {
      LoopLife& l = loops_[e.subject()];
      l.id = e.subject();
      l.created_stack = e.stack();
      l.created_on = e.thread();
      l.created_at = time;
      loops_by_thread_[e.thread()].push_back(e.subject());
      return;
    }
    case trace::LOOP_RUN_BEGIN: {
      LoopLife& l = loops_[e.subject()];
      l.id = e.subject();
      l.running = true;
      ++l.runs;
      l.stopped_at.reset();
      if (std::find(l.run_by.begin(), l.run_by.end(), e.thread()) == l.run_by.end()) {
        l.run_by.push_back(e.thread());
      }
      l.last_run_by = e.thread();
      SettleOwnerUses(e.subject(), e.thread());
      // It runs after all: work handed to it while it was idle is not lost.
      if (auto it = pending_handoffs_.find(e.subject()); it != pending_handoffs_.end()) {
        Work().pending_steps += it->second.kept.size();
        pending_handoff_count_ -= it->second.kept.size();
        pending_handoffs_.erase(it);
      }
      return;
    }
    case trace::LOOP_RUN_END: {
      LoopLife& l = loops_[e.subject()];
      l.running = false;
      l.last_run_end = time;
      if (!l.stopped_at) l.stopped_at = time;
      return;
    }
    case trace::LOOP_STOPPED:
      loops_[e.subject()].stopped_at = time;
      return;
    case trace::LOOP_CLOSED: {
      LoopLife& l = loops_[e.subject()];
      l.closed_at = time;
      l.closed_stack = e.stack();
      return;
    }
    case trace::LOOP_HANDOFF: {
      // Into a loop that ran and ended its run (or never ran): the work waits
      // for a run that, unless the loop runs again, never comes.
      auto it = loops_.find(e.subject());
      if (it == loops_.end() || it->second.running || it->second.runs == 0) return;
      Incident i;
      i.kind = IncidentKind::kClosedLoopUse;
      i.object = e.object();
      i.loop = e.subject();
      i.user_loop = RunningLoopOf(model, e.thread());
      i.thread = e.thread();
      i.api = model.String(e.name());
      i.stack = e.stack();
      i.time = time;
      i.loop_stopped = true;
      AddPendingHandoff(PendingKey{e.object(), &model.String(e.name()), e.stack()}, std::move(i));
      return;
    }
    case trace::LOOP_BOUND: {
      BoundObject& o = objects_.Ref(e.subject());
      o.kind = static_cast<trace::EntityKind>(e.arg());
      o.set_type_name(model.String(e.name()));
      o.loop = e.object();
      o.bound_stack = e.stack();
      return;
    }
    case trace::LOOP_OBJECT_CREATED: {
      BoundObject& o = objects_.Ref(e.subject());
      if (o.created_stack != 0) return;  // a subclass __init__ calling its base
      o.kind = static_cast<trace::EntityKind>(e.arg());
      o.set_type_name(model.String(e.name()));
      o.created_stack = e.stack();
      return;
    }
    case trace::LOOP_FOREIGN_USE:
    case trace::LOOP_CALL: {
      const bool call = e.kind() == trace::LOOP_CALL;
      if (call && CausedByLastUse(model, e)) return;
      if (!call) last_use_[e.thread()] = LastUse{e.object(), e.stack()};
      Incident i;
      i.loop = call ? e.subject() : e.object();
      i.object = call ? e.object() : e.subject();
      i.user_loop = call ? RunningLoopOf(model, e.thread()) : static_cast<EntityId>(e.arg());
      i.thread = e.thread();
      i.api = model.String(e.name());
      i.stack = e.stack();
      i.time = time;
      const LoopLife* l = FindLoop(i.loop);
      i.loop_closed = l != nullptr && l->closed_at.has_value();
      if (i.loop_closed) {
        i.kind = IncidentKind::kClosedLoopUse;
        // Scheduling on a closed loop raises RuntimeError into the caller
        // (create_future alone does not check): wait and see what it does.
        if (call && i.api != "create_future") {
          auto [pending, added] = failed_handoffs_.try_emplace(i.thread, i);
          if (!added) {
            AddIncident(std::move(pending->second));
            pending->second = std::move(i);
          }
          return;
        }
      } else if (call) {
        // The shim reports a call when another thread runs the loop (or it
        // is closed). create_future from a foreign thread is not a hazard.
        if (l != nullptr && !l->running) return;
        if (i.api == "create_future") return;
        i.kind = IncidentKind::kNonThreadsafeCall;
      } else {
        i.kind = IncidentKind::kLoopCrossing;
        if (IsIdleOwnerUse(i)) {
          if (pending_owner_use_count_ < kMaxIncidents) {
            ++pending_owner_use_count_;
            pending_owner_uses_[i.loop].push_back(std::move(i));
          }
          return;
        }
      }
      AddIncident(std::move(i));
      return;
    }
    default:
      return;
  }
}

std::vector<Incident> LoopAffinity::Incidents() const {
  std::vector<Incident> out;
  for (const Incident& i : incidents_) {
    // A call on the loop (call_soon, create_future) by a thread that, from
    // the same loop, misused an object of that loop is that misuse going on
    // (the object's internals scheduling on its own loop): one story, told
    // once, by the object.
    const bool on_object = i.object != 0 && FindObject(i.object) != nullptr;
    if (!on_object && object_incidents_.contains(std::make_tuple(i.loop, i.thread, i.user_loop))) {
      continue;
    }
    out.push_back(i);
  }
  // Still pending, in the order they came.
  std::vector<const std::pair<uint64_t, Incident>*> pending;
  for (const auto& [loop, handoffs] : pending_handoffs_) {
    for (const auto& h : handoffs.kept) pending.push_back(&h);
  }
  std::sort(pending.begin(), pending.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* h : pending) out.push_back(h->second);
  // Failed hand-offs whose caller never did the work elsewhere.
  for (const auto& [thread, failed] : failed_handoffs_) out.push_back(failed);
  std::stable_sort(out.begin(), out.end(),
                   [](const Incident& a, const Incident& b) { return a.time < b.time; });
  return out;
}

std::vector<LoopsMadeOnThread> LoopAffinity::LoopsByCreatingThread() const {
  std::vector<LoopsMadeOnThread> out;
  for (const auto& [tid, loops] : loops_by_thread_) out.push_back({tid, loops});
  return out;
}

std::string LoopAffinity::DescribeLoopOrigin(const Model& model, EntityId loop, TimeNs time) const {
  const LoopLife* l = FindLoop(loop);
  if (l == nullptr) return "an event loop the trace never saw made";
  std::string out = "event loop";
  std::vector<const Frame*> frames = model.StackFrames(l->created_stack);
  size_t user = frames.size();
  for (size_t i = 0; i < frames.size(); ++i) {
    if (!frames[i]->library) {
      user = i;
      break;
    }
  }
  if (user < frames.size() && user > 0) {
    absl::StrAppend(&out, " made by ", ApiName(*frames[user - 1]), " at ", At(*frames[user]));
  } else if (user < frames.size()) {
    absl::StrAppend(&out, " made at ", At(*frames[user]));
  } else if (const Frame* maker = InnermostThirdParty(frames)) {
    // Only library frames: the maker is the first frame outside the
    // standard library (pytest-asyncio's event_loop fixture, anyio's test
    // runner, a server's own thread), never runpy or asyncio's internals.
    absl::StrAppend(&out, " made by ", ApiName(*maker), " (", At(*maker), ")");
  } else if (!frames.empty()) {
    // Only standard library frames: name the outermost function that is
    // not threading's machinery.
    const Frame* outer = frames.back();
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      if (!absl::StrContains((*it)->file, "threading.py")) {
        outer = *it;
        break;
      }
    }
    absl::StrAppend(&out, " made by ", ApiName(*outer), " (", At(*outer), ")");
  }
  absl::StrAppend(&out, " on ", model.ThreadLabel(l->created_on));
  std::vector<std::string> runners;
  for (ThreadId t : l->run_by) {
    if (t != l->created_on) runners.push_back(model.ThreadLabel(t));
  }
  if (!runners.empty()) absl::StrAppend(&out, ", run by ", absl::StrJoin(runners, ", "));
  const bool closed = l->closed_at && (time == 0 || *l->closed_at <= time);
  if (closed) {
    absl::StrAppend(&out, ", closed");
    if (const Frame* f = model.UserFrame(l->closed_stack); f != nullptr && !f->library) {
      absl::StrAppend(&out, " at ", At(*f));
    }
  } else if (l->runs > 0 && !l->running && time == 0) {
    absl::StrAppend(&out, ", stopped");
  }
  return out;
}


const Frame* LoopAffinity::SiteFrame(const Model& model, StackId stack) {
  std::vector<const Frame*> frames = model.StackFrames(stack);
  for (const Frame* f : frames) {
    if (!f->library) return f;
  }
  for (const Frame* f : frames) {
    if (ThirdParty(*f)) return f;
  }
  return frames.empty() ? nullptr : frames.front();
}

const Frame* LoopAffinity::FrameworkCaller(const Model& model, StackId stack) {
  for (const Frame* f : model.StackFrames(stack)) {
    if (!f->library) return nullptr;  // the user's own code made the call
    if (ThirdParty(*f)) return f;
  }
  return nullptr;
}

std::string LoopAffinity::DescribeSite(const Model& model, StackId stack) {
  const Frame* f = SiteFrame(model, stack);
  if (f == nullptr) return "";
  if (!f->library) return At(*f);
  return absl::StrCat(f->function, " (", At(*f), ")");
}

std::string LoopAffinity::DescribeObject(const Model& model, const BoundObject& object) const {
  std::string name = object.type_name().empty() ? "object" : object.type_name();
  const Frame* f = SiteFrame(model, object.origin_stack());
  if (f == nullptr) return name;
  if (!f->library) return absl::StrCat(name, " made at ", At(*f));
  std::string out = absl::StrCat(name, " made in ", DescribeSite(model, object.origin_stack()));
  // Made inside a framework: the user's line that first used it, if known.
  if (object.bound_stack != 0 && object.bound_stack != object.origin_stack()) {
    const Frame* used = model.UserFrame(object.bound_stack);
    if (used != nullptr && !used->library) absl::StrAppend(&out, ", first used at ", At(*used));
  }
  return out;
}

void LoopAffinity::CountKept(KeptCounts& out) const {
  out.insert(out.end(), {
      {"loop_affinity.loops", loops_.size()},
      {"loop_affinity.objects", objects_.size()},
      {"loop_affinity.incidents", incidents_.size()},
      {"loop_affinity.object_incident_keys", object_incidents_.size()},
      {"loop_affinity.pending_handoffs", pending_handoff_count_},
      {"loop_affinity.pending_owner_uses", pending_owner_use_count_},
      {"loop_affinity.failed_handoffs", failed_handoffs_.size()},
      {"loop_affinity.loops_made", EntriesIn(loops_by_thread_)},
      {"loop_affinity.last_uses", last_use_.size()},
  });
}

}  // namespace waitgraph::analyzer
