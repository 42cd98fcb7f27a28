// Diff tests: each testdata/traces/<case>.textproto, analysed and run through
// every rule, must give exactly the findings listed in <case>.expected
// ("CODE name" per line; an empty file means: silent).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "analyzer/class_graph.h"
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

class RulesDiffTest : public testing::TestWithParam<std::string> {};

TEST_P(RulesDiffTest, GivesExactlyTheExpectedFindings) {
  auto a = Analyse(GetParam());
  std::vector<std::string> got;
  for (const auto& f : a->findings) got.push_back(f.code() + " " + f.name());
  EXPECT_THAT(got, testing::UnorderedElementsAreArray(ExpectedFindings(GetParam())));
  for (const auto& f : a->findings) {
    EXPECT_FALSE(f.message().empty());
    EXPECT_FALSE(f.fix().empty());
    EXPECT_EQ(f.fingerprint().size(), 16u);
  }
}

INSTANTIATE_TEST_SUITE_P(Traces, RulesDiffTest,
                         testing::Values("asgiref_shutdown_deadlock", "asgiref_pipeline_completes",
                                         "loop_queue_crossing", "loop_closed_transport",
                                         "loop_foreign_thread_call", "loop_churn", "loop_silent",
                                         "pool_starvation", "threadsafe_free_loop",
                                         "timed_wait_breaks_cycle", "self_wait_on_own_loop",
                                         "any_of_with_free_target",
                                         "context_lost_write_gather",
                                         "context_not_propagated_executor",
                                         "context_reset_mismatch", "context_correct_uses",
                                         "loop_stall_blocking_sleep", "loop_stall_recorded_wait",
                                         "pool_busy_briefly", "executor_saturated_by_waits",
                                         "executor_saturated_twice",
                                         "limiter_saturated_by_streams", "deadlocked_loop_not_a_stall",
                                         "two_pools_wait_on_each_other",
                                         "async_to_sync_awaits_queued_work",
                                         "async_to_sync_dependency_done",
                                         "lock_abba_cycle", "lock_order_inversion_latent",
                                         "lock_order_consistent",
                                         "task_lock_cycle", "nothing_can_move_event",
                                         "nothing_can_move_listening",
                                         // issue 11: both sides of each boundary
                                         "loop_owner_uses_idle_loop",
                                         "loop_other_thread_uses_idle_loop",
                                         "loop_idle_use_then_moves",
                                         "loop_churn_below_threshold", "loop_churn_above_threshold",
                                         "loop_churn_one_long_lived",
                                         "loop_churn_all_just_short_lived",
                                         "loop_churn_made_by_framework",
                                         "loop_crossing_made_by_framework",
                                         "handoff_closed_loop_fallback",
                                         "handoff_closed_loop_no_fallback",
                                         "context_local_read_while_creator_runs",
                                         "context_local_read_after_creator_loop_closed",
                                         "context_local_thread_critical_write"));

// Every hand-written trace, listed above or not: no analysis misses an event
// kind it handles because its Wants() left the kind out (Analyse compares the
// report with one where every sink saw every event).
TEST(SinkFilters, EveryTraceGivesTheSameReportWithEveryEventToEverySink) {
  int traces = 0;
  for (const auto& entry : std::filesystem::directory_iterator(TraceDir())) {
    if (entry.path().extension() != ".textproto") continue;
    SCOPED_TRACE(entry.path().string());
    testing_support::AnalyseTextTraceAt(entry.path().string());
    ++traces;
  }
  EXPECT_GT(traces, 40);
}

TEST(CrossCallDeadlock, TwoPoolsWaitingOnEachOtherNameBothPoolsAndBothWaits) {
  auto a = Analyse("two_pools_wait_on_each_other");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "waits in place_order → Future.result for charge_card queued on executor 'billing' "
      "created at shop.py:4 (max_workers=1)"));
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "waits in issue_refund → Future.result for restock queued on executor 'orders' "
      "created at shop.py:3 (max_workers=1)"));
  EXPECT_THAT(f.fix(), testing::HasSubstr("separate pools for the outer and inner jobs"));
}

TEST(CrossCallDeadlock, AsyncToSyncWaitingForQueuedTaskWorkNamesAsgirefsExecutor) {
  auto a = Analyse("async_to_sync_awaits_queued_work");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "which waits (AsyncToSync task: send_receipt awaits task deliver_receipt) for "
      "write_audit_row queued on asgiref's thread-sensitive executor of a "
      "ThreadSensitiveContext (made at <site-packages>/asgiref/sync.py:410 in SyncToAsync.__call__, first "
      "used at shop.py:46 in handle_request) (max_workers=1)"));
  EXPECT_EQ(f.location().function(), "checkout_view");
  bool task_stack = false;
  for (const auto& rel : f.related()) task_stack |= rel.location().function() == "deliver_receipt";
  EXPECT_TRUE(task_stack) << "the background task's stack is a related location";
  EXPECT_THAT(f.fix(), testing::HasSubstr("thread-sensitive"));
}

