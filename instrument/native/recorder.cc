#include "instrument/native/recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <new>
#include <system_error>
#include <thread>

#include <google/protobuf/arena.h>

#include "instrument/native/exit_signals.h"
#include "instrument/native/flight_ring.h"
#include "instrument/native/state.h"
#include "trace/chunk_file.h"
#include "trace/private_files.h"

namespace waitgraph::shim {

// One trace file and the (detached) writer thread that owns it. Shared by
// the recorder and the thread, so a writer stuck in the storage can be
// abandoned while it still holds on to its session.
struct Recorder::Session {
  enum class State { kOpening, kOpen, kFailed, kDone };

  std::string requested_path;
  trace::ProcessInfo process;
  int flush_ms = 50;
  uint64_t max_bytes = 0;

  // Writer thread only.
  int fd = -1;
  std::unique_ptr<FlightRing> ring;  // a bounded trace (regular files only)
  uint64_t sequence = 0;
  uint64_t last_chunk_ns = 0;
  // What the writer took from the producers; emptied after each write and
  // given back to them at the next swap, so that the producers' buffers
  // keep their capacity instead of growing anew from nothing every flush.
  PendingData taken;

  // Under Recorder::mutex_.
  std::string path;  // the file actually created, once kOpen
  State state = State::kOpening;
  int error = 0;
  bool stop_requested = false;
  bool abandoned = false;  // the program gave up waiting: write nothing more
  uint64_t flush_requested = 0;
  uint64_t flush_done = 0;
};

namespace {

std::chrono::milliseconds Millis(int ms) { return std::chrono::milliseconds(ms > 0 ? ms : 1); }

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = EIO;
      return false;
    }
    bytes.remove_prefix(size_t(n));
  }
  return true;
}

// Upper bounds of the encoded size of each item (varints at full width):
// what decides where a backlog is split into chunks.
constexpr size_t kEventBytes = 80;
// What one usually takes encoded (trace::AppendEvent: ~20-30 bytes).
constexpr size_t kEncodedEventBytes = 32;
constexpr size_t kFrameBytes = 40;
size_t StringBytes(const std::string& s) { return s.size() + 16; }
size_t StackBytes(const std::vector<uint32_t>& frames) { return 5 * frames.size() + 16; }

// Builds the chunks of one flush, starting a new chunk whenever the next
// item could take the current one past Recorder::kChunkBudgetBytes.
// Definitions go before the events that use them; events are delta-coded
// from each chunk's base time.
class ChunkSplitter {
 public:
  // Writes one framed chunk and its sequence number; false with errno.
  using FrameWriter = std::function<bool(trace::TraceChunk& chunk, const ChunkEvents& events)>;

  ChunkSplitter(FrameWriter write, size_t budget, uint64_t& sequence,
                const trace::ProcessInfo& process, uint64_t base_ns)
      : write_(std::move(write)), budget_(budget), sequence_(sequence), process_(process),
        prev_ns_(base_ns) {
    Begin();
  }

  bool AddString(uint32_t id, std::string& value) {
    if (!MakeRoom(StringBytes(value))) return false;
    auto* s = chunk_.add_strings();
    s->set_id(id);
    s->set_value(std::move(value));
    return true;
  }
  bool AddFrame(const FrameDef& f) {
    if (!MakeRoom(kFrameBytes)) return false;
    auto* out = chunk_.add_frames();
    out->set_id(f.id);
    out->set_file(f.file);
    out->set_function(f.function);
    out->set_line(f.line);
    out->set_library(f.library);
    return true;
  }
  bool AddStack(uint32_t id, const std::vector<uint32_t>& frames) {
    if (!MakeRoom(StackBytes(frames))) return false;
    auto* s = chunk_.add_stacks();
    s->set_id(id);
    s->mutable_frames()->Add(frames.begin(), frames.end());
    return true;
  }
  // `e` must stay where it is until the chunk is written (the flush's
  // pending data holds it).
  bool AddEvent(const EventRecord& e) {
    if (!MakeRoom(kEventBytes)) return false;
    uint64_t t = e.time_ns < prev_ns_ ? prev_ns_ : e.time_ns;
    trace::EventFields fields;
    fields.time_delta_ns = t - prev_ns_;
    prev_ns_ = t;
    fields.thread = e.thread;
    fields.kind = int32_t(e.kind);
    fields.subject = e.subject;
    fields.object = e.object;
    fields.stack = e.stack;
    fields.name = e.name;
    fields.arg = e.arg;
    trace::AppendEvent(fields, events_.encoded);
    events_.records.push_back(&e);
    return true;
  }
  // Room for `count` events (those of the flush, at most a chunk's worth):
  // the encoding grows without copying itself over and over.
  void ReserveEvents(size_t count) {
    count = std::min(count, budget_ / kEventBytes + 1);
    events_.records.reserve(count);
    events_.encoded.reserve(count * kEncodedEventBytes);
  }
  // Writes the last chunk (also when empty: a heartbeat).
  bool Finish() { return Emit(); }

