// Format 2 (zstd-compressed chunk bodies), a reader following a bounded
// trace across a wrap (the file renamed over), and the state a flight
// recorder's checkpoint carries over (trace/flight_state.h).
#include <cstdio>
#include <fstream>

#include "gtest/gtest.h"
#include "trace/chunk_file.h"
#include "trace/flight_state.h"

namespace waitgraph::trace {
namespace {

TraceChunk Events(uint64_t sequence, int events) {
  TraceChunk chunk;
  chunk.set_sequence(sequence);
  chunk.set_base_time_ns(1000 * (sequence + 1));
  for (int i = 0; i < events; ++i) {
    Event* e = chunk.add_events();
    e->set_kind(WAIT_BEGIN);
    e->set_subject(sequence * 1000 + i + 1);
    e->set_time_delta_ns(1);
  }
  return chunk;
}

std::string Framed(const TraceChunk& chunk, int level = kZstdLevel) {
  std::string payload;
  EXPECT_TRUE(EncodeChunk(chunk, level, payload));
  return FrameChunk(payload);
}

std::string TempPath(const std::string& name) { return testing::TempDir() + "/" + name; }

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(ChunkEncoding, CompressedChunksDecodeToTheSameChunk) {
  TraceChunk chunk = Events(7, 500);
  chunk.add_strings()->set_value("Future.result");
  std::string payload;
  ASSERT_TRUE(EncodeChunk(chunk, kZstdLevel, payload));
  std::string plain;
  ASSERT_TRUE(EncodeChunk(chunk, 0, plain));
  EXPECT_LT(payload.size() * 4, plain.size());  // repetitive events compress well
  TraceChunk back;
  ASSERT_TRUE(DecodeChunk(payload, back));
  EXPECT_EQ(back.format_version(), kFormatVersion);
  EXPECT_EQ(back.sequence(), 7u);
  EXPECT_TRUE(back.zstd_body().empty());
  EXPECT_EQ(back.events_size(), 500);
  EXPECT_EQ(back.strings(0).value(), "Future.result");
}

TEST(ChunkEncoding, OldUncompressedTracesStillRead) {
  std::string path = TempPath("v1.wgtrace");
  Write(path, std::string(kFileMagic) + Framed(Events(0, 2), 0) + Framed(Events(1, 3), 0));
  ChunkFileReader reader(path);
  std::vector<TraceChunk> chunks;
  ASSERT_TRUE(reader.Poll(chunks));
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].format_version(), kFormatUncompressed);
  EXPECT_EQ(chunks[1].events_size(), 3);
}

TEST(ChunkEncoding, ACorruptBodyIsAnErrorNotACrash) {
  TraceChunk outer;
  outer.set_format_version(kFormatVersion);
  outer.set_zstd_body("definitely not zstd");
  TraceChunk chunk;
  EXPECT_FALSE(DecodeChunk(outer.SerializeAsString(), chunk));
}

// A bounded trace is started over by renaming a new file over the path:
// the reader finishes the old file, then reads the new one from the chunk
// after the last it saw, without the checkpoint (it has that state).
TEST(ChunkFileReader, FollowsABoundedTraceAcrossAWrap) {
  std::string path = TempPath("ring.wgtrace");
  Write(path, std::string(kFileMagic) + Framed(Events(0, 1)) + Framed(Events(1, 1)));
  ChunkFileReader reader(path);
  std::vector<TraceChunk> chunks;
  ASSERT_TRUE(reader.Poll(chunks));
  ASSERT_EQ(chunks.size(), 2u);

  TraceChunk checkpoint = Events(1, 1);  // stands for chunks 0 and 1
  checkpoint.mutable_checkpoint()->set_first_kept_sequence(2);
  std::string wrapped = TempPath("ring.wgtrace.wrap");
  Write(wrapped, std::string(kFileMagic) + Framed(checkpoint) + Framed(Events(2, 1)) +
                     Framed(Events(3, 1)));
  ASSERT_EQ(std::rename(wrapped.c_str(), path.c_str()), 0);
  ASSERT_TRUE(reader.Poll(chunks));
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[2].sequence(), 2u);
  EXPECT_EQ(chunks[3].sequence(), 3u);
  EXPECT_EQ(reader.wraps_followed(), 1u);
  EXPECT_EQ(reader.chunks_missed(), 0u);
}

