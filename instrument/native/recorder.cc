#include "instrument/native/recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "instrument/native/state.h"
#include "trace/chunk_file.h"

namespace waitgraph::shim {

Recorder& TheRecorder() {
  static Recorder* recorder = new Recorder();  // intentionally leaked
  return *recorder;
}

void Recorder::ResetTables() {
  strings_.clear();
  stacks_.clear();
  next_string_ = next_frame_ = next_stack_ = 1;
  events_.clear();
  new_strings_.clear();
  new_frames_.clear();
  new_stacks_.clear();
  sequence_ = 0;
}

bool Recorder::Start(const std::string& path, trace::ProcessInfo info, int flush_ms) {
  if (running_) {
    errno = EBUSY;
    return false;
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ResetTables();
    stop_requested_ = false;
  }
  fd_ = fd;
  path_ = path;
  process_ = std::move(info);
  flush_ms_ = flush_ms > 0 ? flush_ms : 50;
  ++generation_;
  warned_ = false;
  // Magic and chunk 0 (process info) right away: the file is a valid, if
  // empty, trace from the moment start() returns.
  if (!WriteAll(std::string(trace::kFileMagic)) || !FlushOnce()) {
    int saved = errno;
    close(fd_);
    fd_ = -1;
    errno = saved;
    return false;
  }
  running_ = true;
  g_recording.store(true);
  writer_ = std::thread([this] { WriterLoop(); });
  return true;
}

void Recorder::Stop() {
  if (!running_) return;
  g_recording.store(false);
  running_ = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_requested_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  FlushOnce();  // anything appended between the writer's last swap and now
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void Recorder::AbandonAfterFork() {
  g_recording.store(false);
  running_ = false;
  // The parent's thread does not exist here; detach the object without
  // touching the (possibly locked) mutex. The fd is the parent's file: close
  // our copy so that nothing can write to it.
  if (writer_.joinable()) {
    new (&writer_) std::thread();  // drop the handle without join/terminate
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void Recorder::Disable(const char* why) {
  g_recording.store(false);
  if (!warned_.exchange(true)) {
    std::fprintf(stderr, "waitgraph: %s; recording stopped (trace %s)\n", why, path_.c_str());
    std::fflush(stderr);
  }
}

uint32_t Recorder::InternString(std::string_view s) {
  auto it = strings_.find(std::string(s));
  if (it != strings_.end()) return it->second;
  uint32_t id = next_string_++;
  strings_.emplace(std::string(s), id);
  std::lock_guard<std::mutex> lock(mutex_);
  new_strings_.emplace_back(id, std::string(s));
  return id;
}

uint32_t Recorder::DefineFrame(uint32_t file, uint32_t function, uint32_t line, bool library) {
  uint32_t id = next_frame_++;
  std::lock_guard<std::mutex> lock(mutex_);
  new_frames_.push_back(FrameDef{id, file, function, line, library});
  return id;
}

uint32_t Recorder::InternStack(const std::vector<uint32_t>& frames) {
  std::string key(reinterpret_cast<const char*>(frames.data()), frames.size() * sizeof(uint32_t));
  auto it = stacks_.find(key);
  if (it != stacks_.end()) return it->second;
  uint32_t id = next_stack_++;
  stacks_.emplace(std::move(key), id);
  std::lock_guard<std::mutex> lock(mutex_);
  new_stacks_.emplace_back(id, frames);
  return id;
}

void Recorder::Append(const EventRecord& e) {
  bool overflow = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (events_.size() >= kMaxBufferedEvents) {
      overflow = true;
    } else {
      events_.push_back(e);
    }
  }
  if (overflow) Disable("event buffer overflow (trace writer cannot keep up)");
}

bool Recorder::WriteAll(const std::string& bytes) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = EIO;
      return false;
    }
    p += n;
    left -= size_t(n);
  }
  return true;
}

bool Recorder::FlushOnce() {
  std::lock_guard<std::mutex> write_lock(write_mutex_);
  if (fd_ < 0) return false;
  std::vector<EventRecord> events;
  std::vector<std::pair<uint32_t, std::string>> strings;
  std::vector<FrameDef> frames;
  std::vector<std::pair<uint32_t, std::vector<uint32_t>>> stacks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events.swap(events_);
    strings.swap(new_strings_);
    frames.swap(new_frames_);
    stacks.swap(new_stacks_);
  }
  const uint64_t now = MonotonicNs();
  if (sequence_ > 0 && events.empty() && strings.empty() && frames.empty() && stacks.empty() &&
      now - last_chunk_ns_ < kHeartbeatNs) {
    return true;  // nothing new, and a chunk went out recently
  }
  // Otherwise an empty chunk is written as a heartbeat: its base_time_ns
  // tells a reader the process was alive then (e.g. hung in a wait).
  last_chunk_ns_ = now;
  trace::TraceChunk chunk;
  chunk.set_format_version(trace::kFormatVersion);
  chunk.set_sequence(sequence_);
  if (sequence_ == 0) *chunk.mutable_process() = process_;
  for (auto& [id, value] : strings) {
    auto* s = chunk.add_strings();
    s->set_id(id);
    s->set_value(std::move(value));
  }
  for (const FrameDef& f : frames) {
    auto* out = chunk.add_frames();
    out->set_id(f.id);
    out->set_file(f.file);
    out->set_function(f.function);
    out->set_line(f.line);
    out->set_library(f.library);
  }
  for (auto& [id, ids] : stacks) {
    auto* s = chunk.add_stacks();
    s->set_id(id);
    s->mutable_frames()->Add(ids.begin(), ids.end());
  }
  uint64_t base = events.empty() ? now : events.front().time_ns;
  chunk.set_base_time_ns(base);
  uint64_t prev = base;
  chunk.mutable_events()->Reserve(int(events.size()));
  for (const EventRecord& e : events) {
    auto* ev = chunk.add_events();
    uint64_t t = e.time_ns < prev ? prev : e.time_ns;
    ev->set_time_delta_ns(t - prev);
    prev = t;
    ev->set_thread(e.thread);
    ev->set_kind(static_cast<trace::EventKind>(e.kind));
    ev->set_subject(e.subject);
    ev->set_object(e.object);
    ev->set_stack(e.stack);
    ev->set_name(e.name);
    ev->set_arg(e.arg);
  }
  ++sequence_;
  std::string payload;
  if (!chunk.SerializeToString(&payload)) {
    errno = EINVAL;
    return false;
  }
  return WriteAll(trace::FrameChunk(payload));
}

void Recorder::WriterLoop() {
  for (;;) {
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(flush_ms_), [this] { return stop_requested_; });
      stopping = stop_requested_;
    }
    if (!FlushOnce()) {
      char reason[256];
      std::snprintf(reason, sizeof reason, "cannot write trace: %s", std::strerror(errno));
      Disable(reason);
      std::lock_guard<std::mutex> write_lock(write_mutex_);
      if (fd_ >= 0) close(fd_);
      fd_ = -1;
      return;
    }
    if (stopping) return;
  }
}

}  // namespace waitgraph::shim
