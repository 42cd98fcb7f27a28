// Issue 13 item 8, point 4: two tables `waitgraph run` counted but did not
// bound. A service that hands work to an event loop that stopped for good
// on every request kept every hand-off (loop affinity's pending hand-offs);
// one that cancels queued executor work kept every cancelled future that
// never started (the model's Executor::queued, the saturation model's jobs).
// Crafted traces make each grow with the requests; the tables must level
// off, and the findings stay what they were (counts included).
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "gtest/gtest.h"
#include "rules/registry.h"
#include "trace/chunk_file.h"

namespace waitgraph {
namespace {

using analyzer::EntityId;
using analyzer::TimeNs;

constexpr uint64_t kMainThread = 1;
constexpr uint64_t kWorker = 2;
constexpr EntityId kLoop = 100;
constexpr EntityId kExecutor = 200;
constexpr uint32_t kUserStack = 1;   // app.py:10
constexpr uint32_t kOtherStack = 2;  // app.py:20
constexpr uint32_t kCallSoonThreadsafe = 3, kRunCoroutineThreadsafe = 4, kJob = 5;

// Events appended to chunks of up to 1,000; a chunk per call of Chunk(time)
// so that a later event may be given an earlier time (several threads'
// buffers reach the trace in any order).
class Trace {
 public:
  Trace() {
    trace::TraceChunk defs = NewChunk(0);
    auto add_string = [&](uint32_t id, const char* value) {
      auto* s = defs.add_strings();
      s->set_id(id);
      s->set_value(value);
    };
    add_string(1, "/srv/app.py");
    add_string(2, "handler");
    add_string(kCallSoonThreadsafe, "call_soon_threadsafe");
    add_string(kRunCoroutineThreadsafe, "run_coroutine_threadsafe");
    add_string(kJob, "job");
    for (uint32_t id : {1u, 2u}) {
      auto* f = defs.add_frames();
      f->set_id(id);
      f->set_file(1);
      f->set_function(2);
      f->set_line(10 * id);
      auto* s = defs.add_stacks();
      s->set_id(id);
      s->add_frames(id);
    }
    analysis_.AddChunk(defs);
    Chunk(1000);
  }

  // Later events count from `time` on.
  void Chunk(TimeNs time) {
    Flush();
    chunk_ = NewChunk(time);
    now_ = time;
  }
  void Add(trace::EventKind kind, uint64_t thread, uint64_t subject, uint64_t object = 0,
           int64_t arg = 0, uint32_t name = 0, uint32_t stack = kUserStack) {
    if (chunk_.events_size() >= 1000) Chunk(now_);
    trace::Event* e = chunk_.add_events();
    e->set_time_delta_ns(10);
    now_ += 10;
    e->set_kind(kind);
    e->set_thread(thread);
    e->set_subject(subject);
    e->set_object(object);
    e->set_arg(arg);
    e->set_name(name);
    e->set_stack(stack);
  }
  void Flush() {
    if (chunk_.events_size() > 0) analysis_.AddChunk(chunk_);
    chunk_.Clear();
  }
  TimeNs now() const { return now_; }

  uint64_t Kept(const std::string& table) {
    Flush();
    for (const auto& [name, count] : analysis_.CountKept()) {
      if (name == table) return count;
    }
    ADD_FAILURE() << "no table " << table;
    return 0;
  }
  std::vector<findings::Finding> Findings() {
    Flush();
    std::vector<analyzer::Deadlock> deadlocks = analyzer::FindDeadlocks(analysis_.model());
    rules::Registry registry;
    rules::RegisterAllRules(registry);
    return registry.Run(rules::InputFor(analysis_, deadlocks));
  }
  std::vector<std::string> Notes() {
    Flush();
    return analysis_.Notes(/*writer_gone=*/true);
  }

 private:
  trace::TraceChunk NewChunk(TimeNs time) {
    trace::TraceChunk chunk;
    chunk.set_format_version(trace::kFormatVersion);
    chunk.set_sequence(sequence_++);
    chunk.set_base_time_ns(static_cast<uint64_t>(time));
    return chunk;
  }

