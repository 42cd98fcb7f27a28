// Hostile traces (issue 13 item 5): a trace from an untrusted source must
// not make the analyzer misbehave. Times that would overflow saturate; a
// trace in a newer format is refused with a message, not misread.
#include <cstdint>
#include <fstream>
#include <limits>

#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "gtest/gtest.h"
#include "rules/registry.h"
#include "trace/chunk_file.h"

namespace waitgraph {
namespace {

trace::TraceChunk ChunkWithTimes(uint64_t base, std::initializer_list<uint64_t> deltas) {
  trace::TraceChunk chunk;
  chunk.set_format_version(trace::kFormatVersion);
  chunk.set_base_time_ns(base);
  uint64_t id = 1;
  for (uint64_t delta : deltas) {
    trace::Event* e = chunk.add_events();
    e->set_kind(trace::WAIT_BEGIN);
    e->set_thread(7);
    e->set_subject(id++);
    e->set_object(99);
    e->set_arg(trace::ENTITY_FUTURE);
    e->set_time_delta_ns(delta);
  }
  return chunk;
}

TEST(HostileTrace, TimesSaturateInsteadOfOverflowing) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  analyzer::TraceAnalysis analysis("hostile");  // fed in memory
  analysis.AddChunk(ChunkWithTimes(kMax - 5, {0, kMax, kMax, 3}));
  const analyzer::Model& model = analysis.model();
  EXPECT_GE(model.first_time(), 0);
  EXPECT_GE(model.last_time(), model.first_time());
  EXPECT_EQ(model.last_time(), std::numeric_limits<analyzer::TimeNs>::max());
  // Every rule computes durations from these times.
  rules::Registry registry;
  rules::RegisterAllRules(registry);
  auto deadlocks = analyzer::FindDeadlocks(model);
  for (const auto& f : registry.Run(rules::InputFor(analysis, deadlocks))) {
    EXPECT_FALSE(f.code().empty());
  }
}

TEST(HostileTrace, NewerFormatIsRefusedWithAMessage) {
  trace::TraceChunk chunk;
  chunk.set_format_version(trace::kFormatVersion + 1);
  std::string path = testing::TempDir() + "/newer.wgtrace";
  std::ofstream(path, std::ios::binary) << trace::kFileMagic << trace::FrameChunk(chunk.SerializeAsString());
  trace::ChunkFileReader reader(path);
  std::vector<trace::TraceChunk> chunks;
  EXPECT_FALSE(reader.Poll(chunks));
  EXPECT_TRUE(chunks.empty());
  EXPECT_NE(std::string(reader.status().message()).find("newer than this waitgraph reads"),
            std::string::npos)
      << reader.status();
}

TEST(HostileTrace, OversizedPayloadIsNeverFramed) {
  std::string huge(size_t(trace::kMaxFramePayload) + 1, 'x');
  EXPECT_TRUE(trace::FrameChunk(huge).empty());
}

}  // namespace
}  // namespace waitgraph

