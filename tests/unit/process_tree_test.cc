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

}  // namespace
}  // namespace waitgraph::cli
