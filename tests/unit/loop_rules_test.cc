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
#include "rules/registry.h"

namespace waitgraph {
namespace {

using testing::HasSubstr;

std::string TraceDir() { return std::string(WAITGRAPH_SOURCE_DIR) + "/testdata/traces/"; }

struct Analysed {
  analyzer::Model model;
  analyzer::ClassGraph classes;
  analyzer::LoopAffinity loops;
  std::vector<findings::Finding> findings;
};

std::unique_ptr<Analysed> Analyse(const std::string& name) {
  auto a = std::make_unique<Analysed>();
  a->model.set_observer(&a->classes);
  a->model.AddSink(&a->loops);
  absl::Status status = analyzer::LoadTextTrace(TraceDir() + name + ".textproto", a->model);
  EXPECT_TRUE(status.ok()) << status;
  std::vector<analyzer::Deadlock> deadlocks = analyzer::FindDeadlocks(a->model);
  rules::Registry registry;
  rules::RegisterAllRules(registry);
  rules::AnalysisInput input{a->model, a->classes, deadlocks};
  input.loop_affinity = &a->loops;
  a->findings = registry.Run(input);
  return a;
}

std::vector<std::string> ExpectedFindings(const std::string& name) {
  std::ifstream in(TraceDir() + name + ".expected");
  EXPECT_TRUE(in) << "missing " << name << ".expected";
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

class LoopRulesDiffTest : public testing::TestWithParam<std::string> {};

TEST_P(LoopRulesDiffTest, GivesExactlyTheExpectedFindings) {
  auto a = Analyse(GetParam());
  std::vector<std::string> got;
  for (const auto& f : a->findings) got.push_back(f.code() + " " + f.name());
  EXPECT_THAT(got, testing::UnorderedElementsAreArray(ExpectedFindings(GetParam())));
  for (const auto& f : a->findings) {
    EXPECT_FALSE(f.message().empty());
    EXPECT_FALSE(f.fix().empty());
    EXPECT_EQ(f.fingerprint().size(), 16u);
    EXPECT_FALSE(f.location().path().empty()) << f.message();
  }
}

INSTANTIATE_TEST_SUITE_P(Traces, LoopRulesDiffTest,
                         testing::Values("loop_queue_crossing", "loop_closed_transport",
                                         "loop_foreign_thread_call", "loop_churn", "loop_silent"));

TEST(LoopCrossing, NamesBothLoopsAndTheObjectsLine) {
  auto a = Analyse("loop_queue_crossing");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), HasSubstr("Queue made at /srv/app.py:10"));
  EXPECT_THAT(f.message(),
              HasSubstr("bound to event loop made by asyncio.run at /srv/app.py:40 on lifespan"));
  EXPECT_THAT(f.message(), HasSubstr("Queue.put_nowait at /srv/app.py:25"));
  EXPECT_THAT(f.message(),
              HasSubstr("from event loop made by asyncio.run at /srv/app.py:30 on request-0"));
  EXPECT_EQ(f.location().line(), 25u);
}

TEST(ClosedLoopUse, TellsTheTransportStoryOnceAndTheStoppedLoop) {
  auto a = Analyse("loop_closed_transport");
  ASSERT_EQ(a->findings.size(), 2u);
  std::string all = a->findings[0].message() + "\n" + a->findings[1].message();
  EXPECT_THAT(all,
              HasSubstr("_SelectorSocketTransport made at /srv/app.py:14 belongs to event loop "
                        "made by AsyncToSync.__call__ at /srv/app.py:20 on MainThread, run by "
                        "worker-1, closed"));
  EXPECT_THAT(all, HasSubstr("Transport.write at /srv/app.py:17 used it after that loop closed, "
                             "from event loop made by AsyncToSync.__call__ at /srv/app.py:21"));
  EXPECT_THAT(all, HasSubstr("call_soon_threadsafe at /srv/app.py:23 handed work to event loop"));
  EXPECT_THAT(all, HasSubstr("had stopped and never ran again"));
  EXPECT_THAT(all, testing::Not(HasSubstr("create_future")));
}

TEST(NonThreadsafeLoopCall, NamesTheFutureAndCountsRepeats) {
  auto a = Analyse("loop_foreign_thread_call");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), HasSubstr("call_soon at /srv/app.py:30 (waking the waiters of Future "
                                     "made at /srv/app.py:12)"));
  EXPECT_THAT(f.message(), HasSubstr("thread MainThread, which runs no event loop"));
  EXPECT_THAT(f.message(), HasSubstr("while loop-thread runs it"));
  EXPECT_THAT(f.message(), HasSubstr("(2 times)"));
}

TEST(LoopChurn, CountsLoopsAndTheirOrigin) {
  auto a = Analyse("loop_churn");
  ASSERT_EQ(a->findings.size(), 1u);
  EXPECT_THAT(a->findings[0].message(), HasSubstr("MainThread made 5 short-lived event loops"));
  EXPECT_THAT(a->findings[0].message(),
              HasSubstr("5 event loop made by AsyncToSync.__call__ at /srv/app.py:12"));
  EXPECT_EQ(a->findings[0].severity(), findings::NOTE);
}

}  // namespace
}  // namespace waitgraph
