// The analyzer's searches stay O(n log n) (issue 12): crafted traces that
// made them quadratic (every later access scanned per ContextVar write, a
// linear walk over a worker's work per read, every pending hand-off and
// every task looked at per loop event) are analysed at two sizes and the
// work they take is counted (analyzer/work_counters.h), never timed. And
// the fast searches give exactly what the walks they replace gave, on
// random traces (clocks that step back included).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "analyzer/context_model.h"
#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "analyzer/work_counters.h"
#include "gtest/gtest.h"
#include "rules/lost_write_search.h"
#include "rules/registry.h"
#include "trace/chunk_file.h"

namespace waitgraph {
namespace {

using analyzer::ContextModel;
using analyzer::EntityId;
using analyzer::TimeNs;
using analyzer::VarAccess;
using analyzer::Work;
using analyzer::WorkCounters;

constexpr uint64_t kMainThread = 1;
constexpr uint64_t kWorker = 2;
constexpr uint32_t kPlainStack = 1;
constexpr uint32_t kCopyBackStack = 2;

// A trace built event by event, each in its own chunk so that any time
// (also one before the last) can be given.
class TraceBuilder {
 public:
  TraceBuilder() {
    trace::TraceChunk defs = Next(0);
    auto add_string = [&](uint32_t id, const char* value) {
      auto* s = defs.add_strings();
      s->set_id(id);
      s->set_value(value);
    };
    add_string(1, "/srv/app.py");
    add_string(2, "handler");
    add_string(3, "/usr/lib/python3/dist-packages/asgiref/sync.py");
    add_string(4, "_restore_context");
    add_string(5, "request_id");
    add_string(6, "create_task");
    for (uint32_t id : {1u, 2u}) {
      auto* f = defs.add_frames();
      f->set_id(id);
      f->set_file(id == 1 ? 1 : 3);
      f->set_function(id == 1 ? 2 : 4);
      f->set_line(10 * id);
    }
    auto* plain = defs.add_stacks();
    plain->set_id(kPlainStack);
    plain->add_frames(1);
    auto* copy_back = defs.add_stacks();
    copy_back->set_id(kCopyBackStack);
    copy_back->add_frames(2);
    copy_back->add_frames(1);
    analysis_.AddChunk(defs);
  }

  trace::Event* Add(TimeNs time, trace::EventKind kind, uint64_t thread, uint64_t subject,
                    uint64_t object = 0, int64_t arg = 0, uint32_t stack = kPlainStack) {
    pending_ = Next(time);
    trace::Event* e = pending_.add_events();
    e->set_kind(kind);
    e->set_thread(thread);
    e->set_subject(subject);
    e->set_object(object);
    e->set_arg(arg);
    e->set_stack(stack);
    e->set_name(kind == trace::CONTEXT_COPIED ? 6 : 5);
    return e;
  }
  void Flush() {
    if (pending_.events_size() > 0) analysis_.AddChunk(pending_);
    pending_.Clear();
  }
  void Copy(TimeNs time, EntityId child, EntityId parent, trace::ContextCopyKind kind,
            uint64_t thread = kMainThread) {
    Add(time, trace::CONTEXT_COPIED, thread, child, parent, kind);
    Flush();
  }
  void Access(TimeNs time, trace::EventKind kind, EntityId var, EntityId context, int64_t arg = 0,
              uint64_t thread = kMainThread, uint32_t stack = kPlainStack) {
    Add(time, kind, thread, var, context, arg, stack);
    Flush();
  }
  void Event(TimeNs time, trace::EventKind kind, uint64_t thread, uint64_t subject,
             uint64_t object = 0, int64_t arg = 0) {
    Add(time, kind, thread, subject, object, arg);
    Flush();
  }

  analyzer::TraceAnalysis& analysis() { return analysis_; }
  std::vector<findings::Finding> Findings() {
    std::vector<analyzer::Deadlock> deadlocks = analyzer::FindDeadlocks(analysis_.model());
    rules::Registry registry;
    rules::RegisterAllRules(registry);
    return registry.Run(rules::InputFor(analysis_, deadlocks));
  }

