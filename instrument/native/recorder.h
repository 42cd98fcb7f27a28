// The recorder: intern tables, the event buffer and the writer thread.
//
// Producers are Python threads and always hold the GIL when they call into
// the recorder, so the intern tables need no lock of their own. The event
// buffer and the "defined since the last chunk" lists are shared with the
// writer thread (which never takes the GIL) through one mutex: producers are
// already serialized by the GIL, so a single mutex-protected buffer costs an
// uncontended lock per event and is the simplest correct design.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_RECORDER_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_RECORDER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "instrument/native/kept_counts.h"
#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::shim {

// One event, fixed size, as buffered before the writer encodes it.
struct EventRecord {
  uint64_t time_ns;
  uint64_t thread;
  uint64_t subject;
  uint64_t object;
  int64_t arg;
  uint32_t stack;
  uint32_t name;
  uint32_t kind;
};

// The events of one chunk as the writer hands them to be written: the
// records (the flight ring looks at the ids they name) and their encoding
// (trace::AppendEvent), which the chunk's message does not hold: no
// protobuf message is built per event.
struct ChunkEvents {
  std::vector<const EventRecord*> records;
  std::string encoded;
};

struct FrameDef {
  uint32_t id, file, function, line;
  bool library;
};

// The first string, frame and stack ids of an intern epoch.
struct IdMark {
  uint32_t string = 1, frame = 1, stack = 1;
};

// What producers have appended since the writer last took it.
struct PendingData {
  std::vector<EventRecord> events;
  std::vector<std::pair<uint32_t, std::string>> strings;
  std::vector<FrameDef> frames;
  std::vector<std::pair<uint32_t, std::vector<uint32_t>>> stacks;
  // Where each intern epoch begun since (see Recorder::intern_epoch) starts.
  std::vector<IdMark> epochs;

  bool empty() const { return events.empty() && strings.empty() && frames.empty() && stacks.empty(); }
  void swap(PendingData& other) {
    events.swap(other.events);
    strings.swap(other.strings);
    frames.swap(other.frames);
    stacks.swap(other.stacks);
    epochs.swap(other.epochs);
  }
};

// The program must never wait for the trace's storage (a FIFO nobody reads,
// a hung network file system): every file operation happens on the writer
// thread, and the program waits for it at most `storage_timeout_ms` (start,
// stop at exit, flush), then goes on without it, with one warning.
class Recorder {
 public:
  // At most this many buffered events; beyond it (writer stuck) recording
  // stops with a warning rather than eating the program's memory.
  static constexpr size_t kMaxBufferedEvents = size_t{1} << 22;
  // The writer is woken early, before its next flush_ms tick, when this
  // many events are buffered: a burst's backlog (48 bytes an event, and the
  // chunk built from it) stays a few MB instead of growing for flush_ms,
  // and the allocator is not left holding a large peak afterwards.
  static constexpr size_t kEarlyWriteEvents = size_t{1} << 14;
  // With nothing to write, an empty "heartbeat" chunk goes out this often.
  static constexpr uint64_t kHeartbeatNs = 100u * 1000 * 1000;
  // A chunk's payload stays under this (a backlog is split into several
  // chunks), far below the reader's cap (trace::kMaxFramePayload).
  static constexpr size_t kChunkBudgetBytes = size_t{8} << 20;
  // Longer interned strings (and argv entries) are cut to this many bytes.
  static constexpr size_t kMaxStringBytes = 64 * 1024;
  // The intern tables forget everything once they hold this many bytes: a
  // service that names every thread or task anew ("Thread-81234 (handle)")
  // would otherwise keep every name ever seen. Ids already written stay
  // valid; a string seen again after that is defined again under a new id.
  // Frames count too (the flight recorder keeps their definitions).
  static constexpr size_t kMaxRememberedBytes = size_t{8} << 20;

  struct Options {
    int flush_ms = 50;
    int storage_timeout_ms = 2000;
    // The flight recorder's bound on the file (flight_ring.h); 0: unbounded.
    uint64_t max_bytes = 0;
  };