TEST(ChunkFileReader, TakesTheCheckpointWhenChunksWereDroppedUnread) {
  std::string path = TempPath("ring2.wgtrace");
  Write(path, std::string(kFileMagic) + Framed(Events(0, 1)));
  ChunkFileReader reader(path);
  std::vector<TraceChunk> chunks;
  ASSERT_TRUE(reader.Poll(chunks));
  TraceChunk checkpoint = Events(4, 1);
  checkpoint.mutable_checkpoint()->set_first_kept_sequence(5);
  std::string wrapped = TempPath("ring2.wgtrace.wrap");
  Write(wrapped, std::string(kFileMagic) + Framed(checkpoint) + Framed(Events(5, 1)));
  ASSERT_EQ(std::rename(wrapped.c_str(), path.c_str()), 0);
  ASSERT_TRUE(reader.Poll(chunks));
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_TRUE(chunks[1].has_checkpoint());
  EXPECT_EQ(reader.chunks_missed(), 4u);  // chunks 1 to 4
}

Event Make(EventKind kind, uint64_t subject, uint64_t object = 0, int64_t arg = 0,
           uint64_t thread = 1) {
  Event e;
  e.set_kind(kind);
  e.set_subject(subject);
  e.set_object(object);
  e.set_arg(arg);
  e.set_thread(thread);
  return e;
}

std::vector<EventKind> Kinds(const FlightState& state) {
  std::vector<EventKind> out;
  for (const TimedEvent& t : state.LiveEvents()) out.push_back(t.event.kind());
  return out;
}

TEST(FlightState, KeepsWhatIsLiveAndDropsWhatEnded) {
  FlightState state;
  uint64_t t = 0;
  state.Apply(Make(THREAD_STARTED, 11), ++t);
  state.Apply(Make(THREAD_STARTED, 12), ++t);
  state.Apply(Make(THREAD_EXITED, 12), ++t);
  state.Apply(Make(WAIT_BEGIN, 100, 5, ENTITY_FUTURE), ++t);  // ends
  state.Apply(Make(WAIT_END, 100), ++t);
  state.Apply(Make(EXECUTOR_CREATED, 7, 0, 2), ++t);
  state.Apply(Make(EXECUTOR_SUBMIT, 7, 50), ++t);          // done below
  state.Apply(Make(FUTURE_DONE, 50), ++t);
  state.Apply(Make(EXECUTOR_SUBMIT, 7, 51), ++t);          // still queued
  state.Apply(Make(WAIT_BEGIN, 101, 51, ENTITY_FUTURE), ++t);  // still waiting
  state.Apply(Make(CONTEXT_VAR_SET, 9, 3), ++t);           // history
  EXPECT_EQ(Kinds(state),
            (std::vector<EventKind>{THREAD_STARTED, EXECUTOR_CREATED, EXECUTOR_SUBMIT, WAIT_BEGIN}));
  EXPECT_EQ(state.LiveEvents()[2].event.object(), 51u);
  EXPECT_EQ(state.last_time_ns(), t);
}

TEST(FlightState, ATracedLockKeepsItsHoldingAndForgetsReleasedOnes) {
  FlightState state;
  state.Apply(Make(LOCK_CLASS, 1), 1);
  state.Apply(Make(LOCK_TRACED, 20, 1, /*holder*/ 0), 2);
  state.Apply(Make(LOCK_ACQUIRED, 20, 0, 1, /*thread*/ 5), 3);
  state.Apply(Make(LOCK_RELEASED, 20, 0, 0, 5), 4);
  state.Apply(Make(LOCK_ACQUIRED, 20, 0, 1, /*thread*/ 6), 5);
  std::vector<TimedEvent> live = state.LiveEvents();
  ASSERT_EQ(live.size(), 3u);
  EXPECT_EQ(live[1].event.kind(), LOCK_TRACED);
  EXPECT_EQ(live[2].event.thread(), 6u);  // held by 6 since time 5
  EXPECT_EQ(live[2].time_ns, 5u);
}

