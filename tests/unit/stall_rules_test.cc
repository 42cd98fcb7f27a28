// loop-stall and executor-saturation on hand-written traces: what a user
// reads in the finding (the blocking call, the user frames, how often, what
// was held up; the holders of a saturated pool).
#include <cstdlib>

#include "analyzer/class_graph.h"
#include "analyzer/saturation.h"
#include "analyzer/stall_model.h"
#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/analysed_trace.h"
#include "rules/registry.h"

namespace waitgraph {
namespace {

using testing_support::Analyse;
using testing_support::Analysed;
using testing_support::ExpectedFindings;
using testing_support::TraceDir;

using testing::HasSubstr;
using testing::Not;

const findings::Finding* Find(const Analysed& a, const std::string& name) {
  for (const auto& f : a.findings) {
    if (f.name() == name) return &f;
  }
  return nullptr;
}

TEST(LoopStall, NamesTheCallTheUserFramesHowOftenAndWhatWaited) {
  auto a = Analyse("loop_stall_blocking_sleep");
  const findings::Finding* f = Find(*a, "loop-stall");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity(), findings::WARNING);
  EXPECT_THAT(f->message(), HasSubstr("on MainThread was blocked for 0.500 s"));
  EXPECT_THAT(f->message(),
              HasSubstr("in time.sleep called from report() at app.py:19, in slow() at "
                        "app.py:24 (task RequestResponseCycle.run_asgi)"));
  EXPECT_THAT(f->message(), HasSubstr("2 times, 0.800 s in all"));
  EXPECT_THAT(f->message(), HasSubstr("2 ready callbacks (task handle_ping) delayed by up to 0.500 s"));
  EXPECT_THAT(f->message(), HasSubstr("1 socket with input nobody read"));
  EXPECT_EQ(f->location().path(), "/srv/app.py");
  EXPECT_EQ(f->location().line(), 19u);
  EXPECT_EQ(f->location().function(), "report");
  EXPECT_NEAR(f->held_seconds(), 0.5, 1e-9);
}

TEST(LoopStall, ARecordedWaitSaysWhatItWaitsForAndLongStallsAreErrors) {
  auto a = Analyse("loop_stall_recorded_wait");
  const findings::Finding* f = Find(*a, "loop-stall");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity(), findings::ERROR);
  EXPECT_THAT(f->message(), HasSubstr("blocked for 1.200 s in Future.result (waiting for render "
                                      "on executor created at"));
  EXPECT_THAT(f->message(), HasSubstr("called from handle() at jobs.py:18"));
}

TEST(LoopStall, ErrorThresholdIsConfigurable) {
  setenv("WAITGRAPH_STALL_ERROR_MS", "2000", 1);
  auto a = Analyse("loop_stall_recorded_wait");
  unsetenv("WAITGRAPH_STALL_ERROR_MS");
  const findings::Finding* f = Find(*a, "loop-stall");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity(), findings::WARNING);
}

TEST(ExecutorSaturation, NamesTheJobsAndWhatTheWorkersWaitIn) {
  auto a = Analyse("executor_saturated_by_waits");
  const findings::Finding* f = Find(*a, "executor-saturation");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity(), findings::WARNING);
  EXPECT_THAT(f->message(), HasSubstr("(max_workers=2) was busy while work queued behind it for 2.00 s"));
  EXPECT_THAT(f->message(), HasSubstr("pool_0 runs stream_chunks from stream_chunks() at "
                                      "app.py:31, waiting in queue.Queue.get"));
  EXPECT_EQ(f->related_size(), 2);
  EXPECT_EQ(f->location().line(), 31u);
}

TEST(ExecutorSaturation, AnyioLimiterHoldersAreTheSampledWorkerThreads) {
  auto a = Analyse("limiter_saturated_by_streams");
  const findings::Finding* f = Find(*a, "executor-saturation");
  ASSERT_NE(f, nullptr);
  EXPECT_THAT(f->message(), HasSubstr("anyio CapacityLimiter (total_tokens=2"));
  EXPECT_THAT(f->message(), HasSubstr("for 0.80 s, up to 1 waiting"));
  EXPECT_THAT(f->message(), HasSubstr("AnyIO worker thread in stream_chunks() at app.py:34, "
                                      "waiting in queue.Queue.get"));
}

