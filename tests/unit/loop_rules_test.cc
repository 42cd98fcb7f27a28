// Loop-affinity rules on hand-written traces: each testdata/traces/<case>
// .textproto below, analysed with the LoopAffinity sink and run through every
// rule, gives exactly the findings in <case>.expected; the messages name
// both loops by their origin and the object by the line that made it.
#include <fstream>

#include "analyzer/class_graph.h"
#include "analyzer/loop_affinity.h"
#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/analysed_trace.h"
#include "rules/registry.h"

namespace waitgraph {
namespace {

using testing_support::Analyse;
using testing_support::ExpectedFindings;
using testing_support::TraceDir;

using testing::HasSubstr;

TEST(LoopCrossing, NamesBothLoopsAndTheObjectsLine) {
  auto a = Analyse("loop_queue_crossing");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), HasSubstr("Queue made at app.py:10"));
  EXPECT_THAT(f.message(),
              HasSubstr("bound to event loop made by asyncio.run at app.py:40 on lifespan"));
  EXPECT_THAT(f.message(), HasSubstr("Queue.put_nowait at app.py:25"));
  EXPECT_THAT(f.message(),
              HasSubstr("from event loop made by asyncio.run at app.py:30 on request-0"));
  EXPECT_EQ(f.location().line(), 25u);
}

TEST(LoopCrossing, NamesTheFrameworkLineThatMadeTheUse) {
  auto a = Analyse("loop_crossing_made_by_framework");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(),
              HasSubstr("Event.set at app.py:22 (called in TestRunner.run_asyncgen_fixture, "
                        "<site-packages>/anyio/_backends/_asyncio.py:2160)"));
  EXPECT_EQ(f.location().line(), 22u);
}

TEST(ClosedLoopUse, TellsTheTransportStoryOnceAndTheStoppedLoop) {
  auto a = Analyse("loop_closed_transport");
  ASSERT_EQ(a->findings.size(), 2u);
  std::string all = a->findings[0].message() + "\n" + a->findings[1].message();
  EXPECT_THAT(all,
              HasSubstr("_SelectorSocketTransport made at app.py:14 belongs to event loop "
                        "made by AsyncToSync.__call__ at app.py:20 on MainThread, run by "
                        "worker-1, closed"));
  EXPECT_THAT(all, HasSubstr("Transport.write at app.py:17 used it after that loop closed, "
                             "from event loop made by AsyncToSync.__call__ at app.py:21"));
  EXPECT_THAT(all, HasSubstr("call_soon_threadsafe at app.py:23 handed work to event loop"));
  EXPECT_THAT(all, HasSubstr("had stopped and never ran again"));
  EXPECT_THAT(all, testing::Not(HasSubstr("create_future")));
}

TEST(NonThreadsafeLoopCall, NamesTheFutureAndCountsRepeats) {
  auto a = Analyse("loop_foreign_thread_call");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), HasSubstr("call_soon at app.py:30 (waking the waiters of Future "
                                     "made at app.py:12)"));
  EXPECT_THAT(f.message(), HasSubstr("thread MainThread, which runs no event loop"));
  EXPECT_THAT(f.message(), HasSubstr("while loop-thread runs it"));
  EXPECT_THAT(f.message(), HasSubstr("(2 times)"));
}

TEST(LoopChurn, NamesTheFrameworkThatMadeTheLoopsNotRunpyOrAsyncio) {
  auto a = Analyse("loop_churn_made_by_framework");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), HasSubstr("6 event loops made by pytest_asyncio.event_loop "
                                     "(<site-packages>/pytest_asyncio/plugin.py:513)"));
  EXPECT_THAT(f.message(), testing::Not(HasSubstr("runpy")));
  EXPECT_EQ(f.location().path(), "/usr/lib/python3/dist-packages/pytest_asyncio/plugin.py");
  EXPECT_EQ(f.location().line(), 513u);
}

TEST(LoopChurn, CountsLoopsAndTheirOrigin) {
  auto a = Analyse("loop_churn");
  ASSERT_EQ(a->findings.size(), 1u);
  EXPECT_THAT(a->findings[0].message(), HasSubstr("MainThread made 5 short-lived event loops"));
  EXPECT_THAT(a->findings[0].message(),
              HasSubstr("5 event loops made by AsyncToSync.__call__ at app.py:12"));
  EXPECT_EQ(a->findings[0].severity(), findings::NOTE);
}

}  // namespace
}  // namespace waitgraph
