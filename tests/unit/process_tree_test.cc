// Roles of the processes of a service (cli/process_tree.h), from the
// reports' pid, parent pid, origin and start time alone.
#include "cli/process_tree.h"

#include <gtest/gtest.h>

namespace waitgraph::cli {
namespace {

findings::Report Process(uint32_t pid, uint32_t parent, const std::string& origin, uint64_t start) {
  findings::Report r;
  r.set_pid(pid);
  r.set_parent_pid(parent);
  r.set_origin(origin);
  r.set_start_monotonic_ns(start);
  return r;
}

TEST(ProcessTreeTest, ForkedWorkersAreNumberedInForkOrderUnderTheirMaster) {
  // Listed out of order: worker 2's shim started first, but it was forked second.
  std::vector<findings::Report> reports = {Process(12, 10, "fork", 300), Process(10, 1, "", 100),
                                           Process(11, 10, "fork", 200)};
  AssignRoles(reports);
  EXPECT_EQ(reports[1].role(), "master");
  EXPECT_EQ(reports[2].role(), "worker 1");
  EXPECT_EQ(reports[0].role(), "worker 2");
  EXPECT_EQ(DescribeRole(reports[0]), "worker 2 of 10");
}

TEST(ProcessTreeTest, SpawnWorkersAndMultiprocessingHelpers) {
  std::vector<findings::Report> reports = {
      Process(20, 1, "", 100), Process(21, 20, "multiprocessing-resource-tracker", 150),
      Process(22, 20, "multiprocessing-spawn", 200), Process(23, 20, "multiprocessing-spawn", 210)};
  AssignRoles(reports);
  EXPECT_EQ(reports[0].role(), "master");
  EXPECT_EQ(reports[1].role(), "resource tracker");
  EXPECT_EQ(reports[2].role(), "worker 1");
  EXPECT_EQ(reports[3].role(), "worker 2");
}

TEST(ProcessTreeTest, ExecdChildrenAndLoneForksAreNoWorkers) {
  // `sh -c "python a.py; python b.py"`: two exec'd programs, no roles;
  // a forked child whose parent's trace is not here is only "forked child".
  std::vector<findings::Report> reports = {Process(30, 29, "", 100), Process(31, 29, "", 200),
                                           Process(41, 40, "fork", 300)};
  AssignRoles(reports);
  EXPECT_EQ(reports[0].role(), "");
  EXPECT_EQ(reports[1].role(), "");
  EXPECT_EQ(reports[2].role(), "forked child");
  EXPECT_EQ(DescribeRole(reports[0]), "");
}

TEST(ProcessTreeTest, TwoTracesOfOneForkedProcessAreOneWorker) {
  // One forked process with two traces (it stopped and restarted the shim).
  std::vector<findings::Report> reports = {Process(50, 1, "", 100), Process(51, 50, "fork", 200),
                                           Process(51, 50, "fork", 250), Process(52, 50, "fork", 300)};
  AssignRoles(reports);
  EXPECT_EQ(reports[1].role(), "worker 1");
  EXPECT_EQ(reports[2].role(), "worker 1");
  EXPECT_EQ(reports[3].role(), "worker 2");
}

TEST(ProcessTreeTest, ExecdImageOfAWorkerIsThatWorker) {
  // os.fork(), some work, then os.execv of Python: two images of pid 61.
  std::vector<findings::Report> reports = {Process(60, 1, "", 100), Process(61, 60, "fork", 200),
                                           Process(61, 60, "", 260), Process(62, 60, "fork", 300)};
  AssignRoles(reports);
  EXPECT_EQ(reports[1].role(), "worker 1");
  EXPECT_EQ(reports[2].role(), "worker 1");
  EXPECT_EQ(reports[3].role(), "worker 2");
}

TEST(ProcessTreeTest, AForkThatOnlyExecdIsLeftOut) {
  // os.fork() then os.execv at once: the forked image recorded nothing; the
  // exec'd program is a plain process, its parent no master for it.
  findings::Report superseded = Process(71, 70, "fork", 200);
  superseded.set_superseded_by_exec(true);
  std::vector<findings::Report> reports = {Process(70, 1, "", 100), superseded, Process(71, 70, "", 260)};
  AssignRoles(reports);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].role(), "");
  EXPECT_EQ(reports[1].pid(), 71u);
  EXPECT_FALSE(reports[1].superseded_by_exec());
  EXPECT_EQ(reports[1].role(), "");
  // Read alone, such a trace is still shown.
  std::vector<findings::Report> alone = {superseded};
  AssignRoles(alone);
  EXPECT_EQ(alone.size(), 1u);
}

}  // namespace
}  // namespace waitgraph::cli
