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
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

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

struct FrameDef {
  uint32_t id, file, function, line;
  bool library;
};

class Recorder {
 public:
  // At most this many buffered events; beyond it (writer stuck) recording
  // stops with a warning rather than eating the program's memory.
  static constexpr size_t kMaxBufferedEvents = size_t{1} << 22;
  // With nothing to write, an empty "heartbeat" chunk goes out this often.
  static constexpr uint64_t kHeartbeatNs = 100u * 1000 * 1000;

  // Opens `path` (truncating), writes the magic and chunk 0 (process info)
  // and starts the writer thread. On failure returns false with errno set
  // and nothing started.
  bool Start(const std::string& path, trace::ProcessInfo info, int flush_ms);
  // Records nothing more, flushes everything buffered and joins the writer.
  // Call without holding the GIL (the writer never needs it, but other
  // threads should not be blocked meanwhile).
  void Stop();
  // Writes everything buffered now, as one chunk (a caller that is about to
  // read the trace, e.g. the pytest plugin after each test). Call without
  // the GIL. Returns false if not running or on a write error.
  bool Flush() { return running_ && FlushOnce(); }
  // The child of fork(): forget the writer without touching its mutex.
  void AbandonAfterFork();
  bool running() const { return running_; }
  // Bumped by every Start(): interned ids of an older trace are invalid.
  uint64_t generation() const { return generation_; }
  const std::string& path() const { return path_; }

  // --- Producer side: call with the GIL held. ---
  uint32_t InternString(std::string_view s);
  // A new frame id (callers dedupe: see StackWalker).
  uint32_t DefineFrame(uint32_t file, uint32_t function, uint32_t line, bool library);
  uint32_t InternStack(const std::vector<uint32_t>& frames);
  void Append(const EventRecord& e);
  // Disables recording with one warning on stderr (first call only).
  void Disable(const char* why);

 private:
  void WriterLoop();
  // Swaps out what is pending and writes it as one chunk (writer thread, or
  // Start/Stop when no writer runs). Returns false on a write error.
  bool FlushOnce();
  bool WriteAll(const std::string& bytes);
  void ResetTables();

  std::string path_;
  int fd_ = -1;
  bool running_ = false;
  int flush_ms_ = 50;
  trace::ProcessInfo process_;
  uint64_t sequence_ = 0;
  uint64_t generation_ = 0;
  uint64_t last_chunk_ns_ = 0;  // writer side (under write_mutex_)

  // Intern tables (GIL-protected).
  std::unordered_map<std::string, uint32_t> strings_;
  std::unordered_map<std::string, uint32_t> stacks_;
  uint32_t next_string_ = 1, next_frame_ = 1, next_stack_ = 1;

  // Shared with the writer (mutex_).
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_requested_ = false;
  std::vector<EventRecord> events_;
  std::vector<std::pair<uint32_t, std::string>> new_strings_;
  std::vector<FrameDef> new_frames_;
  std::vector<std::pair<uint32_t, std::vector<uint32_t>>> new_stacks_;

  std::thread writer_;
  std::mutex write_mutex_;  // serializes FlushOnce (writer vs Stop)
  std::atomic<bool> warned_{false};
};

// The one recorder of the process. Never destroyed (a joinable std::thread
// must not be destroyed at exit, and a forked child must not join it).
Recorder& TheRecorder();

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_RECORDER_H_