  // Creates the trace at `path` (never an existing file: see
  // trace::OpenNewTrace, which may pick PerProcessName(path)), writes the
  // magic and chunk 0 (process info) and starts the writer thread. On
  // failure returns false with errno set (ETIMEDOUT: the storage did not
  // answer within storage_timeout_ms) and nothing running.
  bool Start(const std::string& path, trace::ProcessInfo info, Options options);
  // Records nothing more and has the writer flush everything buffered and
  // close the file; waits for that at most storage_timeout_ms, then drops
  // the rest with one warning. Call without holding the GIL.
  void Stop();
  // Has the writer write everything buffered now (a caller that is about to
  // read the trace, e.g. the pytest plugin after each test); waits at most
  // storage_timeout_ms. Call without the GIL. False if not running, on a
  // write error or on timeout.
  bool Flush();
  // The child of fork(): forget the parent's writer, its file and every
  // lock it may have held at the fork, without touching them.
  void AbandonAfterFork();
  bool running() const { return running_; }
  // Bumped by every Start(): interned ids of an older trace are invalid.
  uint64_t generation() const { return generation_; }
  // Bumped by every Start() and every time the intern tables forget: an id
  // cached by a producer (the stack walker's frames, a var's name) is to be
  // interned again when the epoch it was interned in is over. The flight
  // recorder can define again, after a wrap, the ids of the current and the
  // previous epoch only (flight_ring.h).
  uint64_t intern_epoch() const { return intern_epoch_; }
  // True if ids interned in `epoch` may still be used in events.
  bool EpochUsable(uint64_t epoch) const { return epoch + 1 >= intern_epoch_ && epoch <= intern_epoch_; }
  // The file actually written (see Start).
  const std::string& path() const { return path_; }
  // Events appended since this process's recorder was made (GIL-protected,
  // like the producers): a forked child compares it before an exec to tell
  // whether its trace holds anything of the program.
  uint64_t events_appended() const { return events_appended_; }

  // --- Producer side: call with the GIL held. ---
  uint32_t InternString(std::string_view s);
  // A new frame id (callers dedupe: see StackWalker).
  uint32_t DefineFrame(uint32_t file, uint32_t function, uint32_t line, bool library);
  uint32_t InternStack(const std::vector<uint32_t>& frames);
  void Append(const EventRecord& e);
  // Disables recording with one warning on stderr (first call only).
  void Disable(const char* why);
  // What it keeps (see kept_counts.h): intern tables, buffered events.
  void CountKept(KeptCounts& out);

 private:
  // Intern tables are looked up by string_view: a hit builds no std::string
  // (heterogeneous lookup).
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using InternTable = std::unordered_map<std::string, uint32_t, KeyHash, std::equal_to<>>;
  struct Session;  // one trace file and its writer thread (recorder.cc)

  void WriterMain(std::shared_ptr<Session> session);
  void WriterLoop(Session& session);
  // Takes what is pending and writes it as one or more chunks (writer
  // thread only). Returns false on a write error.
  bool FlushPending(Session& session);
  // Writes `data` (taken from the producers) as one or more chunks.
  bool WriteTaken(Session& session, PendingData& data);
  // Where the writer's chunks go: the file, or the flight ring around it.
  static std::function<bool(trace::TraceChunk&, const ChunkEvents&)> FrameWriterOf(Session& session);
  static void StartRing(Session& session, const std::string& opened);
  void ResetTables();
  // Counts `bytes` more remembered; past kMaxRememberedBytes forgets the
  // intern tables first and starts a new intern epoch. Call before taking
  // the new id, so that the id is the new epoch's.
  void CountRemembered(size_t bytes);

  std::string path_;
  bool running_ = false;
  Options options_;
  uint64_t generation_ = 0;

  // Intern tables (GIL-protected).
  InternTable strings_;
  InternTable stacks_;
  size_t remembered_bytes_ = 0;  // keys of strings_ and stacks_, and frames, with overhead
  uint64_t intern_epoch_ = 0;
  uint64_t events_appended_ = 0;
  uint32_t next_string_ = 1, next_frame_ = 1, next_stack_ = 1;

  // Shared with the writer: mutex_ guards pending_ and the Session's
  // request/state fields. The writer holds it only to swap, never for I/O.
  std::mutex mutex_;
  std::condition_variable wake_;      // to the writer: stop, flush
  std::condition_variable progress_;  // from the writer: opened, flushed, done
  PendingData pending_;
  std::shared_ptr<Session> session_;  // the current trace; null when stopped

  std::atomic<bool> warned_{false};
};

// `s` cut to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view s, size_t max);

// The one recorder of the process. Never destroyed: its writer thread may
// outlive the program's exit (stuck storage), and a forked child inherits
// its locks in whatever state the parent's writer left them.
Recorder& TheRecorder();

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_RECORDER_H_