namespace waitgraph {
namespace {

trace::TraceChunk ChunkOf(uint64_t sequence) {
  trace::TraceChunk chunk;
  chunk.set_format_version(trace::kFormatVersion);
  chunk.set_sequence(sequence);
  return chunk;
}

trace::Event* AddEvent(trace::TraceChunk& chunk, trace::EventKind kind, uint64_t subject,
                       uint64_t object = 0, int64_t arg = 0, uint64_t thread = 7) {
  trace::Event* e = chunk.add_events();
  e->set_kind(kind);
  e->set_thread(thread);
  e->set_subject(subject);
  e->set_object(object);
  e->set_arg(arg);
  e->set_time_delta_ns(1000);
  return e;
}

bool HasNote(const analyzer::TraceAnalysis& analysis, const std::string& part) {
  for (const auto& note : analysis.Notes(/*writer_gone=*/true)) {
    if (note.find(part) != std::string::npos) return true;
  }
  return false;
}

TEST(HostileTrace, AChunkWithoutFormatVersionIsRefused) {
  trace::TraceChunk chunk = ChunkOf(0);
  chunk.clear_format_version();
  AddEvent(chunk, trace::THREAD_STARTED, 7);
  analyzer::TraceAnalysis analysis("unversioned");
  EXPECT_FALSE(analysis.Feed(std::string(trace::kFileMagic) +
                             trace::FrameChunk(chunk.SerializeAsString())));
  EXPECT_TRUE(analysis.unusable());
  EXPECT_NE(std::string(analysis.status().message()).find("has no format version"),
            std::string::npos)
      << analysis.status();
}

TEST(HostileTrace, EventsPastTheLimitAreCountedAndNoted) {
  analyzer::TraceAnalysis analysis("long", analyzer::ModelLimits{.events = 100});
  for (uint64_t c = 0; c < 3; ++c) {
    trace::TraceChunk chunk = ChunkOf(c);
    for (uint64_t i = 0; i < 60; ++i) AddEvent(chunk, trace::THREAD_STARTED, c * 100 + i + 1);
    analysis.AddChunk(chunk);
  }
  EXPECT_EQ(analysis.model().stats().events, 100u);
  EXPECT_EQ(analysis.model().stats().events_over_limit, 80u);
  EXPECT_EQ(analysis.model().threads().size(), 100u);
  EXPECT_TRUE(HasNote(analysis, "the last 80 events (after the first 100) were left out"));
}

// Short events that make the analysis copy a long name (a wait's API) grow
// memory far faster than the trace: the heap, not the event count, bounds it.
TEST(HostileTrace, AnalysisStopsAtItsMemoryLimit) {
  analyzer::TraceAnalysis analysis("amplified", analyzer::ModelLimits{.memory_bytes = 32u << 20});
  trace::TraceChunk names = ChunkOf(0);
  auto* s = names.add_strings();
  s->set_id(1);
  s->set_value(std::string(64 * 1024, 'w'));
  analysis.AddChunk(names);
  for (uint64_t c = 1; c <= 4; ++c) {
    trace::TraceChunk chunk = ChunkOf(c);
    for (uint64_t i = 0; i < 1000; ++i) {  // 4,000 waits never ended: 256 MiB of names
      AddEvent(chunk, trace::WAIT_BEGIN, c * 1000 + i, 99, trace::ENTITY_FUTURE, 1000 + i)
          ->set_name(1);
    }
    analysis.AddChunk(chunk);
  }
  EXPECT_GT(analysis.model().stats().events_over_limit, 2000u);
  EXPECT_LT(analysis.model().waits().size(), 1600u);
  EXPECT_TRUE(HasNote(analysis, "32 MiB"));
}

TEST(HostileTrace, InternedDefinitionsPastTheLimitAreLeftOut) {
  analyzer::TraceAnalysis analysis("big-strings", analyzer::ModelLimits{.interned_bytes = 1 << 20});
  trace::TraceChunk chunk = ChunkOf(0);
  for (uint32_t id = 1; id <= 64; ++id) {
    auto* s = chunk.add_strings();
    s->set_id(id);
    s->set_value(std::string(64 * 1024, 'x'));  // 4 MiB in all
  }
  analysis.AddChunk(chunk);
  EXPECT_FALSE(analysis.model().String(1).empty());
  EXPECT_TRUE(analysis.model().String(64).empty());
  EXPECT_GT(analysis.model().stats().interned_over_limit, 40u);
  EXPECT_TRUE(HasNote(analysis, "past 1 MiB"));
}

TEST(HostileTrace, ListsOfOneEntityAreBounded) {
  analyzer::TraceAnalysis analysis("wide", analyzer::ModelLimits{.per_entity = 16});
  trace::TraceChunk chunk = ChunkOf(0);
  AddEvent(chunk, trace::WAIT_BEGIN, 1, 99, trace::ENTITY_FUTURE);
  for (uint64_t i = 0; i < 100; ++i) AddEvent(chunk, trace::WAIT_TARGET, 1, 100 + i, trace::ENTITY_FUTURE);
  for (uint64_t w = 2; w < 100; ++w) AddEvent(chunk, trace::WAIT_BEGIN, w, 99, trace::ENTITY_FUTURE);
  for (uint64_t i = 0; i < 100; ++i) AddEvent(chunk, trace::FUTURE_PRODUCER, 5, 200 + i, trace::ENTITY_FUTURE);
  analysis.AddChunk(chunk);
  const analyzer::Model& model = analysis.model();
  EXPECT_EQ(model.FindWait(1)->targets.size(), 16u);
  EXPECT_EQ(model.FindThread(7)->active_waits.size(), 16u);
  EXPECT_EQ(model.FindFuture(5)->after.size(), 16u);
  EXPECT_TRUE(HasNote(analysis, "entries past 16 per thread, wait or future"));
}

// A class graph as deep as the trace says: lockdep's cycle search and the
// lock-order one must not recurse per node (a deep recursion overflows the
// stack; ASan and the fuzzer would see it).
TEST(HostileTrace, LongChainsOfLockOrderDoNotRecurse) {
  analyzer::TraceAnalysis analysis("chain");
  trace::TraceChunk chunk = ChunkOf(0);
  constexpr uint64_t kClasses = 200'000;
  for (uint64_t c = 1; c <= kClasses; ++c) AddEvent(chunk, trace::LOCK_CLASS, c);
  for (uint64_t c = 1; c < kClasses; ++c) AddEvent(chunk, trace::LOCK_ORDER, c, c + 1);
  AddEvent(chunk, trace::LOCK_ORDER, kClasses, 1);  // closes one huge cycle
  analysis.AddChunk(chunk);
  auto cycles = analysis.lock_order().FindCycles();
  ASSERT_EQ(cycles.size(), 1u);
  EXPECT_EQ(cycles[0].edges.size(), kClasses);
}

}  // namespace
}  // namespace waitgraph