  analyzer::TraceAnalysis analysis_{"crafted", "/srv"};
  trace::TraceChunk chunk_;
  uint64_t sequence_ = 0;
  TimeNs now_ = 0;
};

// A loop that ran once on the main thread and stopped.
void LoopThatRanOnce(Trace& t) {
  t.Add(trace::LOOP_CREATED, kMainThread, kLoop);
  t.Add(trace::LOOP_RUN_BEGIN, kMainThread, kLoop);
  t.Add(trace::LOOP_RUN_END, kMainThread, kLoop);
}

void CallSoonThreadsafe(Trace& t, uint64_t thread = kMainThread, uint32_t stack = kUserStack) {
  t.Add(trace::LOOP_HANDOFF, thread, kLoop, 0, 0, kCallSoonThreadsafe, stack);
}
void RunCoroutineThreadsafe(Trace& t, EntityId future) {
  t.Add(trace::FUTURE_PRODUCER, kMainThread, future, kLoop, trace::ENTITY_LOOP,
        kRunCoroutineThreadsafe);
  t.Add(trace::LOOP_HANDOFF, kMainThread, kLoop, future, 0, kRunCoroutineThreadsafe, kOtherStack);
}

std::vector<findings::Finding> ClosedLoopUses(Trace& t) {
  std::vector<findings::Finding> out;
  for (findings::Finding& f : t.Findings()) {
    if (f.name() == "closed-loop-use") out.push_back(std::move(f));
  }
  return out;
}

bool HasNoteWith(Trace& t, const std::string& words) {
  for (const std::string& note : t.Notes()) {
    if (absl::StrContains(note, words)) return true;
  }
  return false;
}

// call_soon_threadsafe from one line into a loop that never runs again, on
// every request: one entry kept, however many requests, and the finding
// counts them all.
TEST(RunTables, HandOffsFromOneSiteIntoAStoppedLoopLevelOff) {
  Trace t;
  LoopThatRanOnce(t);
  for (int i = 0; i < 1000; ++i) CallSoonThreadsafe(t);
  const uint64_t after_1000 = t.Kept("loop_affinity.pending_handoffs");
  for (int i = 0; i < 19000; ++i) CallSoonThreadsafe(t);
  const uint64_t after_20000 = t.Kept("loop_affinity.pending_handoffs");
  EXPECT_EQ(after_1000, 1u);  // it was 1,000 (one per hand-off)
  EXPECT_EQ(after_20000, 1u);  // it was 20,000

  std::vector<findings::Finding> found = ClosedLoopUses(t);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(absl::StrContains(found[0].message(), "(20000 times)")) << found[0].message();
  EXPECT_FALSE(HasNoteWith(t, "hand-offs into stopped event loops"));
}

// The one kept stands for the earliest: a rule shows its group's earliest
// hand-off (its time, its thread), also when a later one in the trace came
// from a thread whose events were written with an earlier time.
TEST(RunTables, TheEarliestHandOffStandsForTheRest) {
  Trace t;
  LoopThatRanOnce(t);
  CallSoonThreadsafe(t, kMainThread);  // at 1040
  t.Chunk(1005);
  CallSoonThreadsafe(t, kWorker);  // at 1015: the earliest
  t.Chunk(2000);
  CallSoonThreadsafe(t, kMainThread);
  std::vector<findings::Finding> found = ClosedLoopUses(t);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].time_ns(), 1015);
  EXPECT_TRUE(absl::StrContains(found[0].message(), "(3 times)")) << found[0].message();
}

// Two call sites: two findings, each with its own count.
TEST(RunTables, HandOffsFromTwoSitesStayApart) {
  Trace t;
  LoopThatRanOnce(t);
  for (int i = 0; i < 300; ++i) {
    CallSoonThreadsafe(t, kMainThread, kUserStack);
    if (i % 3 == 0) CallSoonThreadsafe(t, kMainThread, kOtherStack);
  }
  EXPECT_EQ(t.Kept("loop_affinity.pending_handoffs"), 2u);
  std::vector<findings::Finding> found = ClosedLoopUses(t);
  ASSERT_EQ(found.size(), 2u);
  std::string messages = found[0].message() + "\n" + found[1].message();
  EXPECT_TRUE(absl::StrContains(messages, "(300 times)")) << messages;
  EXPECT_TRUE(absl::StrContains(messages, "(100 times)")) << messages;
}

// run_coroutine_threadsafe makes a new future each time: each hand-off is
// unlike the others. Kept up to a cap; past it, counted and noted, and the
// finding is still there.
TEST(RunTables, DistinctHandOffsIntoAStoppedLoopAreCappedWithANote) {
  const uint64_t cap = analyzer::LoopAffinity::kMaxPendingHandoffs;
  Trace t;
  LoopThatRanOnce(t);
  for (uint64_t i = 0; i < cap / 2; ++i) RunCoroutineThreadsafe(t, 10'000'000 + i);
  EXPECT_EQ(t.Kept("loop_affinity.pending_handoffs"), cap / 2);
  for (uint64_t i = cap / 2; i < 3 * cap; ++i) RunCoroutineThreadsafe(t, 10'000'000 + i);
  EXPECT_EQ(t.Kept("loop_affinity.pending_handoffs"), cap);  // it was 3 * cap
  EXPECT_EQ(t.Kept("model.futures_pending"), 3 * cap);  // not this test's table: the futures wait
  std::vector<findings::Finding> found = ClosedLoopUses(t);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(absl::StrContains(found[0].message(), "(10000 times)")) << found[0].message();
  EXPECT_TRUE(HasNoteWith(t, "20000 more, into loops that never ran again"));
}

