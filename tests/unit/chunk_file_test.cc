// The trace framing: complete, growing, truncated and corrupt files.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "trace/chunk_file.h"

namespace waitgraph::trace {
namespace {

std::string Chunk(uint64_t sequence, int events) {
  TraceChunk chunk;
  chunk.set_format_version(kFormatVersion);
  chunk.set_sequence(sequence);
  for (int i = 0; i < events; ++i) {
    Event* e = chunk.add_events();
    e->set_kind(WAIT_BEGIN);
    e->set_subject(i + 1);
  }
  return FrameChunk(chunk.SerializeAsString());
}

std::string WriteFile(const std::string& name, const std::string& bytes) {
  // The pid: other test binaries (and other checkouts' runs) write files
  // of the same names in the same temporary directory at the same time.
  std::string path = testing::TempDir() + "/" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(ChunkFileReader, ReadsEveryChunk) {
  std::string path = WriteFile("ok.wgtrace", std::string(kFileMagic) + Chunk(0, 3) + Chunk(1, 2));
  ChunkFileReader reader(path);
  std::vector<TraceChunk> chunks;
  ASSERT_TRUE(reader.Poll(chunks));
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[1].events_size(), 2);
  EXPECT_EQ(reader.pending_bytes(), 0u);
}

TEST(ChunkFileReader, FollowsAGrowingFile) {
  std::string second = Chunk(1, 1);
  std::string path = WriteFile("grow.wgtrace", std::string(kFileMagic) + Chunk(0, 1) +
                                                   second.substr(0, 5));
  ChunkFileReader reader(path);
  std::vector<TraceChunk> chunks;
  ASSERT_TRUE(reader.Poll(chunks));
  EXPECT_EQ(chunks.size(), 1u);
  EXPECT_EQ(reader.pending_bytes(), 5u);  // not yet whole: not an error
  std::ofstream(path, std::ios::app | std::ios::binary) << second.substr(5);
  ASSERT_TRUE(reader.Poll(chunks));
  EXPECT_EQ(chunks.size(), 2u);
  EXPECT_EQ(reader.pending_bytes(), 0u);
}

TEST(ChunkFileReader, TruncatedLastChunkKeepsTheOthers) {
  std::string last = Chunk(2, 4);
  std::string path = WriteFile("cut.wgtrace", std::string(kFileMagic) + Chunk(0, 1) + Chunk(1, 1) +
                                                  last.substr(0, last.size() - 3));
  ChunkFileReader reader(path);
  std::vector<TraceChunk> chunks;
  ASSERT_TRUE(reader.Poll(chunks));
  EXPECT_EQ(chunks.size(), 2u);
  EXPECT_GT(reader.pending_bytes(), 0u);
}

TEST(ChunkFileReader, CorruptChunkStopsWithAStatusAndKeepsWhatCameBefore) {
  std::string bad = Chunk(1, 2);
  bad[bad.size() - 1] ^= 0x5a;  // payload no longer matches its checksum
  std::string path = WriteFile("bad.wgtrace", std::string(kFileMagic) + Chunk(0, 1) + bad);
  ChunkFileReader reader(path);
  std::vector<TraceChunk> chunks;
  EXPECT_FALSE(reader.Poll(chunks));
  EXPECT_EQ(chunks.size(), 1u);
  EXPECT_NE(reader.status().message().find("checksum"), std::string::npos);
}

TEST(ChunkFileReader, RejectsAFileThatIsNotATrace) {
  ChunkFileReader reader(WriteFile("text.txt", "hello, this is not a trace\n"));
  std::vector<TraceChunk> chunks;
  EXPECT_FALSE(reader.Poll(chunks));
  EXPECT_NE(reader.status().message().find("not a waitgraph trace"), std::string::npos);
}

TEST(ChunkFileReader, MissingFileIsNotFound) {
  ChunkFileReader reader(testing::TempDir() + "/does-not-exist.wgtrace");
  std::vector<TraceChunk> chunks;
  EXPECT_FALSE(reader.Poll(chunks));
  EXPECT_TRUE(absl::IsNotFound(reader.status()));
}

TEST(ChunkFileReader, EmptyFileIsNotYetATrace) {
  ChunkFileReader reader(WriteFile("empty.wgtrace", ""));
  std::vector<TraceChunk> chunks;
  EXPECT_TRUE(reader.Poll(chunks));  // a writer may not have started yet
  EXPECT_TRUE(chunks.empty());
}

}  // namespace
}  // namespace waitgraph::trace