namespace waitgraph {
namespace {

// Issue 13: each loop snapshot (LOOP_IDLE) looked at every task of every
// loop: 50,000 tasks and 50,000 snapshots of other loops made 2.5 billion
// visits. Now a snapshot visits its own loop's tasks only, and each task
// at most twice after it was last mentioned.
TEST(HostileTrace, LoopSnapshotsStayLinearInTasks) {
  constexpr uint64_t kTasks = 50000, kIdles = 50000, kLoop = 1, kOtherLoop = 2;
  trace::TraceChunk chunk;
  chunk.set_format_version(trace::kFormatVersion);
  chunk.set_base_time_ns(1);
  for (uint64_t task = 1000; task < 1000 + kTasks; ++task) AddEvent(chunk, trace::TASK_INFO, task, kLoop);
  for (uint64_t i = 0; i < kIdles; ++i) AddEvent(chunk, trace::LOOP_IDLE, kOtherLoop + 2 * (i % 8), 0);
  // The loop's own snapshots: none of its tasks waits in them, so they end.
  for (int i = 0; i < 3; ++i) AddEvent(chunk, trace::LOOP_IDLE, kLoop, 0);
  analyzer::TraceAnalysis analysis("hostile");
  analysis.AddChunk(chunk);
  const analyzer::Model& model = analysis.model();
  EXPECT_LE(model.stats().snapshot_task_visits, 2 * kTasks);
  EXPECT_TRUE(model.tasks().empty());
}

// The same bound with tasks that do wait: mentioned by each snapshot, they
// stay, and each visit is paid for by an event of the snapshot before.
TEST(HostileTrace, WaitingTasksSurviveTheirLoopsSnapshots) {
  constexpr uint64_t kTasks = 500, kSnapshots = 40, kLoop = 1, kFuture = 5;
  trace::TraceChunk chunk;
  chunk.set_format_version(trace::kFormatVersion);
  chunk.set_base_time_ns(1);
  for (uint64_t s = 0; s < kSnapshots; ++s) {
    AddEvent(chunk, trace::LOOP_IDLE, kLoop, 0);
    for (uint64_t task = 1000; task < 1000 + kTasks; ++task) {
      if (s == 0) AddEvent(chunk, trace::TASK_INFO, task, kLoop);
      AddEvent(chunk, trace::TASK_WAITING, task, kFuture)->set_arg(trace::ENTITY_FUTURE);
    }
  }
  analyzer::TraceAnalysis analysis("waiting");
  analysis.AddChunk(chunk);
  const analyzer::Model& model = analysis.model();
  EXPECT_EQ(model.tasks().size(), kTasks);
  for (const auto& [id, task] : model.tasks()) EXPECT_TRUE(task.waiting()) << id;
  EXPECT_LE(model.stats().snapshot_task_visits, kTasks * kSnapshots);
}

}  // namespace
}  // namespace waitgraph
