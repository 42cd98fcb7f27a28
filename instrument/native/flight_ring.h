// The flight recorder: keeps a trace file under a bound (WAITGRAPH_TRACE_MAX,
// `waitgraph run --trace-max`), on the writer thread only.
//
// The file stays an ordinary trace at every moment. When the next chunk
// would take it past the bound, the writer starts it over: a new file beside
// it (PATH.wrap) gets the magic, one checkpoint chunk (the definitions the
// kept chunks use and the live state the dropped ones left, see
// trace/flight_state.h), then the newest chunks, verbatim, up to half the
// bound; it is renamed over PATH and writing goes on there. A crash at any
// point leaves PATH whole (the old file, or the new one); a reader that
// follows PATH notices the rename and reopens it (trace/chunk_file.h).
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_FLIGHT_RING_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_FLIGHT_RING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "instrument/native/recorder.h"
#include "trace/flight_state.h"
#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::shim {

class FlightRing {
 public:
  // The smallest bound taken: a few chunks of a busy program.
  static constexpr uint64_t kMinBytes = 64 * 1024;

  // `path`: the trace file, already holding the magic; `max_bytes`: the bound.
  FlightRing(std::string path, uint64_t max_bytes, const trace::ProcessInfo& process);
  ~FlightRing();
  FlightRing(const FlightRing&) = delete;
  FlightRing& operator=(const FlightRing&) = delete;

  // The largest chunk payload to build: a chunk is what the file may exceed
  // its bound by, and what a wrap copies at least.
  size_t chunk_budget() const;
  // Definitions producers made, seen before they are written.
  void Remember(const PendingData& data);
  // Before `chunk` is encoded: starts the file over if a chunk could take
  // it past the bound (`fd` is then the new file's), then adds to `chunk`
  // the definitions of the ids it uses that the file no longer holds (they
  // were in dropped chunks). A wrap that fails (e.g. no space for the copy)
  // warns once and leaves the file growing.
  void Prepare(int& fd, trace::TraceChunk& chunk);
  // Appends `frame` (the chunk numbered `sequence`). False with errno.
  bool Write(int fd, const std::string& frame, uint64_t sequence);

 private:
  struct ChunkAt {
    uint64_t offset, size, sequence;
    bool checkpoint;
  };
  struct Ids {
    std::vector<uint32_t> strings, frames, stacks;
  };
  // Which ids the file defines now (by id).
  struct Defined {
    std::vector<bool> strings, frames, stacks;
    void Clear() { strings.clear(), frames.clear(), stacks.clear(); }
    void Add(const trace::TraceChunk& chunk);
  };

  bool Wrap(int& fd, uint64_t next_sequence);
  bool ReadFrames(size_t first, size_t last, std::string& bytes) const;
  trace::TraceChunk BuildCheckpoint(const std::vector<trace::TraceChunk>& kept,
                                    uint64_t first_kept_sequence);
  // Adds the definitions of `wanted` and of what they name (stacks name
  // frames, frames name strings), less those `skip` holds (if given).
  void AddDefinitions(const Ids& wanted, trace::TraceChunk& chunk, const Defined* skip) const;
  bool OpenReader(const std::string& path, int write_fd);

  std::string path_;
  uint64_t max_bytes_;
  trace::ProcessInfo process_;
  int read_fd_ = -1;  // the same file, for reading back what is dropped and kept
  uint64_t size_ = 0;
  std::vector<ChunkAt> chunks_;
  bool failed_ = false;
  uint64_t dropped_chunks_ = 0;

  // Every definition so far, by id (index 0 unused).
  std::vector<std::string> strings_ = std::vector<std::string>(1);
  std::vector<FrameDef> frames_ = std::vector<FrameDef>(1);
  std::vector<std::vector<uint32_t>> stacks_ = std::vector<std::vector<uint32_t>>(1);
  trace::FlightState state_;  // what the dropped chunks left
  Defined defined_;
};

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_FLIGHT_RING_H_