 private:
  void Begin() {
    chunk_.Clear();
    events_.records.clear();
    events_.encoded.clear();
    chunk_.set_format_version(trace::kFormatVersion);
    chunk_.set_sequence(sequence_);
    chunk_.set_base_time_ns(prev_ns_);
    bytes_ = 64;
    if (sequence_ == 0) {
      *chunk_.mutable_process() = process_;
      bytes_ += process_.ByteSizeLong();
    }
  }
  bool MakeRoom(size_t item_bytes) {
    if (bytes_ + item_bytes > budget_ && HasItems()) {
      if (!Emit()) return false;
      Begin();
    }
    bytes_ += item_bytes;
    return true;
  }
  bool HasItems() const {
    return chunk_.strings_size() + chunk_.frames_size() + chunk_.stacks_size() +
               events_.records.size() >
           0;
  }
  bool Emit() {
    ++sequence_;
    return write_(chunk_, events_);
  }

  FrameWriter write_;
  size_t budget_;
  uint64_t& sequence_;
  const trace::ProcessInfo& process_;
  uint64_t prev_ns_;
  // The chunk's definitions live on an arena for the flush (it goes with
  // the splitter, at the flush's end). Its events are not messages: they
  // are encoded as they come (trace::AppendEvent) and appended to the
  // serialized chunk, byte for byte what protobuf would have written, for
  // a third of the instructions (the writer's busiest work after
  // compression).
  google::protobuf::Arena arena_;
  trace::TraceChunk& chunk_ = *google::protobuf::Arena::CreateMessage<trace::TraceChunk>(&arena_);
  ChunkEvents events_;
  size_t bytes_ = 0;
};

}  // namespace

std::string_view CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

Recorder& TheRecorder() {
  static Recorder* recorder = new Recorder();  // intentionally leaked
  return *recorder;
}

void Recorder::ResetTables() {
  strings_.clear();
  stacks_.clear();
  remembered_bytes_ = 0;
  next_string_ = next_frame_ = next_stack_ = 1;
  ++intern_epoch_;
  PendingData().swap(pending_);
}

bool Recorder::Start(const std::string& path, trace::ProcessInfo info, Options options) {
  if (running_) {
    errno = EBUSY;
    return false;
  }
  options_ = options;
  auto session = std::make_shared<Session>();
  session->requested_path = path;
  session->process = std::move(info);
  session->flush_ms = options.flush_ms > 0 ? options.flush_ms : 50;
  session->max_bytes = options.max_bytes;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ResetTables();
  }
  ++generation_;
  warned_ = false;
  try {
    std::thread(&Recorder::WriterMain, this, session).detach();
  } catch (const std::system_error&) {
    errno = EAGAIN;
    return false;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  bool answered = progress_.wait_for(lock, Millis(options.storage_timeout_ms), [&] {
    return session->state != Session::State::kOpening;
  });
  if (!answered) {
    session->abandoned = true;  // the writer closes and removes it if it ever opens
    wake_.notify_all();
    errno = ETIMEDOUT;
    return false;
  }
  if (session->state != Session::State::kOpen) {
    errno = session->error;
    return false;
  }
  path_ = session->path;
  session_ = session;
  running_ = true;
  g_recording.store(true);
  return true;
}

void Recorder::Stop() {
  if (!running_) return;
  g_recording.store(false);
  running_ = false;
  std::shared_ptr<Session> session;
  bool finished;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    session.swap(session_);
    session->stop_requested = true;
    wake_.notify_all();
    finished = progress_.wait_for(lock, Millis(options_.storage_timeout_ms), [&] {
      return session->state == Session::State::kDone;
    });
    if (!finished) session->abandoned = true;
  }
  if (!finished) {
    char why[160];
    std::snprintf(why, sizeof why,
                  "the trace's storage did not take the last events within %d ms; they are dropped",
                  options_.storage_timeout_ms);
    Disable(why);
  }
}

bool Recorder::Flush() {
  if (!running_) return false;
  std::unique_lock<std::mutex> lock(mutex_);
  std::shared_ptr<Session> session = session_;
  if (session == nullptr) return false;
  uint64_t wanted = ++session->flush_requested;
  wake_.notify_all();
  bool flushed = progress_.wait_for(lock, Millis(options_.storage_timeout_ms), [&] {
    return session->flush_done >= wanted || session->state == Session::State::kDone;
  });
  return flushed && session->state == Session::State::kOpen;
}