TEST(FlightState, AShutDownExecutorIsDroppedOnceItsWorkIsDone) {
  FlightState state;
  state.Apply(Make(EXECUTOR_CREATED, 7, 0, 2), 1);
  state.Apply(Make(EXECUTOR_SUBMIT, 7, 50), 2);
  state.Apply(Make(WORK_BEGIN, 7, 50, 0, /*thread*/ 8), 3);
  state.Apply(Make(EXECUTOR_SHUTDOWN, 7, 0, SHUTDOWN_WAIT), 4);
  EXPECT_FALSE(state.LiveEvents().empty());
  state.Apply(Make(FUTURE_DONE, 50), 5);
  state.Apply(Make(WORK_END, 7, 50, 0, 8), 6);
  EXPECT_TRUE(state.LiveEvents().empty());
}

}  // namespace
}  // namespace waitgraph::trace

namespace waitgraph::trace {
namespace {

void PutLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A zstd frame by hand: single segment, an 8-byte declared size, then
// `blocks` RLE blocks, each `block` copies of one byte (a few bytes each
// however much they expand to).
std::string ZstdFrame(uint64_t declared, int blocks, uint32_t block) {
  std::string f;
  PutLe(f, 0xFD2FB528u, 4);
  f.push_back(static_cast<char>(0xE0));  // 8-byte content size, single segment
  PutLe(f, declared, 8);
  for (int i = 0; i < blocks; ++i) {
    const uint32_t header = (block << 3) | (1u << 1) | (i + 1 == blocks ? 1u : 0u);  // RLE
    PutLe(f, header, 3);
    f.push_back('\0');  // tag 0: never valid protobuf
  }
  return f;
}

std::string ChunkWithBody(const std::string& body) {
  TraceChunk outer;
  outer.set_format_version(kFormatVersion);
  outer.set_zstd_body(body);
  return outer.SerializeAsString();
}

// A hostile chunk cannot make the reader allocate what its header claims.
TEST(ChunkEncoding, ACompressedBodyIsBoundedByItsSizeAndItsDeclaration) {
  TraceChunk chunk;
  std::string why;
  // 200 MiB claimed by a 20-byte frame: refused before anything is decompressed.
  EXPECT_FALSE(DecodeChunk(ChunkWithBody(ZstdFrame(200u << 20, 1, 16)), chunk, &why));
  EXPECT_NE(why.find("claims a body of 209715200 bytes in 17 compressed bytes"), std::string::npos)
      << why;
  // 1,000 bytes declared, 8,000 in the blocks: stops at the declaration
  // (zstd or the size check refuses it).
  why.clear();
  EXPECT_FALSE(DecodeChunk(ChunkWithBody(ZstdFrame(1000, 8, 1000)), chunk, &why));
  EXPECT_FALSE(why.empty());
  // Declared more than it holds.
  why.clear();
  EXPECT_FALSE(DecodeChunk(ChunkWithBody(ZstdFrame(5000, 1, 1000)), chunk, &why));
  EXPECT_FALSE(why.empty());
  // Under 16 MiB any expansion is allowed (a real chunk of one repeated
  // byte): 4 MiB from 2 KiB decompresses, and is then no chunk.
  why.clear();
  EXPECT_FALSE(DecodeChunk(ChunkWithBody(ZstdFrame(4u << 20, 32, 128u << 10)), chunk, &why));
  EXPECT_EQ(why, "has a body that is not a chunk (damaged, or a string in it is not UTF-8)");

  // The reader says so in one line and keeps the chunks before.
  std::string path = TempPath("bomb.wgtrace");
  std::string bomb = ChunkWithBody(ZstdFrame(200u << 20, 1, 16));
  Write(path, std::string(kFileMagic) + Framed(Events(0, 2)) + FrameChunk(bomb));
  ChunkFileReader reader(path);
  std::vector<TraceChunk> chunks;
  EXPECT_FALSE(reader.Poll(chunks));
  EXPECT_EQ(chunks.size(), 1u);
  const std::string message(reader.status().message());
  EXPECT_NE(message.find("is corrupt at byte"), std::string::npos) << message;
  EXPECT_NE(message.find("(chunk 1 claims a body of 209715200 bytes"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace waitgraph::trace
