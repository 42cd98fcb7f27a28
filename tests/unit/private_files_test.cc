// trace/private_files: names, exclusive creation, directory checks, live
// pointers (the parts that need another user are in tests/safety/).
#include "trace/private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace waitgraph::trace {
namespace {

std::string FreshDir(const std::string& name) {
  std::string dir = testing::TempDir() + "/private-files-" + name + "-" + std::to_string(getpid());
  std::string cmd = "rm -rf '" + dir + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return dir;
}

TEST(PrivateFiles, Names) {
  EXPECT_EQ(ExpandPid("/t/app-%p.wgtrace", 42), "/t/app-42.wgtrace");
  EXPECT_EQ(ExpandPid("%p-%p", 7), "7-7");
  EXPECT_EQ(PerProcessName("/t/trace.wgtrace", 42), "/t/trace.42.wgtrace");
  EXPECT_EQ(PerProcessName("/t.d/trace", 42), "/t.d/trace.42");
  EXPECT_EQ(PerProcessName(".wgtrace", 42), ".wgtrace.42");
}

TEST(PrivateFiles, EnsurePrivateDirCreatesAndChecks) {
  std::string dir = FreshDir("ensure");
  ASSERT_TRUE(EnsurePrivateDir(dir).ok());
  struct stat st;
  ASSERT_EQ(lstat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_TRUE(EnsurePrivateDir(dir).ok());  // again: it is ours
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  absl::Status open = EnsurePrivateDir(dir);
  EXPECT_FALSE(open.ok());
  EXPECT_NE(std::string(open.message()).find("0755"), std::string::npos) << open;
  std::string link = dir + "-link";
  unlink(link.c_str());
  ASSERT_EQ(chmod(dir.c_str(), 0700), 0);
  ASSERT_EQ(symlink(dir.c_str(), link.c_str()), 0);
  EXPECT_FALSE(EnsurePrivateDir(link).ok());  // never through a symlink
  unlink(link.c_str());
}

TEST(PrivateFiles, TracesAreNewFilesOnly) {
  std::string dir = FreshDir("traces");
  ASSERT_TRUE(EnsurePrivateDir(dir).ok());
  std::string path = dir + "/t.wgtrace", opened;
  int fd = OpenNewTrace(path, 42, opened);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(opened, path);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // It exists now: the next process gets its own file beside it.
  fd = OpenNewTrace(path, 43, opened);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(opened, dir + "/t.43.wgtrace");
  // The same pid again (its image after an exec): the next free number.
  fd = OpenNewTrace(path, 43, opened);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(opened, dir + "/t.43.2.wgtrace");
  fd = OpenNewTrace(path, 43, opened);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(opened, dir + "/t.43.3.wgtrace");
  // A symlink at the path is never followed.
  std::string target = dir + "/target", link = dir + "/l.wgtrace";
  std::ofstream(target) << "keep";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  fd = OpenNewTrace(link, 44, opened);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(opened, dir + "/l.44.wgtrace");
  std::ifstream in(target);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "keep");
}

TEST(PrivateFiles, FifoWithoutReaderFailsAtOnce) {
  std::string dir = FreshDir("fifo");
  ASSERT_TRUE(EnsurePrivateDir(dir).ok());
  std::string fifo = dir + "/f.wgtrace", opened;
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(OpenNewTrace(fifo, 42, opened), -1);
  EXPECT_EQ(errno, ENXIO);
}

TEST(PrivateFiles, LivePointers) {
  std::string dir = FreshDir("live");
  setenv("WAITGRAPH_DIR", dir.c_str(), 1);
  absl::StatusOr<std::string> pointer = WriteLivePointer("/some/trace.wgtrace");
  ASSERT_TRUE(pointer.ok()) << pointer.status();
  EXPECT_EQ(*pointer, dir + "/live/" + std::to_string(getpid()));
  std::optional<LivePointer> read = ReadLivePointer(*pointer);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->trace_path, "/some/trace.wgtrace");
  EXPECT_TRUE(read->start_ticks.has_value());
  EXPECT_TRUE(PointerMatchesLiveProcess(*read, getpid()));
  // The same pid with another start time is another process.
  LivePointer reused = *read;
  reused.start_ticks = *read->start_ticks + 1;
  EXPECT_FALSE(PointerMatchesLiveProcess(reused, getpid()));
  // A pointer whose process is gone is removed.
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  int status;
  waitpid(child, &status, 0);
  std::string stale = dir + "/live/" + std::to_string(child);
  std::ofstream(stale) << "/gone.wgtrace\n";
  EXPECT_EQ(RemoveStalePointers(dir + "/live"), 1);
  EXPECT_NE(access(stale.c_str(), F_OK), 0);
  EXPECT_EQ(access(pointer->c_str(), F_OK), 0);
  unsetenv("WAITGRAPH_DIR");
}

}  // namespace
}  // namespace waitgraph::trace