void Recorder::AbandonAfterFork() {
  g_recording.store(false);
  running_ = false;
  // The parent's writer thread does not exist here, and may have held
  // mutex_ (or been half-way through swapping pending_) at the fork: make
  // fresh ones and leak the old, without locking or destroying anything.
  Session* parent = session_.get();
  new (&mutex_) std::mutex();
  new (&wake_) std::condition_variable();
  new (&progress_) std::condition_variable();
  new (&pending_) PendingData();
  new (&session_) std::shared_ptr<Session>();
  // Our copy of the parent's descriptor: close it, so nothing here can
  // write into the parent's trace.
  if (parent != nullptr && parent->fd >= 0) close(parent->fd);
}

void Recorder::Disable(const char* why) {
  g_recording.store(false);
  if (!warned_.exchange(true)) {
    std::fprintf(stderr, "waitgraph: %s; recording stopped (trace %s)\n", why, path_.c_str());
    std::fflush(stderr);
  }
}

void Recorder::CountKept(KeptCounts& out) {
  out.emplace_back("recorder.strings", strings_.size());
  out.emplace_back("recorder.stacks", stacks_.size());
  out.emplace_back("recorder.remembered_bytes", remembered_bytes_);
  std::lock_guard<std::mutex> lock(mutex_);
  out.emplace_back("recorder.buffered_events", pending_.events.size());
}

void CountRecorder(KeptCounts& out) { TheRecorder().CountKept(out); }

void Recorder::CountRemembered(size_t bytes) {
  remembered_bytes_ += bytes;
  if (remembered_bytes_ <= kMaxRememberedBytes) return;
  strings_.clear();
  stacks_.clear();
  remembered_bytes_ = bytes;
  ++intern_epoch_;
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.epochs.push_back(IdMark{next_string_, next_frame_, next_stack_});
}

namespace {
constexpr size_t kEntryOverhead = 64;  // node, hash bucket, string header
}  // namespace

uint32_t Recorder::InternString(std::string_view s) {
  s = CutUtf8(s, kMaxStringBytes);  // a proto string must stay valid UTF-8
  auto it = strings_.find(s);
  if (it != strings_.end()) return it->second;
  CountRemembered(s.size() + kEntryOverhead);
  uint32_t id = next_string_++;
  strings_.emplace(std::string(s), id);
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.strings.emplace_back(id, std::string(s));
  return id;
}

uint32_t Recorder::DefineFrame(uint32_t file, uint32_t function, uint32_t line, bool library) {
  CountRemembered(32);  // what the flight ring keeps of it (the walker's own entry dies with its code)
  uint32_t id = next_frame_++;
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.frames.push_back(FrameDef{id, file, function, line, library});
  return id;
}

uint32_t Recorder::InternStack(const std::vector<uint32_t>& frames) {
  std::string_view key(reinterpret_cast<const char*>(frames.data()), frames.size() * sizeof(uint32_t));
  auto it = stacks_.find(key);
  if (it != stacks_.end()) return it->second;
  CountRemembered(key.size() + kEntryOverhead);
  uint32_t id = next_stack_++;
  stacks_.emplace(std::string(key), id);
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.stacks.emplace_back(id, frames);
  return id;
}

void Recorder::Append(const EventRecord& e) {
  ++events_appended_;
  bool overflow = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pending_.events.size() >= kMaxBufferedEvents) {
      overflow = true;
    } else {
      pending_.events.push_back(e);
      if (pending_.events.size() == kEarlyWriteEvents) wake_.notify_one();
    }
  }
  if (overflow) Disable("event buffer overflow (trace writer cannot keep up)");
}

namespace {

// Empties `data` for reuse. A buffer grown far past the early-write mark (a
// backlog while the writer was starved) is released, not kept for ever.
void Recycle(PendingData& data) {
  if (data.events.capacity() > 2 * Recorder::kEarlyWriteEvents) {
    std::vector<EventRecord>().swap(data.events);
  }
  data.events.clear();
  data.strings.clear();
  data.frames.clear();
  data.stacks.clear();
  data.epochs.clear();
}

}  // namespace

bool Recorder::FlushPending(Session& session) {
  PendingData& data = session.taken;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (session.abandoned) return true;
    data.swap(pending_);
  }
  bool ok = WriteTaken(session, data);
  Recycle(data);
  return ok;
}

