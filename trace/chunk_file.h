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

#include "absl/status/status.h"
#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::trace {

inline constexpr std::string_view kFileMagic = "WGTRACE1";
inline constexpr uint32_t kFrameMagic = 0x31434757;  // "WGC1"
inline constexpr uint32_t kFormatVersion = 1;
// A frame larger than this is treated as corruption, not as a huge chunk.
inline constexpr uint32_t kMaxFramePayload = 64u << 20;

uint32_t Fnv1a32(std::string_view bytes);

// Returns the bytes of one frame holding `payload`, or an empty string if
// the payload is larger than kMaxFramePayload (writers split chunks before:
// see the shim's recorder).
std::string FrameChunk(std::string_view payload);

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
  // Reads at most about `max_bytes` more of the file (past a whole frame):
  // a caller that wants bounded memory polls again while more_to_read().
  bool Poll(std::vector<TraceChunk>& out, uint64_t max_bytes = UINT64_MAX);
  // The last Poll() stopped at max_bytes, not at the end of the file.
  bool more_to_read() const { return more_to_read_; }

  // Like Poll(), over bytes that did not come from the file (a fuzzer, a
  // test): they continue whatever was fed or read before.
  bool Feed(std::string_view bytes, std::vector<TraceChunk>& out);

  // Bytes at the end that do not (yet) form a whole frame. Once the writer
  // is gone, a non-zero value means the trace was cut off there.
  uint64_t pending_bytes() const { return buffer_.size(); }
  uint64_t offset() const { return consumed_; }
  uint64_t chunks_read() const { return chunks_read_; }
  const absl::Status& status() const { return status_; }

 private:
  bool Fail(absl::Status status);
  bool ReadMore(uint64_t max_bytes);
  bool CheckHeader(bool& have_header);
  bool DecodeFrames(std::vector<TraceChunk>& out);
  std::string Refusal(const TraceChunk& chunk, uint64_t offset) const;

  std::string path_;
  std::FILE* file_ = nullptr;
  bool header_checked_ = false;
  bool more_to_read_ = false;
  std::string buffer_;     // bytes read but not yet consumed as frames
  uint64_t consumed_ = 0;  // file offset of buffer_[0]
  uint64_t chunks_read_ = 0;
  absl::Status status_;
};

}  // namespace waitgraph::trace

#endif  // WAITGRAPH_TRACE_CHUNK_FILE_H_
