// The context rules on hand-written traces (testdata/traces/context_*):
// what a user reads in each finding, and the context tree's answers.
#include <string>

#include "analyzer/class_graph.h"
#include "analyzer/context_model.h"
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

TEST(LostContextWrite, NamesTheWriteTheGatherAndTheRead) {
  auto a = Analyse("context_lost_write_gather");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_EQ(f.code(), "WG101");
  EXPECT_THAT(f.message(), HasSubstr("ContextVar 'request_id' set at app/signals.py:12"));
  EXPECT_THAT(f.message(), HasSubstr("the task made by asyncio.gather at app/signals.py:20"));
  EXPECT_THAT(f.message(), HasSubstr("the caller reads it at app/signals.py:21"));
  EXPECT_THAT(f.message(), HasSubstr("gets the default"));
  EXPECT_EQ(f.location().path(), "/srv/app/signals.py");
  EXPECT_EQ(f.location().line(), 12u);
  ASSERT_EQ(f.related_size(), 3);
  EXPECT_EQ(f.related(1).role(), "copied here");
  EXPECT_EQ(f.related(1).location().line(), 20u);
  EXPECT_EQ(f.related(2).role(), "read here");
  EXPECT_EQ(f.related(2).location().line(), 21u);
}

TEST(ContextNotPropagated, NamesTheSetTheHandOffAndTheRead) {
  auto a = Analyse("context_not_propagated_executor");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_THAT(f.message(), HasSubstr("ContextVar 'tenant' set at app/views.py:15 in the caller"));
  EXPECT_THAT(f.message(), HasSubstr("read as the default at app/views.py:11"));
  EXPECT_THAT(f.message(), HasSubstr("thread asyncio_0 by loop.run_in_executor at app/views.py:17"));
  EXPECT_EQ(f.location().line(), 11u);
}

TEST(ContextResetMismatch, NamesTheResetAndWhereTheTokenWasMade) {
  auto a = Analyse("context_reset_mismatch");
  ASSERT_EQ(a->findings.size(), 1u);
  const findings::Finding& f = a->findings[0];
  EXPECT_EQ(f.severity(), findings::ERROR);
  EXPECT_THAT(f.message(), HasSubstr("ContextVar 'current_user' reset at app/auth.py:17"));
  EXPECT_THAT(f.message(), HasSubstr("token made by the set at app/auth.py:11"));
  EXPECT_THAT(f.message(), HasSubstr("the task made by loop.create_task at app/auth.py:15"));
}

TEST(ContextModel, BindingsFollowCopiesAndTime) {
  auto a = Analyse("context_correct_uses");
  const analyzer::ContextModel& cm = a->contexts;
  // Task 201 (copied at t=2000) inherits the parent's request_id (set at
  // t=1000) until it sets its own (t=4000).
  const analyzer::VarAccess* b = cm.VisibleBinding(201, 51, 3500);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->context, 100u);
  b = cm.VisibleBinding(201, 51, 1000000);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->context, 201u);
  EXPECT_TRUE(cm.DescendsFrom(204, 100));
  EXPECT_FALSE(cm.DescendsFrom(100, 204));
  EXPECT_EQ(cm.VisibleBinding(100, 55, 1000000), nullptr);  // set only in a task
}

}  // namespace
}  // namespace waitgraph
