// The pictures: a deadlock's cycle as a graph (rules/cycle_graph), drawn by
// Graphviz (cli/cycle_picture) without letting a thread's name be read as
// Graphviz escapes or markup; the timeline's SVG escaping.
#include <map>
#include <set>
#include <string>

#include "analysed_trace.h"
#include "cli/cycle_picture.h"
#include "cli/timeline_svg.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace waitgraph {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const findings::Finding* FindingNamed(const testing_support::Analysed& a, const std::string& name) {
  for (const findings::Finding& f : a.findings) {
    if (f.name() == name) return &f;
  }
  return nullptr;
}

// Every node is left by one edge and entered by one: a single cycle.
void ExpectOneCycle(const findings::CycleGraph& g) {
  std::map<std::string, int> out, in;
  std::set<std::string> nodes;
  for (const auto& n : g.nodes()) nodes.insert(n.id());
  for (const auto& e : g.edges()) {
    ++out[e.from()];
    ++in[e.to()];
    EXPECT_TRUE(nodes.count(e.from()) && nodes.count(e.to())) << e.ShortDebugString();
  }
  for (const std::string& n : nodes) {
    EXPECT_EQ(out[n], 1) << n;
    EXPECT_EQ(in[n], 1) << n;
  }
}

TEST(CycleGraph, SeedDeadlockIsDrawnWithRolesAndTheUsersLines) {
  auto a = testing_support::Analyse("asgiref_shutdown_deadlock");
  const findings::Finding* f = FindingNamed(*a, "cross-call-deadlock");
  ASSERT_NE(f, nullptr);
  const findings::CycleGraph& g = f->cycle();
  EXPECT_FALSE(g.latent());
  ExpectOneCycle(g);
  std::map<std::string, const findings::GraphNode*> by_id;
  for (const auto& n : g.nodes()) by_id[n.id()] = &n;
  ASSERT_TRUE(by_id.count("thread:100"));
  EXPECT_EQ(by_id["thread:100"]->label(), "MainThread");
  EXPECT_THAT(by_id["thread:100"]->role(), HasSubstr("runs event loop"));
  ASSERT_TRUE(by_id.count("loop:1"));
  ASSERT_TRUE(by_id.count("future:4"));
  EXPECT_THAT(by_id["future:4"]->role(), HasSubstr("AsyncToSync"));
  bool worker_waits_at_user_line = false;
  for (const auto& e : g.edges()) {
    if (e.from() == "thread:200") {
      EXPECT_EQ(e.to(), "future:4");
      EXPECT_EQ(e.label(), "waits in CurrentThreadExecutor.run_until_future");
      worker_waits_at_user_line = e.location().path() == "/srv/app.py" && e.location().line() == 20;
    }
    if (e.from() == "loop:1") EXPECT_EQ(e.label(), "runs only on");
  }
  EXPECT_TRUE(worker_waits_at_user_line);
}

TEST(CycleGraph, FindingsWithoutACycleHaveNone) {
  auto a = testing_support::Analyse("context_lost_write_gather");
  ASSERT_FALSE(a->findings.empty());
  for (const findings::Finding& f : a->findings) EXPECT_EQ(f.cycle().nodes_size(), 0) << f.name();
}

findings::CycleGraph HostileGraph() {
  findings::CycleGraph g;
  auto* a = g.add_nodes();
  a->set_id("thread:1");
  a->set_kind("thread");
  a->set_label("evil\"\\N<b>&x");  // a thread may be named anything
  auto* b = g.add_nodes();
  b->set_id("thread:2");
  b->set_kind("thread");
  b->set_label("other");
  auto* ab = g.add_edges();
  ab->set_from("thread:1");
  ab->set_to("thread:2");
  ab->set_label("waits in Thread.join");
  ab->mutable_location()->set_path("/src/app/main.py");
  ab->mutable_location()->set_line(12);
  auto* ba = g.add_edges();
  ba->set_from("thread:2");
  ba->set_to("thread:1");
  ba->set_label("waits in Thread.join");
  auto* dangling = g.add_edges();  // malformed: skipped, not a crash
  dangling->set_from("thread:2");
  dangling->set_to("thread:99");
  return g;
}

TEST(CyclePicture, NamesAreTextNotGraphvizEscapesOrMarkup) {
  auto dot = cli::CycleDot(HostileGraph(), "t", "/src");
  ASSERT_TRUE(dot.ok()) << dot.status();
  EXPECT_THAT(*dot, HasSubstr(R"(evil\"\\N<b>&x)"));   // quote escaped by DOT, backslash doubled
  EXPECT_THAT(*dot, HasSubstr("app/main.py:12"));       // relative to the source root
  EXPECT_THAT(*dot, Not(HasSubstr("thread:99")));
  auto svg = cli::CycleSvg(HostileGraph(), "t", "/src");
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_THAT(*svg, HasSubstr("<svg"));
  EXPECT_THAT(*svg, HasSubstr("evil&quot;\\N&lt;b&gt;&amp;x"));  // \N not replaced by the node id
  EXPECT_THAT(*svg, Not(HasSubstr("<b>")));
}

TEST(CyclePicture, ShortWhereIsRelativeUnderTheRootElseTheFileName) {
  findings::Location loc;
  loc.set_path("/src/app/main.py");
  loc.set_line(7);
  EXPECT_EQ(cli::ShortWhere(loc, "/src"), "app/main.py:7");
  EXPECT_EQ(cli::ShortWhere(loc, "/src/"), "app/main.py:7");
  EXPECT_EQ(cli::ShortWhere(loc, "/elsewhere"), "main.py:7");
  EXPECT_EQ(cli::ShortWhere(loc, "/sr"), "main.py:7");  // a prefix of a name is not a directory
}

TEST(TimelineSvg, EscapesNamesAndDrawsEveryTrack) {
  cli::TimelineView view;
  view.origin = 0;
  view.end = 2000000000;
  view.tracks = {{1, "Main<Thread>", false}, {cli::kLoopTrackBase + 1, "loop 1: \"x\" & y", true}};
  cli::TimelineSpan span;
  span.track = 0;
  span.begin = 0;
  span.end = 1000000000;
  span.category = "wait";
  span.name = "Thread.join";
  span.args = {{"where", "a<b>.py:1"}};
  view.spans.push_back(span);
  std::string svg = cli::TimelineSvg(view);
  EXPECT_THAT(svg, HasSubstr("Main&lt;Thread&gt;"));
  EXPECT_THAT(svg, HasSubstr("loop 1: &quot;x&quot; &amp; y"));
  EXPECT_THAT(svg, HasSubstr("where: a&lt;b&gt;.py:1"));
  EXPECT_THAT(svg, Not(HasSubstr("<Thread>")));
}

}  // namespace
}  // namespace waitgraph