bool Recorder::WriteTaken(Session& session, PendingData& data) {
  const uint64_t now = MonotonicNs();
  if (session.sequence > 0 && data.empty() && now - session.last_chunk_ns < kHeartbeatNs) {
    return true;  // nothing new, and a chunk went out recently
  }
  // Otherwise a chunk goes out even if empty, as a heartbeat: its
  // base_time_ns tells a reader the process was alive then (e.g. hung).
  session.last_chunk_ns = now;
  if (session.ring) session.ring->Remember(data);
  ChunkSplitter chunks(FrameWriterOf(session), session.ring ? session.ring->chunk_budget() : kChunkBudgetBytes,
                       session.sequence, session.process,
                       data.events.empty() ? now : data.events.front().time_ns);
  for (auto& [id, value] : data.strings) {
    if (!chunks.AddString(id, value)) return false;
  }
  for (const FrameDef& f : data.frames) {
    if (!chunks.AddFrame(f)) return false;
  }
  for (const auto& [id, frames] : data.stacks) {
    if (!chunks.AddStack(id, frames)) return false;
  }
  chunks.ReserveEvents(data.events.size());
  for (const EventRecord& e : data.events) {
    if (!chunks.AddEvent(e)) return false;
  }
  return chunks.Finish();
}

std::function<bool(trace::TraceChunk&, const ChunkEvents&)> Recorder::FrameWriterOf(Session& session) {
  return [&session](trace::TraceChunk& chunk, const ChunkEvents& events) {
    // A bounded trace may start over first, and then defines again what
    // this chunk uses that the file no longer holds.
    if (session.ring && !session.ring->Prepare(session.fd, chunk, events.records)) {
      return false;  // storage full
    }
    std::string payload;
    if (!trace::EncodeChunk(chunk, events.encoded, trace::kZstdLevel, payload) ||
        payload.size() > trace::kMaxFramePayload) {
      errno = EFBIG;  // cannot happen with the chunk budget; never write what no reader takes
      return false;
    }
    std::string frame = trace::FrameChunk(payload);
    if (session.ring) return session.ring->Write(session.fd, frame, chunk.sequence());
    return WriteAll(session.fd, frame);
  };
}

// A bounded trace is possible in a regular file only (not a FIFO).
void Recorder::StartRing(Session& s, const std::string& opened) {
  struct stat st;
  if (s.max_bytes == 0 || fstat(s.fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  s.ring = std::make_unique<FlightRing>(opened, s.max_bytes, s.process);
}

void Recorder::WriterMain(std::shared_ptr<Session> session) {
  BlockExitSignalsOnThisThread();
  Session& s = *session;
  std::string opened;
  int fd = trace::OpenNewTrace(s.requested_path, pid_t(s.process.pid()), opened);
  int error = errno;
  if (fd >= 0) {
    s.fd = fd;
    // Magic and chunk 0 (process info) right away: the file is a valid, if
    // empty, trace from the moment start() returns.
    bool ok = WriteAll(fd, trace::kFileMagic);
    if (ok) StartRing(s, opened);
    if (!ok || !FlushPending(s)) {
      error = errno;
      close(fd);
      unlink(opened.c_str());
      fd = s.fd = -1;
    }
  }
  bool abandoned;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    abandoned = s.abandoned;
    if (fd < 0) {
      s.state = Session::State::kFailed;
      s.error = error;
    } else {
      s.path = opened;
      s.state = abandoned ? Session::State::kDone : Session::State::kOpen;
    }
    progress_.notify_all();
  }
  if (fd < 0) return;
  if (abandoned) {  // start() gave up waiting: the program runs without it
    close(fd);
    unlink(opened.c_str());
    return;
  }
  WriterLoop(s);
  close(s.fd);
  std::lock_guard<std::mutex> lock(mutex_);
  s.state = Session::State::kDone;
  progress_.notify_all();
}

void Recorder::WriterLoop(Session& s) {
  for (;;) {
    bool stopping;
    uint64_t flush_wanted;
    uint64_t exit_flush_wanted;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, Millis(s.flush_ms), [&] {
        return s.stop_requested || s.abandoned || s.flush_requested != s.flush_done ||
               pending_.events.size() >= kEarlyWriteEvents;
      });
      if (s.abandoned) return;
      stopping = s.stop_requested;
      flush_wanted = s.flush_requested;
    }
    // Read before FlushPending takes the buffer: what an exit signal's
    // handler asked for is then written (exit_signals.h).
    exit_flush_wanted = ExitFlushRequested();
    bool ok = FlushPending(s);
    if (ok) ExitFlushDone(exit_flush_wanted);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      s.flush_done = flush_wanted;
      progress_.notify_all();
    }
    if (!ok) {
      char reason[256];
      std::snprintf(reason, sizeof reason, "cannot write trace: %s", std::strerror(errno));
      Disable(reason);
      return;
    }
    if (stopping) return;
  }
}

}  // namespace waitgraph::shim