// One finding per pool, the same from run to run: it tells the longest
// episode's duration but points at the first holder submitted from the
// program's own code, not at whichever episode lasted longest (asgiref's
// suite: a stdlib line one run, the test's line the next).
TEST(ExecutorSaturation, PointsAtTheProgramsLineWhicheverEpisodeLastedLongest) {
  auto a = Analyse("executor_saturated_twice");
  const findings::Finding* f = Find(*a, "executor-saturation");
  ASSERT_NE(f, nullptr);
  EXPECT_THAT(f->message(), HasSubstr("for 1.20 s (2 times)"));
  EXPECT_EQ(f->location().line(), 12u);
  EXPECT_THAT(f->location().path(), HasSubstr("app.py"));
  EXPECT_THAT(f->message(), HasSubstr("held by: single_thread_executor runs audit"));
}

TEST(ExecutorSaturation, ThresholdIsConfigurable) {
  setenv("WAITGRAPH_SATURATION_MS", "1000", 1);
  auto a = Analyse("limiter_saturated_by_streams");
  unsetenv("WAITGRAPH_SATURATION_MS");
  EXPECT_EQ(Find(*a, "executor-saturation"), nullptr);
}

TEST(ExecutorSaturation, LeavesASelfStarvedPoolToExecutorStarvation) {
  auto a = Analyse("pool_starvation");
  EXPECT_NE(Find(*a, "executor-starvation"), nullptr);
  EXPECT_EQ(Find(*a, "executor-saturation"), nullptr);
}

// Issue 11 item 5: what held the loop when it was not a call the program
// made. A stall mostly spent in a garbage collection is a note naming it,
// one just under half stays a warning about the code (both sides of the
// boundary), and one nothing in the trace explains is a note saying so.
TEST(LoopStall, MostlyGarbageCollectionIsAPauseNote) {
  auto a = Analyse("loop_stall_gc_most");
  ASSERT_EQ(a->findings.size(), 1u);
  const auto& f = a->findings[0];
  EXPECT_EQ(f.severity(), findings::NOTE);
  EXPECT_THAT(f.message(), HasSubstr("by a garbage collection pause (generation 2; 0.300 s of it"));
  EXPECT_THAT(f.message(), HasSubstr("triggered while running report() at app.py:19"));
  EXPECT_THAT(f.fix(), HasSubstr("gc.freeze()"));
  EXPECT_THAT(f.fix(), Not(HasSubstr("to_thread")));
}

TEST(LoopStall, LessThanHalfGarbageCollectionStaysAWarningAboutTheCode) {
  auto a = Analyse("loop_stall_gc_least");
  ASSERT_EQ(a->findings.size(), 1u);
  const auto& f = a->findings[0];
  EXPECT_EQ(f.severity(), findings::WARNING);
  EXPECT_THAT(f.message(), HasSubstr("running Python code in report() at app.py:19"));
  EXPECT_THAT(f.message(),
              HasSubstr("(0.200 s of it in garbage collection, up to generation 2)"));
  EXPECT_THAT(f.fix(), HasSubstr("do not block the event loop"));
}

TEST(LoopStall, UnexplainedStallsAreNotesThatSaySo) {
  auto a = Analyse("loop_stall_unexplained");
  ASSERT_EQ(a->findings.size(), 2u);
  for (const auto& f : a->findings) EXPECT_EQ(f.severity(), findings::NOTE);
  EXPECT_THAT(a->findings[0].message(), HasSubstr("(no sample: it ended before the watchdog"));
  EXPECT_THAT(a->findings[1].message(),
              HasSubstr("running library code in BlockingPortal._call_func() at "
                        "/usr/lib/python3/dist-packages/anyio/from_thread.py:219"));
  EXPECT_THAT(a->findings[1].message(), Not(HasSubstr("running Python code in  (")));
}

}  // namespace
}  // namespace waitgraph
