// The text report's building blocks: whose code a frame is and how its path
// is shown, wrapping, counts, and the progress line.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "analyzer/source_root.h"
#include "cli/progress.h"
#include "cli/text_layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace waitgraph {
namespace {

using analyzer::ClassifyFile;
using analyzer::FrameOrigin;

const std::vector<std::string> kPrefixes = {"/usr/lib/python3.11/", "/usr/lib/python3/dist-packages/",
                                            "/srv/app/.venv/lib/python3.11/site-packages/"};

TEST(SourceRoot, ProjectFilesAreRelativeToTheRoot) {
  auto c = ClassifyFile("/srv/app/views.py", false, kPrefixes, "/srv/app/");
  EXPECT_EQ(c.origin, FrameOrigin::kProject);
  EXPECT_EQ(c.display, "views.py");
}

TEST(SourceRoot, LibrariesHaveOnePathStyle) {
  auto stdlib = ClassifyFile("/usr/lib/python3.11/asyncio/tasks.py", true, kPrefixes, "/srv/app/");
  EXPECT_EQ(stdlib.origin, FrameOrigin::kStdlib);
  EXPECT_EQ(stdlib.display, "<stdlib>/asyncio/tasks.py");
  auto site = ClassifyFile("/usr/lib/python3/dist-packages/asgiref/sync.py", true, kPrefixes, "/srv/app/");
  EXPECT_EQ(site.origin, FrameOrigin::kSitePackages);
  EXPECT_EQ(site.display, "<site-packages>/asgiref/sync.py");
  EXPECT_EQ(ClassifyFile("<frozen runpy>", false, kPrefixes, "/srv/app/").origin, FrameOrigin::kStdlib);
}

TEST(SourceRoot, AProjectInstalledInSitePackagesIsTheUsers) {
  auto c = ClassifyFile("/usr/lib/python3/dist-packages/shop/views.py", true, kPrefixes,
                        "/usr/lib/python3/dist-packages/shop/");
  EXPECT_EQ(c.origin, FrameOrigin::kProject);
  EXPECT_EQ(c.display, "views.py");
}

TEST(SourceRoot, AVirtualenvInsideTheProjectStaysALibrary) {
  auto c = ClassifyFile("/srv/app/.venv/lib/python3.11/site-packages/redis/client.py", true, kPrefixes,
                        "/srv/app/");
  EXPECT_EQ(c.origin, FrameOrigin::kSitePackages);
  EXPECT_EQ(c.display, "<site-packages>/redis/client.py");
}

TEST(SourceRoot, OtherFilesKeepTheirPath) {
  auto c = ClassifyFile("/opt/tools/script.py", false, kPrefixes, "/srv/app/");
  EXPECT_EQ(c.origin, FrameOrigin::kOther);
  EXPECT_EQ(c.display, "/opt/tools/script.py");
}

TEST(SourceRoot, ARootIsNormalisedAsNamedAndWithSymlinksResolved) {
  std::string dir = ::testing::TempDir() + "wg-root-real";
  std::string link = ::testing::TempDir() + "wg-root-link";
  std::filesystem::create_directories(dir);
  std::filesystem::remove(link);
  std::filesystem::create_directory_symlink(dir, link);
  EXPECT_EQ(analyzer::NormaliseSourceRoot(link + "/./", /*resolve_symlinks=*/false), link + "/");
  EXPECT_EQ(analyzer::NormaliseSourceRoot(link), std::filesystem::canonical(dir).string() + "/");
  EXPECT_EQ(analyzer::NormaliseSourceRoot(""), "");
  std::filesystem::remove(link);
  std::filesystem::remove(dir);
}

TEST(TextLayout, WrapsAtSpacesAndKeepsLongWordsWhole) {
  auto lines = cli::WrapWords("aaa bbb ccc /a/very/long/path/that/does/not/fit.py ddd", 8, 10);
  EXPECT_THAT(lines, testing::ElementsAre("aaa bbb", "ccc", "/a/very/long/path/that/does/not/fit.py", "ddd"));
}

TEST(TextLayout, KeepsANumberWithItsUnit) {
  auto lines = cli::WrapWords("held for 2.1 s; done", 12, 12);
  EXPECT_THAT(lines, testing::ElementsAre("held for", "2.1 s; done"));
}

TEST(TextLayout, FitsAHeadlineToItsWidth) {
  EXPECT_EQ(cli::FitToWidth("short", 10), "short");
  std::string cut = cli::FitToWidth("MainThread and ThreadPoolExecutor-1_0 wait for each other", 30);
  EXPECT_LE(cli::Columns(cut), 30u);
  EXPECT_THAT(cut, testing::EndsWith("…"));
}

TEST(TextLayout, CountsInGoodGrammar) {
  EXPECT_EQ(cli::Count(1, "frame"), "1 frame");
  EXPECT_EQ(cli::Count(3, "event loop"), "3 event loops");
  EXPECT_EQ(cli::Count(0, "error"), "0 errors");
  EXPECT_EQ(cli::Count(2, "process", "processes"), "2 processes");
}

TEST(TextLayout, ColumnsIgnoreColourAndCountCharacters) {
  EXPECT_EQ(cli::Columns("\x1b[1;31merror\x1b[0m"), 5u);
  EXPECT_EQ(cli::Columns("a → b"), 5u);
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  return out;
}

TEST(Progress, ShowsALineAfterItsDelayAndErasesIt) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    cli::Progress progress("big.wgtrace", fds[1], /*delay_ms=*/20, /*force=*/true);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  close(fds[1]);
  std::string out = ReadAll(fds[0]);
  close(fds[0]);
  EXPECT_THAT(out, testing::HasSubstr("waitgraph: analysing big.wgtrace"));
  EXPECT_THAT(out, testing::EndsWith("\r\x1b[K"));
}

TEST(Progress, SaysNothingWhenTheWorkIsQuick) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  { cli::Progress progress("small.wgtrace", fds[1], /*delay_ms=*/1000, /*force=*/true); }
  close(fds[1]);
  EXPECT_EQ(ReadAll(fds[0]), "");
  close(fds[0]);
}

TEST(Progress, NeverWritesToAPipeUnlessForced) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    cli::Progress progress("big.wgtrace", fds[1], /*delay_ms=*/0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  close(fds[1]);
  EXPECT_EQ(ReadAll(fds[0]), "");
  close(fds[0]);
}

}  // namespace
}  // namespace waitgraph
