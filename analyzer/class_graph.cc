#include "analyzer/class_graph.h"

#include <deque>
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "analyzer/graph_cycles.h"

namespace waitgraph::analyzer {
namespace {

using Kind = BlockingClass::Kind;

// The user's line where something was made, or nothing if unknown.
std::string Site(const Model& model, StackId stack) {
  const Frame* f = model.UserFrame(stack);
  return f == nullptr ? "" : ShortLocation(*f);
}

}  // namespace

std::string ShortLocation(const Frame& frame) {
  return absl::StrCat(frame.shown_path(), ":", frame.line);
}

BlockingClass ClassGraph::LoopClass(const Model& model, EntityId loop) {
  const Loop* l = model.FindLoop(loop);
  std::string site = l == nullptr ? "" : Site(model, l->created_stack);
  if (site.empty()) {
    return {Kind::kLoop, absl::StrCat("loop#", loop), absl::StrCat("event loop #", loop)};
  }
  return {Kind::kLoop, absl::StrCat("loop@", site), absl::StrCat("event loop created at ", site)};
}

const Frame* LibraryMaker(const Model& model, const Executor& executor) {
  std::vector<const Frame*> frames = model.StackFrames(executor.created_stack);
  if (frames.empty() || !frames.front()->library) return nullptr;
  return frames.front();
}

BlockingClass ClassGraph::ExecutorClass(const Model& model, EntityId executor) {
  const Executor* ex = model.FindExecutor(executor);
  // A pool made inside a library (asgiref's thread-sensitive executor, a
  // loop's default executor) is of the library's own site, never of the
  // user's line that happened to run that code (often an import).
  // Its class is that site and the user's call that first used it (its
  // first submit, else the creation): one class per use, as a pool the
  // user made is one class per creation line.
  if (const Frame* maker = ex == nullptr ? nullptr : LibraryMaker(model, *ex)) {
    std::string site = ShortLocation(*maker);
    std::string used = Site(model, ex->first_submit_stack);
    if (used.empty()) used = Site(model, ex->created_stack);
    return {Kind::kExecutor, absl::StrCat("executor@", site, "@", used),
            absl::StrCat("executor made at ", site, " (", maker->function, ")",
                         used.empty() ? "" : absl::StrCat(", first used at ", used))};
  }
  std::string site = ex == nullptr ? "" : Site(model, ex->created_stack);
  std::string name = ex == nullptr || ex->name_prefix.empty()
                         ? "executor"
                         : absl::StrCat("executor '", ex->name_prefix, "'");
  if (site.empty()) {
    return {Kind::kExecutor, absl::StrCat("executor#", executor),
            absl::StrCat(name, " #", executor)};
  }
  return {Kind::kExecutor, absl::StrCat("executor@", site),
          absl::StrCat(name, " created at ", site)};
}

BlockingClass ClassGraph::ThreadClass(const Model& model, ThreadId tid) {
  const Thread* t = model.FindThread(tid);
  if (t != nullptr && t->worker_of) return ExecutorClass(model, *t->worker_of);
  std::string name = model.ThreadLabel(tid);
  if (name == "MainThread") return {Kind::kThread, "thread:MainThread", "MainThread"};
  std::string site = t == nullptr ? "" : Site(model, t->start_stack);
  if (site.empty()) return {Kind::kThread, absl::StrCat("thread:", name), name};
  return {Kind::kThread, absl::StrCat("thread@", site),
          absl::StrCat("threads started at ", site)};
}

const BlockingClass& ClassGraph::Cached(ClassCache& cache, EntityId id, ClassInputs inputs,
                                        absl::FunctionRef<BlockingClass()> make) {
  auto [it, fresh] = cache.try_emplace(id);
  CachedClass& c = it->second;
  if (fresh || !(c.inputs == inputs)) {
    c.inputs = std::move(inputs);
    c.cls = make();
  }
  return c.cls;
}

// Each Cached*Class gives what *Class gives; its inputs are everything that
// one reads from the model.
const BlockingClass& ClassGraph::CachedLoopClass(const Model& model, EntityId loop) {
  const Loop* l = model.FindLoop(loop);
  ClassInputs inputs{l != nullptr, l ? l->created_stack : 0, 0, "", model.definitions_version()};
  return Cached(loop_classes_, loop, std::move(inputs), [&] { return LoopClass(model, loop); });
}

const BlockingClass& ClassGraph::CachedExecutorClass(const Model& model, EntityId executor) {
  const Executor* ex = model.FindExecutor(executor);
  ClassInputs inputs{ex != nullptr, ex ? ex->created_stack : 0, ex ? ex->first_submit_stack : 0,
                     ex ? ex->name_prefix : "", model.definitions_version()};
  return Cached(executor_classes_, executor, std::move(inputs),
                [&] { return ExecutorClass(model, executor); });
}

const BlockingClass& ClassGraph::CachedThreadClass(const Model& model, ThreadId tid) {
  const Thread* t = model.FindThread(tid);
  if (t != nullptr && t->worker_of) return CachedExecutorClass(model, *t->worker_of);
  ClassInputs inputs{t != nullptr, t ? t->start_stack : 0, 0, t ? t->name : "",
                     model.definitions_version()};
  return Cached(thread_classes_, tid, std::move(inputs), [&] { return ThreadClass(model, tid); });
}

void ClassGraph::OnWaitBegin(const Model& model, const Wait& wait) {
  // A wait with a timeout ends by itself: it can slow a cycle, never close it.
  if (wait.has_timeout) return;
  // Who is blocked by this wait.
  const BlockingClass& thread_class = CachedThreadClass(model, wait.thread);
  const BlockingClass* from = &thread_class;
  if (wait.loop_of_thread) {
    from = &CachedLoopClass(model, *wait.loop_of_thread);
    AddEdge(thread_class, *from, wait, [] { return std::string("the event loop it runs"); });
  }
  // Who must act for it to end.
  for (const Target& t : wait.targets) {
    switch (t.kind) {
      case trace::ENTITY_FUTURE: {
        // A future done just before the wait began (a race the waiter won
        // this time) is the same dependency as one still pending.
        const Future* f = model.FindFuture(t.id);
        if (f == nullptr) f = model.FindRecentlyDoneFuture(t.id);
        if (f == nullptr) break;
        if (f->producer_kind == ProducerKind::kLoop) {
          const BlockingClass& to = CachedLoopClass(model, f->producer);
          AddEdge(*from, to, wait, [&] { return absl::StrCat("a future only ", to.label, " can complete"); });
        } else if (f->producer_kind == ProducerKind::kExecutor) {
          const BlockingClass& to = CachedExecutorClass(model, f->producer);
          AddEdge(*from, to, wait, [&] { return absl::StrCat("work submitted to ", to.label); });
        } else if (f->producer_kind == ProducerKind::kThread) {
          const BlockingClass& to = CachedThreadClass(model, f->producer);
          AddEdge(*from, to, wait, [&] { return absl::StrCat("a future only ", to.label, " can complete"); });
        }
        break;
      }
      case trace::ENTITY_THREAD: {
        // Joining a thread that has nothing left to wait for (asyncio's own
        // shutdown_default_executor joins its helper after it finished) is
        // ordered by construction, not a latent dependency.
        const Thread* joined = model.FindThread(t.id);
        if (joined == nullptr || joined->exited ||
            (joined->active_waits.empty() && joined->loops_running.empty())) {
          break;
        }
        const BlockingClass& to = CachedThreadClass(model, t.id);
        AddEdge(*from, to, wait, [&] { return absl::StrCat("the end of ", to.label); });
        break;
      }
      case trace::ENTITY_EXECUTOR: {
        const BlockingClass& to = CachedExecutorClass(model, t.id);
        AddEdge(*from, to, wait, [&] { return absl::StrCat("every worker of ", to.label, " to finish"); });
        break;
      }
      default:
        break;
    }
  }
}

void ClassGraph::AddEdge(const BlockingClass& from, const BlockingClass& to, const Wait& wait,
                         absl::FunctionRef<std::string()> target_text) {
  // Self-edges are left out: classes merge instances, so A -> A is often two
  // different loops or pools and would be a guess, not a finding.
  if (from == to) return;
  auto it = edges_.find(EdgeOrder::Ref{&from, &to});
  if (it == edges_.end()) it = edges_.try_emplace(it, {from, to});
  ClassEdgeSighting& s = it->second;
  if (s.times_seen++ == 0) {
    s.thread = wait.thread;
    s.time = wait.begin;
    s.stack = wait.stack;
    s.api = wait.api;
    s.target_text = target_text();
  }
}

std::vector<ClassCycle> ClassGraph::FindCycles() const { return CyclesOf<ClassCycle>(edges_); }

void ClassGraph::CountKept(KeptCounts& out) const {
  out.insert(out.end(), {
      {"classes.cached", thread_classes_.size() + loop_classes_.size() + executor_classes_.size()},
      {"classes.edges", edges_.size()},
  });
}

}  // namespace waitgraph::analyzer