 private:
  trace::TraceChunk Next(TimeNs time) {
    trace::TraceChunk chunk;
    chunk.set_format_version(trace::kFormatVersion);
    chunk.set_sequence(sequence_++);
    chunk.set_base_time_ns(static_cast<uint64_t>(time));
    return chunk;
  }

  analyzer::TraceAnalysis analysis_{"crafted"};
  trace::TraceChunk pending_;
  uint64_t sequence_ = 0;
};

// The quadratic shapes of issue 12, `n` times each: a parent that spawns
// n request tasks at once which each set and read request_id (every later
// access was scanned per write); n async_to_sync-style calls, each a loop
// made, a task whose asgiref Local write the caller reads after the loop
// closed (every later read skipped one by one); n executor jobs on one
// worker that read a var handed over without a copy (a walk over the
// worker's jobs per read); n loops each handed work while stopped and then
// run again, and snapshotted (every pending hand-off, every task looked at).
WorkCounters WorkFor(int n, size_t* findings = nullptr) {
  Work() = WorkCounters{};
  TraceBuilder t;
  constexpr EntityId kParent = 1'000'000, kVar = 7, kLocalVar = 8, kExecutor = 9;
  TimeNs now = 1000;
  for (int i = 0; i < n; ++i) t.Copy(++now, 10 + i, kParent, trace::CONTEXT_COPY_TASK);
  for (int i = 0; i < n; ++i) {
    t.Access(++now, trace::CONTEXT_VAR_SET, kVar, 10 + i);
    t.Access(++now, trace::CONTEXT_VAR_GET, kVar, 10 + i, 1);
  }
  t.Access(++now, trace::CONTEXT_VAR_GET, kVar, kParent, 0);  // the default: one lost write
  for (int i = 0; i < n; ++i) {
    const EntityId loop = 5'000'000 + i, child = 2'000'000 + i;
    t.Event(++now, trace::LOOP_CREATED, kMainThread, loop);
    t.Event(++now, trace::LOOP_RUN_BEGIN, kMainThread, loop);
    t.Copy(++now, child, kParent, trace::CONTEXT_COPY_LOCAL);
    t.Access(++now, trace::CONTEXT_VAR_SET, kLocalVar, child);
    t.Event(++now, trace::LOOP_RUN_END, kMainThread, loop);
    t.Event(++now, trace::LOOP_CLOSED, kMainThread, loop);
    t.Access(++now, trace::CONTEXT_VAR_GET, kLocalVar, kParent, 0);
  }
  t.Access(++now, trace::CONTEXT_VAR_SET, kVar, kParent);
  for (int i = 0; i < n; ++i) {
    const EntityId future = 3'000'000 + i;
    t.Event(++now, trace::CONTEXT_HANDOFF, kMainThread, future, kParent, trace::ENTITY_FUTURE);
    t.Event(++now, trace::WORK_BEGIN, kWorker, kExecutor, future);
    t.Access(++now, trace::CONTEXT_VAR_GET, kVar, 0, 0, kWorker);
    t.Event(++now, trace::WORK_END, kWorker, kExecutor, future);
  }
  for (int i = 0; i < n; ++i) {
    const EntityId loop = 4'000'000 + i, task = 6'000'000 + i;
    t.Event(++now, trace::LOOP_RUN_BEGIN, kWorker, loop);
    t.Event(++now, trace::LOOP_IDLE, kWorker, loop);
    t.Event(++now, trace::TASK_INFO, kWorker, task, loop);
    t.Event(++now, trace::TASK_WAITING, kWorker, task, 77, trace::ENTITY_FUTURE);
    t.Event(++now, trace::LOOP_IDLE, kWorker, loop);
    t.Event(++now, trace::LOOP_RUN_END, kWorker, loop);
    t.Event(++now, trace::LOOP_HANDOFF, kMainThread, loop, 0);
  }
  for (int i = 0; i < n; ++i) t.Event(++now, trace::LOOP_RUN_BEGIN, kWorker, 4'000'000 + i);

  std::vector<findings::Finding> found = t.Findings();
  if (findings != nullptr) *findings = found.size();
  return Work();
}

// At most c * n * log2(n) steps, and growing far slower than n^2 from n to 4n.
void ExpectNLogN(const char* what, uint64_t small, uint64_t large, int n) {
  SCOPED_TRACE(what);
  const double bound = 8.0 * 4 * n * std::log2(4.0 * n);
  EXPECT_LT(double(large), bound) << large << " steps for " << 4 * n;
  // Quadratic growth would be 16x; n log n about 4.7x.
  EXPECT_LT(double(large), 6.0 * std::max<uint64_t>(small, 1)) << small << " -> " << large;
}

TEST(AnalyzerWork, SearchesGrowAsNLogN) {
  constexpr int kN = 500;
  size_t findings_small = 0, findings_large = 0;
  WorkCounters small = WorkFor(kN, &findings_small);
  WorkCounters large = WorkFor(4 * kN, &findings_large);
  // The crafted traces are real findings, the same at both sizes: the
  // searches did their job.
  EXPECT_GE(findings_small, 2u);
  EXPECT_EQ(findings_small, findings_large);
  EXPECT_GT(large.lost_write_steps, 0u);
  EXPECT_GT(large.handoff_steps, 0u);
  ExpectNLogN("lost-context-write scan", small.lost_write_steps, large.lost_write_steps, kN);
  ExpectNLogN("bindings", small.binding_steps, large.binding_steps, kN);
  ExpectNLogN("hand-off lookup", small.handoff_steps, large.handoff_steps, kN);
  ExpectNLogN("pending hand-offs", small.pending_steps, large.pending_steps, kN);
  ExpectNLogN("task snapshots", small.task_steps, large.task_steps, kN);
}

// ---- The fast searches against the walks they replace, on random traces.

// The binding a read sees, as the context model found it before: a walk
// over the context's accesses of the var per question.
const VarAccess* NaiveBinding(const ContextModel& cm, EntityId context, EntityId var, TimeNs time) {
  for (int depth = 0; depth < 256 && context != 0; ++depth) {
    std::vector<const VarAccess*> sets;
    for (const VarAccess* a : cm.AccessesIn(context, var)) {
      if (a->time >= time) break;
      if (a->kind == VarAccess::kSet) sets.push_back(a);
      if (a->kind == VarAccess::kReset && !sets.empty()) sets.pop_back();
    }
    if (!sets.empty()) return sets.back();
    const analyzer::ContextCopy* copy = cm.CopyOf(context);
    if (copy == nullptr || copy->kind == trace::CONTEXT_COPY_LOCAL) return nullptr;
    time = std::min(time, copy->time);
    context = copy->parent;
  }
  return nullptr;
}

const VarAccess* NaiveLatestSet(const ContextModel& cm, EntityId context, EntityId var,
                                TimeNs time) {
  const VarAccess* made = nullptr;
  for (const VarAccess* a : cm.AccessesIn(context, var)) {
    if (a->time > time) break;
    if (a->kind == VarAccess::kSet) made = a;
  }
  return made;
}

bool InParentLineage(const ContextModel& cm, EntityId context, EntityId parent, EntityId child,
                     TimeNs after) {
  if (context == parent) return true;
  for (int depth = 0; depth < 256; ++depth) {
    if (context == child) return false;
    const analyzer::ContextCopy* copy = cm.CopyOf(context);
    if (copy == nullptr) return false;
    if (copy->parent == parent) return copy->time > after;
    context = copy->parent;
  }
  return false;
}

// lost-context-write's walk over every later access of the var, as it was.
rules::ParentSideAccesses::Found NaiveAfter(const ContextModel& cm,
                                            const rules::ParentSideAccesses& search,
                                            const VarAccess& w, EntityId parent,
                                            std::optional<TimeNs> gone, TimeNs child_last) {
  rules::ParentSideAccesses::Found out;
  const std::vector<size_t>& of_var = cm.AccessesOfVar(w.var);
  for (auto i = std::upper_bound(of_var.begin(), of_var.end(), w.index); i != of_var.end(); ++i) {
    const VarAccess& r = cm.accesses()[*i];
    if (r.time <= w.time) continue;
    if (search.RootOf(r.context) != search.RootOf(parent)) continue;
    if (!InParentLineage(cm, r.context, parent, w.context, w.time)) continue;
    if (search.IsCopyBack(r)) continue;
    if (gone && r.time > *gone) continue;
    if (r.time < child_last) {
      out.used_meanwhile = true;
      continue;
    }
    out.access = &r;
    break;
  }
  return out;
}

// What a random trace handed to the worker thread, in the order begun.
struct Recorded {
  struct Span {
    EntityId future = 0;
    TimeNs begin = 0, end = 0;
  };
  struct Handed {
    EntityId context = 0;
    TimeNs time = 0;
  };
  std::vector<Span> spans;
  std::map<EntityId, Handed> by_future;
  std::optional<Handed> to_thread;
};

// The hand-off a worker's read ran under, as the context model found it
// before: the first work begun on the thread that runs at the read.
std::optional<Recorded::Handed> NaiveHandoff(const Recorded& rec, const VarAccess& r) {
  if (r.thread == kWorker) {
    for (const Recorded::Span& s : rec.spans) {
      if (s.begin <= r.time && (s.end == 0 || r.time <= s.end)) {
        auto h = rec.by_future.find(s.future);
        if (h == rec.by_future.end()) return std::nullopt;
        return h->second;
      }
    }
    return rec.to_thread;
  }
  return std::nullopt;
}

Recorded RandomTrace(TraceBuilder& t, std::mt19937& rng, bool clock_steps_back) {
  Recorded rec;
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  TimeNs now = 100;
  auto tick = [&] {
    now += 1 + pick(3);
    // Now and then an event from before the last one (another thread's
    // buffer), or at the same time.
    if (clock_steps_back && pick(5) == 0) return now - pick(20);
    if (pick(8) == 0) return now - 1;
    return now;
  };
  const int contexts = 4 + pick(12);
  const trace::ContextCopyKind kinds[] = {trace::CONTEXT_COPY_TASK, trace::CONTEXT_COPY_LOCAL,
                                          trace::CONTEXT_COPY_EXPLICIT, trace::CONTEXT_COPY_SHARED};
  int made = 1;  // context 1 is a root
  EntityId future = 900;
  for (int step = 0; step < 120; ++step) {
    const int what = pick(10);
    if (what == 0 && made < contexts) {
      ++made;
      // Usually a copy of an earlier context; now and then of a later one (a cycle).
      EntityId parent = pick(10) == 0 ? 1 + pick(contexts) : 1 + pick(made - 1);
      t.Copy(tick(), made, parent, kinds[pick(4)]);
    } else if (what == 1) {
      ++future;
      const EntityId caller = 1 + pick(made);
      TimeNs at = tick();
      t.Event(at, trace::CONTEXT_HANDOFF, kMainThread, future, caller, trace::ENTITY_FUTURE);
      rec.by_future[future] = {caller, at};
      Recorded::Span span{future, tick(), 0};
      t.Event(span.begin, trace::WORK_BEGIN, kWorker, 50, future);
      if (pick(4) != 0) {
        span.end = tick();
        t.Event(span.end, trace::WORK_END, kWorker, 50, future);
      }
      rec.spans.push_back(span);
    } else if (what == 2 && pick(4) == 0) {
      const EntityId caller = 1 + pick(made);
      TimeNs at = tick();
      t.Event(at, trace::CONTEXT_HANDOFF, kMainThread, kWorker, caller, trace::ENTITY_THREAD);
      rec.to_thread = Recorded::Handed{caller, at};
    } else {
      const trace::EventKind kind = what < 5   ? trace::CONTEXT_VAR_SET
                                    : what < 9 ? trace::CONTEXT_VAR_GET
                                               : trace::CONTEXT_VAR_RESET;
      const EntityId context = pick(6) == 0 ? 0 : 1 + pick(made);
      const int64_t arg = kind == trace::CONTEXT_VAR_RESET ? 1 + pick(made) : pick(2);
      const uint64_t thread = pick(3) == 0 ? kWorker : kMainThread;
      t.Access(tick(), kind, 7 + pick(2), context, kind == trace::CONTEXT_VAR_SET ? 0 : arg,
               thread, pick(6) == 0 ? kCopyBackStack : kPlainStack);
    }
  }
  return rec;
}

TEST(AnalyzerWork, FastSearchesAnswerAsTheWalks) {
  std::mt19937 rng(12);
  int compared_after = 0, found_after = 0, compared_handoffs = 0;
  for (int round = 0; round < 400; ++round) {
    TraceBuilder t;
    const Recorded rec = RandomTrace(t, rng, /*clock_steps_back=*/round % 2 == 1);
    const ContextModel& cm = t.analysis().contexts();
    const auto& accesses = cm.accesses();
    SCOPED_TRACE(testing::Message() << "round " << round);

    for (const VarAccess& r : accesses) {
      const analyzer::Handoff* fast = cm.HandoffFor(r);
      std::optional<Recorded::Handed> naive = NaiveHandoff(rec, r);
      ASSERT_EQ(fast != nullptr, naive.has_value()) << "read at " << r.time;
      if (fast != nullptr) {
        EXPECT_EQ(fast->context, naive->context);
        EXPECT_EQ(fast->time, naive->time);
        ++compared_handoffs;
      }
    }

    std::vector<EntityId> contexts = {0};
    for (const VarAccess& a : accesses) contexts.push_back(a.context);
    for (const VarAccess& a : accesses) {
      for (TimeNs dt : {-3, 0, 1, 2}) {
        for (EntityId context : {a.context, contexts[rng() % contexts.size()]}) {
          EXPECT_EQ(cm.VisibleBinding(context, a.var, a.time + dt),
                    NaiveBinding(cm, context, a.var, a.time + dt));
          EXPECT_EQ(cm.LatestSetUpTo(context, a.var, a.time + dt),
                    NaiveLatestSet(cm, context, a.var, a.time + dt));
        }
      }
    }

    rules::ParentSideAccesses search(t.analysis().model(), cm);
    std::vector<std::pair<const VarAccess*, EntityId>> writes;
    for (const VarAccess& w : accesses) {
      const analyzer::ContextCopy* copy = cm.CopyOf(w.context);
      if (w.kind != VarAccess::kSet || copy == nullptr) continue;
      search.Want(copy->parent, w.var);
      writes.push_back({&w, copy->parent});
    }
    search.Build();
    for (const auto& [w, parent] : writes) {
      const TimeNs last = std::max(w->time, cm.UseIn(w->context, w->var).last);
      for (std::optional<TimeNs> gone : {std::optional<TimeNs>(), std::optional<TimeNs>(w->time + 5),
                                         std::optional<TimeNs>(w->time + 40)}) {
        for (TimeNs child_last : {w->time, last, last + 7}) {
          auto fast = search.After(*w, parent, gone, child_last);
          auto naive = NaiveAfter(cm, search, *w, parent, gone, child_last);
          EXPECT_EQ(fast.access, naive.access);
          if (naive.access != nullptr) EXPECT_EQ(fast.used_meanwhile, naive.used_meanwhile);
          ++compared_after;
          found_after += naive.access != nullptr;
        }
      }
    }
  }
  // The random traces did exercise the search.
  EXPECT_GT(compared_after, 10000);
  EXPECT_GT(found_after, 1000);
  EXPECT_GT(compared_handoffs, 1000);
}

}  // namespace
}  // namespace waitgraph
