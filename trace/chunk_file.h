// Framing of a trace file: a magic header, then length-prefixed, checksummed
// TraceChunk records. Both the shim's writer and the analyzer's reader use
// this file and nothing else of each other.
//
//   file  := "WGTRACE1" frame*
//   frame := u32le kFrameMagic, u32le payload size, u32le fnv1a32(payload),
//            payload (a serialized TraceChunk)
//
// A reader can follow a file while it is being written: an incomplete last
// frame is simply "not yet there"; when the writer is gone it is "truncated".
#ifndef WAITGRAPH_TRACE_CHUNK_FILE_H_
#define WAITGRAPH_TRACE_CHUNK_FILE_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "trace/chunk_split.h"
#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::trace {

inline constexpr std::string_view kFileMagic = "WGTRACE1";
inline constexpr uint32_t kFrameMagic = 0x31434757;  // "WGC1"
// The newest format this code reads and writes: 2, a chunk's body
// compressed with zstd (TraceChunk.zstd_body); 1, uncompressed, is read too.
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kFormatUncompressed = 1;
// The zstd level the shim writes with: -1, zstd's first "fast" level, is
// as small as level 3 on the shim's chunks (4.5 against 4.7 bytes per event
// on asyncio_executor_heavy) for 31% fewer compression instructions on the
// writer thread; -4 was half again larger (bench/RESULTS.md, issue 12 third
// pass). Not 0: to EncodeChunk that means uncompressed (format 1).
inline constexpr int kZstdLevel = -1;
// A frame larger than this is treated as corruption, not as a huge chunk.
inline constexpr uint32_t kMaxFramePayload = 64u << 20;

uint32_t Fnv1a32(std::string_view bytes);

// Returns the bytes of one frame holding `payload`, or an empty string if
// the payload is larger than kMaxFramePayload (writers split chunks before:
// see the shim's recorder).
std::string FrameChunk(std::string_view payload);

// The payload of a frame holding `chunk`: format 2 (its body compressed
// at `zstd_level`), or format 1 with `zstd_level` 0. False if it cannot be
// encoded (cannot happen below kMaxFramePayload).
bool EncodeChunk(const TraceChunk& chunk, int zstd_level, std::string& payload);
// The same for `chunk` plus `events`, entries appended by AppendEvent
// (trace/chunk_split.h), that `chunk` holds no message for: the shim's
// writer, which encodes its events without a protobuf message each. The
// payload is the one EncodeChunk gives for the chunk with those events in
// chunk.events(), when `chunk` sets no field after events.
bool EncodeChunk(const TraceChunk& chunk, std::string_view events, int zstd_level,
                 std::string& payload);
// Parses a frame's payload into `chunk`, decompressing a format-2 body.
// False if it is not a chunk (a chunk of a newer format parses: check its
// format_version before using it), and then `why` says why, in words.
// A body is decompressed only as far as its declared size, and no further
// than 64 times its compressed size (at least 16 MiB, at most 256 MiB):
// a corrupt or crafted size cannot make the reader allocate more.
bool DecodeChunk(std::string_view payload, TraceChunk& chunk, std::string* why = nullptr);
// Like DecodeChunk, but the chunk's events are decoded into `events`
// instead of chunk.events() (trace/chunk_split.h: no message per event),
// unless the encoding is one the split does not take: then they are left in
// chunk.events() (all or, past a first part, the rest). Same outcome and
// `why` as DecodeChunk.
bool DecodeChunkSplit(std::string_view payload, TraceChunk& chunk, std::vector<EventFields>& events,
                      std::string* why = nullptr);

// Reads chunks from a trace file, incrementally: each Poll() returns the
// chunks completed since the last one. The first failure stays in status().
class ChunkFileReader {
 public:
  explicit ChunkFileReader(std::string path);
  ~ChunkFileReader();
  ChunkFileReader(const ChunkFileReader&) = delete;
  ChunkFileReader& operator=(const ChunkFileReader&) = delete;

  // Appends newly completed chunks to `out`. Returns false once the file is
  // unreadable or corrupt (see status()); chunks decoded before stay valid.
  // With a read limit, reads about that many bytes per call: call again
  // while !at_eof() to stream a large file.
  void set_read_limit(size_t bytes) { read_limit_ = bytes; }
  bool at_eof() const { return at_eof_; }
  bool Poll(std::vector<TraceChunk>& out);
  // Like Poll(), handing each chunk to `use` as it is decoded, in one
  // message reused for every chunk, its events decoded by DecodeChunkSplit:
  // those in chunk.events() first, then `events` (the analyzer's streaming
  // path: no allocation per event).
  using ChunkUse = absl::FunctionRef<void(const TraceChunk& chunk, absl::Span<const EventFields> events)>;
  bool PollEach(ChunkUse use);

  // Like Poll() and PollEach(), over bytes that did not come from the file
  // (a fuzzer, a test): they continue whatever was fed or read before.
  bool Feed(std::string_view bytes, std::vector<TraceChunk>& out);
  bool FeedEach(std::string_view bytes, ChunkUse use);

  // Bytes at the end that do not (yet) form a whole frame. Once the writer
  // is gone, a non-zero value means the trace was cut off there.
  uint64_t pending_bytes() const { return buffer_.size(); }
  uint64_t offset() const { return consumed_; }
  uint64_t chunks_read() const { return chunks_read_; }
  const absl::Status& status() const { return status_; }
  // Times a bounded trace (flight recorder) was started over under this
  // reader, and chunks it dropped before this reader saw them.
  uint64_t wraps_followed() const { return wraps_followed_; }
  uint64_t chunks_missed() const { return chunks_missed_; }

 private:
  bool Fail(absl::Status status);
  bool ReadMore();
  bool CheckHeader(bool& have_header);
  // Gives each whole frame's chunk to `take` (which may move it away), its
  // events split off into split_events_ with `split` (DecodeChunkSplit).
  using ChunkTake = absl::FunctionRef<void(TraceChunk&)>;
  bool DecodeFrames(ChunkTake take);
  bool PollFile(ChunkTake take);
  bool FeedBytes(std::string_view bytes, ChunkTake take);
  bool PollAll(ChunkTake take);
  // Why a decoded chunk cannot be used (no or a newer format), or "".
  std::string Refusal(const TraceChunk& chunk, uint64_t offset) const;
  // A bounded trace is started over by renaming a new file over the path:
  // true if the path now names another file than the one being read.
  bool Replaced() const;
  void SwitchToReplacement();
  // False for a chunk this reader has already seen (or the checkpoint
  // standing for chunks it has seen), after a switch.
  bool Wanted(const TraceChunk& chunk);

  std::string path_;
  std::FILE* file_ = nullptr;
  bool header_checked_ = false;
  std::string buffer_;     // bytes read but not yet consumed as frames
  uint64_t consumed_ = 0;  // file offset of buffer_[0]
  uint64_t chunks_read_ = 0;
  size_t read_limit_ = SIZE_MAX;
  bool at_eof_ = false;
  uint64_t next_sequence_ = 0;  // after the last chunk returned
  uint64_t skip_below_ = 0;     // set by a switch: chunks already seen
  uint64_t wraps_followed_ = 0;
  uint64_t chunks_missed_ = 0;
  absl::Status status_;
  TraceChunk scratch_;  // each chunk is decoded into it (PollEach)
  bool split_ = false;  // set while PollEach and FeedEach decode
  std::vector<EventFields> split_events_;
};

}  // namespace waitgraph::trace

#endif  // WAITGRAPH_TRACE_CHUNK_FILE_H_