// Hand-offs past the cap into a loop that then runs again were never lost
// work: no note, nothing kept.
TEST(RunTables, HandOffsPastTheCapIntoALoopThatRunsAgainAreNotNoted) {
  const uint64_t cap = analyzer::LoopAffinity::kMaxPendingHandoffs;
  Trace t;
  LoopThatRanOnce(t);
  for (uint64_t i = 0; i < 2 * cap; ++i) RunCoroutineThreadsafe(t, 10'000'000 + i);
  t.Add(trace::LOOP_RUN_BEGIN, kMainThread, kLoop);
  EXPECT_EQ(t.Kept("loop_affinity.pending_handoffs"), 0u);
  EXPECT_TRUE(ClosedLoopUses(t).empty());
  EXPECT_FALSE(HasNoteWith(t, "hand-offs into stopped event loops"));
}

// Per request: a job that runs and one cancelled while it waits in the
// queue of a one-worker pool (it never begins: nothing is written when a
// worker takes it off the queue and skips it).
void RequestsCancellingQueuedWork(Trace& t, EntityId first, int n) {
  for (int i = 0; i < n; ++i) {
    const EntityId runs = 2 * (first + i), cancelled = runs + 1;
    t.Add(trace::EXECUTOR_SUBMIT, kMainThread, kExecutor, runs, 0, kJob);
    t.Add(trace::EXECUTOR_SUBMIT, kMainThread, kExecutor, cancelled, 0, kJob);
    t.Add(trace::FUTURE_DONE, kMainThread, cancelled);  // Future.cancel()
    t.Add(trace::WORK_BEGIN, kWorker, kExecutor, runs);
    t.Add(trace::FUTURE_DONE, kWorker, runs);
    t.Add(trace::WORK_END, kWorker, kExecutor, runs);
  }
}

TEST(RunTables, CancelledQueuedWorkIsForgottenOnceThePoolMovesOn) {
  Trace t;
  t.Add(trace::EXECUTOR_CREATED, kMainThread, kExecutor, 0, /*max_workers=*/1);
  RequestsCancellingQueuedWork(t, 1000, 1000);
  const uint64_t queued_1000 = t.Kept("model.executor_queued");
  const uint64_t jobs_1000 = t.Kept("saturation.jobs");
  RequestsCancellingQueuedWork(t, 2000, 9000);
  // The last cancelled job may still be in the queue: nothing later began.
  EXPECT_LE(queued_1000, 1u);  // it was 1,000
  EXPECT_LE(t.Kept("model.executor_queued"), 1u);  // it was 10,000
  EXPECT_EQ(jobs_1000, 0u);  // it was 1,000
  EXPECT_EQ(t.Kept("saturation.jobs"), 0u);
  EXPECT_EQ(t.Kept("model.futures_pending"), 0u);
}

// Cancelled work still in the queue is still queued: a worker busy while
// it waits there is a saturated pool, as before; once later work began, it
// is gone and no longer keeps a later busy spell saturated.
TEST(RunTables, CancelledWorkCountsAsQueuedUntilThePoolMovesOn) {
  Trace t;
  t.Add(trace::EXECUTOR_CREATED, kMainThread, kExecutor, 0, /*max_workers=*/1);
  t.Add(trace::EXECUTOR_SUBMIT, kMainThread, kExecutor, 1, 0, kJob);
  t.Add(trace::WORK_BEGIN, kWorker, kExecutor, 1);
  t.Add(trace::EXECUTOR_SUBMIT, kMainThread, kExecutor, 2, 0, kJob);
  t.Add(trace::FUTURE_DONE, kMainThread, 2);  // cancelled: still in the queue
  t.Add(trace::EXECUTOR_SUBMIT, kMainThread, kExecutor, 3, 0, kJob);
  EXPECT_EQ(t.Kept("model.executor_queued"), 2u);
  t.Add(trace::WORK_END, kWorker, kExecutor, 1);
  t.Add(trace::WORK_BEGIN, kWorker, kExecutor, 3);  // the worker skipped 2
  EXPECT_EQ(t.Kept("model.executor_queued"), 0u);
  EXPECT_EQ(t.Kept("saturation.episodes"), 1u);  // while 1 ran and 2, 3 waited
}

}  // namespace
}  // namespace waitgraph