TEST(LockCycle, NamesBothLocksAndTheirHolders) {
  auto a = Analyse("lock_abba_cycle");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "transfer waits in transfer → Lock.acquire for Lock created at app.py:5, held by audit "
      "since app.py:18"));
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "audit waits in audit → Lock.acquire for Lock created at app.py:4, held by transfer "
      "since app.py:10"));
  EXPECT_EQ(f.location().line(), 12u);
  EXPECT_THAT(f.fix(), testing::HasSubstr("one order everywhere"));
}

TEST(LockOrderInversion, SaysWhereEachOrderWasTaken) {
  auto a = Analyse("lock_order_inversion_latent");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "refresher took Lock created at app.py:7 while holding Lock created at app.py:6 "
      "(app.py:13"));
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "writer took Lock created at app.py:6 while holding Lock created at app.py:7 "
      "(app.py:20"));
  EXPECT_EQ(f.location().line(), 13u);
  std::vector<std::string> roles;
  for (const auto& r : f.related()) {
    roles.push_back(r.role() + ":" + std::to_string(r.location().line()));
  }
  EXPECT_THAT(roles, testing::ElementsAre("takes:13", "held since:12", "takes:20", "held since:18"));
}

TEST(CrossCallDeadlock, NamesBothSidesOfTheSeedCycle) {
  auto a = Analyse("asgiref_shutdown_deadlock");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), testing::HasSubstr("MainThread (running event loop created at app.py:50)"));
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "ThreadSensitiveContext.__aexit__ → ThreadPoolExecutor.shutdown → Thread.join"));
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "ThreadPoolExecutor-0_0 waits in AsyncToSync.__call__ → CurrentThreadExecutor.run_until_future"));
  EXPECT_THAT(f.message(), testing::HasSubstr("and that loop runs only on MainThread"));
  EXPECT_EQ(f.location().path(), "/srv/app.py");
  EXPECT_EQ(f.location().line(), 30u);
  EXPECT_NEAR(f.held_seconds(), 3.0, 0.01);  // since the worker, last, began to wait
  EXPECT_THAT(f.fix(), testing::HasSubstr("wait=False, cancel_futures=True"));
}

TEST(CrossCallDeadlock, TellsATaskCycleThroughAsyncioLocks) {
  auto a = Analyse("task_lock_cycle");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "task debit waits in transfer → Lock.acquire for an asyncio.Lock held by task credit"));
  EXPECT_THAT(f.message(), testing::HasSubstr(
      "task credit waits in transfer → Lock.acquire for an asyncio.Lock held by task debit"));
  EXPECT_EQ(f.location().path(), "/srv/bank.py");
  EXPECT_NEAR(f.held_seconds(), 3.0, 0.01);  // since the snapshot that saw it
  EXPECT_THAT(f.fix(), testing::HasSubstr("one global order"));
}

TEST(NothingCanMove, ListsEveryWaiterAndWhatIsIdle) {
  auto a = Analyse("nothing_can_move_event");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), testing::HasSubstr("task Task-1 waits in main → Event.wait"));
  EXPECT_THAT(f.message(), testing::HasSubstr("MainThread (running"));
  EXPECT_THAT(f.message(), testing::HasSubstr("asyncio_0 is an idle executor worker"));
  EXPECT_EQ(f.location().path(), "/srv/worker.py");
  EXPECT_EQ(f.location().line(), 15u);
  EXPECT_NEAR(f.held_seconds(), 3.0, 0.01);
}

TEST(CrossCallDeadlock, FingerprintIgnoresLineNumbers) {
  auto a = Analyse("asgiref_shutdown_deadlock");
  std::string text;
  {
    std::ifstream in(TraceDir() + "asgiref_shutdown_deadlock.textproto");
    std::stringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  // The same program with every line shifted by 7.
  for (const char* from : {"line: 30", "line: 20", "line: 50", "line: 28"}) {
    size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, std::string(from).size(), std::string(from) + "7");
  }
  std::string shifted = testing::TempDir() + "/shifted.textproto";
  std::ofstream(shifted) << text;
  auto shifted_analysed = testing_support::AnalyseTextTraceAt(shifted);
  const auto& findings = shifted_analysed->findings;
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].fingerprint(), a->findings[0].fingerprint());
  EXPECT_NE(findings[0].location().line(), a->findings[0].location().line());
}

TEST(PotentialCrossCallDeadlock, SaysWhereAndWhenEachEdgeWasSeen) {
  auto a = Analyse("asgiref_pipeline_completes");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), testing::HasSubstr("seen at +0.10 s"));
  EXPECT_THAT(f.message(), testing::HasSubstr("seen at +0.21 s"));
  EXPECT_THAT(f.message(), testing::HasSubstr("never all at once"));
  EXPECT_EQ(f.related_size(), 2);
}

TEST(ExecutorStarvation, NamesEveryHolder) {
  auto a = Analyse("pool_starvation");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), testing::HasSubstr("max_workers=2"));
  EXPECT_THAT(f.message(), testing::HasSubstr("pool-0 waits in job → Future.result"));
  EXPECT_THAT(f.message(), testing::HasSubstr("pool-1 waits in job → Future.result"));
  EXPECT_THAT(f.message(), testing::HasSubstr("2 items queued"));
  EXPECT_EQ(f.related_size(), 2);
}

}  // namespace
}  // namespace waitgraph
