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
//
// Memory: the definitions a checkpoint needs are read back from the chunks
// being dropped, one chunk at a time (the kept chunks are copied in
// blocks, never held whole). Between wraps the ring keeps a copy of the
// definitions of the recorder's current and previous intern epochs only
// (Recorder::intern_epoch): what a new chunk can still name that the file
// may have dropped. When the intern tables forget, the ring forgets too.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_FLIGHT_RING_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_FLIGHT_RING_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
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
  // Definitions producers made, seen before they are written, and the
  // intern epochs begun since the last call.
  void Remember(const PendingData& data);
  // Before `chunk` is encoded: starts the file over if a chunk could take
  // it past the bound (`fd` is then the new file's), then adds to `chunk`
  // the definitions of the ids it uses that the file no longer holds (they
  // were in dropped chunks). A wrap that fails warns once and leaves the
  // file growing; false (with errno) if it failed for want of space
  // (ENOSPC, EDQUOT, EFBIG): the storage is full, the chunk is not to be
  // written, and the writer stops with its one warning.
  // `events`: the chunk's events, which the message does not hold.
  bool Prepare(int& fd, trace::TraceChunk& chunk, const std::vector<const EventRecord*>& events);
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

  // Definitions by id from `first` on (ids only grow): one epoch's and later.
  template <typename T>
  class Since {
   public:
    void Put(uint32_t id, T value);
    const T* Find(uint32_t id) const;
    void ForgetBelow(uint32_t id);
    size_t size() const { return items_.size(); }

   private:
    uint32_t first_ = 1;
    std::deque<std::optional<T>> items_;
  };
  // Definitions read back from the chunks a wrap drops (those the intern
  // epochs kept here do not hold).
  struct Dropped {
    std::unordered_map<uint32_t, std::vector<uint32_t>> stacks;
    std::unordered_map<uint32_t, FrameDef> frames;
    std::unordered_map<uint32_t, size_t> string_chunk;  // id -> index of the chunk defining it
    std::unordered_map<uint32_t, std::string> strings;  // those wanted, once read
  };
  void KeepDropped(const trace::TraceChunk& chunk, size_t index, Dropped& dropped) const;

  bool Wrap(int& fd, uint64_t next_sequence);
  bool ReadChunk(size_t index, trace::TraceChunk& chunk) const;
  bool CopyChunks(size_t first, size_t last, int to_fd) const;
  // False (with errno) if a dropped chunk cannot be read again.
  bool BuildCheckpoint(Ids wanted, uint64_t first_kept_sequence, Dropped& dropped,
                       trace::TraceChunk& chunk);
  // `wanted` and what it names (stacks name frames, frames name strings),
  // less those `skip` holds (if given); sorted.
  Ids Close(const Ids& wanted, const Defined* skip, const Dropped* dropped) const;
  // Adds the definitions of `ids` (closed) that are at hand.
  void AddDefinitions(const Ids& ids, trace::TraceChunk& chunk, const Dropped* dropped) const;
  const std::vector<uint32_t>* FindStack(uint32_t id, const Dropped* dropped) const;
  const FrameDef* FindFrame(uint32_t id, const Dropped* dropped) const;
  const std::string* FindString(uint32_t id, const Dropped* dropped) const;
  bool OpenReader(const std::string& path, int write_fd);

  std::string path_;
  uint64_t max_bytes_;
  trace::ProcessInfo process_;
  int read_fd_ = -1;  // the same file, for reading back what is dropped and kept
  uint64_t size_ = 0;
  std::vector<ChunkAt> chunks_;
  bool failed_ = false;
  uint64_t dropped_chunks_ = 0;

  // The definitions of the recorder's current and previous intern epochs.
  Since<std::string> strings_;
  Since<FrameDef> frames_;
  Since<std::vector<uint32_t>> stacks_;
  IdMark epoch_start_;  // where the current epoch starts
  trace::FlightState state_;  // what the dropped chunks left
  Defined defined_;
};

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_FLIGHT_RING_H_
