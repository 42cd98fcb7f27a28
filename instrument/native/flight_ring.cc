#include "instrument/native/flight_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "trace/chunk_file.h"
#include "trace/private_files.h"

namespace waitgraph::shim {
namespace {

constexpr size_t kFrameHeaderBytes = 12;

bool WriteFully(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    bytes.remove_prefix(size_t(n));
  }
  return true;
}

bool ReadFully(int fd, uint64_t offset, size_t size, std::string& out) {
  out.resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, out.data() + done, size - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += size_t(n);
  }
  return true;
}

// Splits bytes holding whole frames into their chunks.
bool ParseFrames(std::string_view bytes, std::vector<trace::TraceChunk>& out) {
  while (bytes.size() >= kFrameHeaderBytes) {
    uint32_t size;
    std::memcpy(&size, bytes.data() + 4, 4);  // little-endian hosts only (x86-64, arm64)
    if (bytes.size() - kFrameHeaderBytes < size) return false;
    trace::TraceChunk& chunk = out.emplace_back();
    if (!trace::DecodeChunk(bytes.substr(kFrameHeaderBytes, size), chunk)) return false;
    bytes.remove_prefix(kFrameHeaderBytes + size);
  }
  return bytes.empty();
}

void AddUnique(std::vector<uint32_t>& ids, uint32_t id) {
  if (id != 0) ids.push_back(id);
}

void SortUnique(std::vector<uint32_t>& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

// `ids` less every id in `defined` (both sorted).
std::vector<uint32_t> Minus(const std::vector<uint32_t>& ids, const std::vector<uint32_t>& defined) {
  std::vector<uint32_t> out;
  std::set_difference(ids.begin(), ids.end(), defined.begin(), defined.end(), std::back_inserter(out));
  return out;
}

// The interned ids an event names: its stack and name, and LOCK_ORDER's arg
// (the stack where the held lock was taken).
template <typename Ids>
void EventRefs(const trace::Event& e, Ids& refs) {
  AddUnique(refs.stacks, e.stack());
  AddUnique(refs.strings, e.name());
  if (e.kind() == trace::LOCK_ORDER && e.arg() > 0 && e.arg() <= int64_t(UINT32_MAX)) {
    AddUnique(refs.stacks, uint32_t(e.arg()));
  }
}

bool Has(const std::vector<bool>& set, uint32_t id) { return id < set.size() && set[id]; }

void Mark(std::vector<bool>& set, uint32_t id) {
  if (set.size() <= id) set.resize(id + 1 + id / 2);
  set[id] = true;
}

}  // namespace

FlightRing::FlightRing(std::string path, uint64_t max_bytes, const trace::ProcessInfo& process)
    : path_(std::move(path)),
      max_bytes_(std::max(max_bytes, kMinBytes)),
      process_(process),
      size_(trace::kFileMagic.size()) {}

FlightRing::~FlightRing() {
  if (read_fd_ >= 0) close(read_fd_);
}

size_t FlightRing::chunk_budget() const {
  return size_t(std::min<uint64_t>(Recorder::kChunkBudgetBytes, max_bytes_ / 8));
}

void FlightRing::Remember(const PendingData& data) {
  for (const auto& [id, value] : data.strings) {
    if (strings_.size() <= id) strings_.resize(id + 1);
    strings_[id] = value;
  }
  for (const FrameDef& f : data.frames) {
    if (frames_.size() <= f.id) frames_.resize(f.id + 1);
    frames_[f.id] = f;
  }
  for (const auto& [id, frames] : data.stacks) {
    if (stacks_.size() <= id) stacks_.resize(id + 1);
    stacks_[id] = frames;
  }
}

void FlightRing::Defined::Add(const trace::TraceChunk& chunk) {
  for (const auto& s : chunk.strings()) Mark(strings, s.id());
  for (const auto& f : chunk.frames()) Mark(frames, f.id());
  for (const auto& s : chunk.stacks()) Mark(stacks, s.id());
}

void FlightRing::Prepare(int& fd, trace::TraceChunk& chunk) {
  if (!failed_ && !chunks_.empty() && size_ + chunk_budget() > max_bytes_ && !Wrap(fd, chunk.sequence())) {
    if (errno == 0) errno = EIO;
    std::fprintf(stderr, "waitgraph: cannot start the bounded trace over (%s); it grows past its "
                 "bound (trace %s)\n", std::strerror(errno), path_.c_str());
    failed_ = true;
  }
  // Ids defined long ago may have been dropped with their chunk: define
  // again what this chunk uses and the file no longer holds.
  defined_.Add(chunk);
  Ids missing;
  for (const auto& f : chunk.frames()) {
    if (!Has(defined_.strings, f.file())) AddUnique(missing.strings, f.file());
    if (!Has(defined_.strings, f.function())) AddUnique(missing.strings, f.function());
  }
  for (const auto& s : chunk.stacks()) {
    for (uint32_t frame : s.frames()) {
      if (!Has(defined_.frames, frame)) AddUnique(missing.frames, frame);
    }
  }
  Ids refs;
  for (const trace::Event& e : chunk.events()) EventRefs(e, refs);
  for (uint32_t id : refs.strings) {
    if (!Has(defined_.strings, id)) AddUnique(missing.strings, id);
  }
  for (uint32_t id : refs.stacks) {
    if (!Has(defined_.stacks, id)) AddUnique(missing.stacks, id);
  }
  if (missing.strings.empty() && missing.frames.empty() && missing.stacks.empty()) return;
  for (auto* ids : {&missing.strings, &missing.frames, &missing.stacks}) SortUnique(*ids);
  trace::TraceChunk defs;
  AddDefinitions(missing, defs, &defined_);
  defined_.Add(defs);
  chunk.mutable_strings()->MergeFrom(defs.strings());
  chunk.mutable_frames()->MergeFrom(defs.frames());
  chunk.mutable_stacks()->MergeFrom(defs.stacks());
}

bool FlightRing::Write(int fd, const std::string& frame, uint64_t sequence) {
  if (!WriteFully(fd, frame)) return false;
  chunks_.push_back({size_, frame.size(), sequence, false});
  size_ += frame.size();
  return true;
}

bool FlightRing::OpenReader(const std::string& path, int write_fd) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat a, b;
  if (fd < 0 || fstat(fd, &a) != 0 || fstat(write_fd, &b) != 0 || a.st_dev != b.st_dev ||
      a.st_ino != b.st_ino) {
    if (fd >= 0) close(fd);
    errno = errno ? errno : ESTALE;
    return false;
  }
  if (read_fd_ >= 0) close(read_fd_);
  read_fd_ = fd;
  return true;
}

bool FlightRing::ReadFrames(size_t first, size_t last, std::string& bytes) const {
  if (first >= last) {
    bytes.clear();
    return true;
  }
  uint64_t begin = chunks_[first].offset;
  uint64_t end = chunks_[last - 1].offset + chunks_[last - 1].size;
  return ReadFully(read_fd_, begin, size_t(end - begin), bytes);
}

bool FlightRing::Wrap(int& fd, uint64_t next_sequence) {
  errno = 0;
  if (read_fd_ < 0 && !OpenReader(path_, fd)) return false;
  // Keep the newest chunks that fit in half the bound.
  size_t first_kept = chunks_.size();
  uint64_t kept_bytes = 0;
  while (first_kept > 0 && kept_bytes + chunks_[first_kept - 1].size <= max_bytes_ / 2) {
    kept_bytes += chunks_[--first_kept].size;
  }
  if (first_kept == 0) return true;  // nothing to drop
  // What the dropped chunks leave; a checkpoint's events are that state already.
  std::string dropped_bytes, kept_frames;
  std::vector<trace::TraceChunk> dropped, kept;
  if (!ReadFrames(0, first_kept, dropped_bytes) || !ParseFrames(dropped_bytes, dropped) ||
      !ReadFrames(first_kept, chunks_.size(), kept_frames) || !ParseFrames(kept_frames, kept)) {
    errno = errno ? errno : EIO;
    return false;
  }
  dropped_bytes.clear();
  for (size_t i = 0; i < dropped.size(); ++i) {
    if (chunks_[i].checkpoint) continue;
    state_.ApplyChunk(dropped[i]);
    ++dropped_chunks_;
  }
  dropped.clear();
  const uint64_t first_kept_sequence =
      first_kept < chunks_.size() ? chunks_[first_kept].sequence : next_sequence;
  trace::TraceChunk checkpoint_chunk = BuildCheckpoint(kept, first_kept_sequence);
  std::string payload;
  if (!trace::EncodeChunk(checkpoint_chunk, trace::kZstdLevel, payload)) payload.clear();
  std::string checkpoint = payload.empty() ? payload : trace::FrameChunk(payload);
  if (checkpoint.empty()) {
    errno = EFBIG;
    return false;
  }
  // The new file, complete, then renamed over the old one.
  const std::string wrap_path = path_ + ".wrap";
  unlink(wrap_path.c_str());  // a crash's leftover
  int new_fd = trace::CreateExclusive(wrap_path);
  if (new_fd < 0) return false;
  if (!WriteFully(new_fd, trace::kFileMagic) || !WriteFully(new_fd, checkpoint) ||
      !WriteFully(new_fd, kept_frames) || !OpenReader(wrap_path, new_fd) ||
      rename(wrap_path.c_str(), path_.c_str()) != 0) {
    int error = errno;
    close(new_fd);
    unlink(wrap_path.c_str());
    errno = error;
    return false;
  }
  close(fd);
  fd = new_fd;
  // The index of the new file.
  std::vector<ChunkAt> chunks;
  uint64_t offset = trace::kFileMagic.size();
  chunks.push_back({offset, checkpoint.size(), first_kept_sequence - 1, true});
  offset += checkpoint.size();
  for (size_t i = first_kept; i < chunks_.size(); ++i) {
    chunks.push_back({offset, chunks_[i].size, chunks_[i].sequence, false});
    offset += chunks_[i].size;
  }
  chunks_ = std::move(chunks);
  size_ = offset;
  // What the new file defines: the checkpoint's definitions and the kept chunks'.
  defined_.Clear();
  defined_.Add(checkpoint_chunk);
  for (const trace::TraceChunk& chunk : kept) defined_.Add(chunk);
  return true;
}

trace::TraceChunk FlightRing::BuildCheckpoint(const std::vector<trace::TraceChunk>& kept,
                                        uint64_t first_kept_sequence) {
  const std::vector<trace::TimedEvent> live = state_.LiveEvents();
  // Ids the kept chunks use but do not define, and every id the live events use.
  Ids refs, defined;
  for (const trace::TraceChunk& chunk : kept) {
    for (const auto& s : chunk.strings()) defined.strings.push_back(s.id());
    for (const auto& f : chunk.frames()) {
      defined.frames.push_back(f.id());
      AddUnique(refs.strings, f.file());
      AddUnique(refs.strings, f.function());
    }
    for (const auto& s : chunk.stacks()) {
      defined.stacks.push_back(s.id());
      for (uint32_t frame : s.frames()) AddUnique(refs.frames, frame);
    }
    for (const trace::Event& e : chunk.events()) EventRefs(e, refs);
  }
  for (auto* ids : {&refs.strings, &refs.frames, &refs.stacks, &defined.strings, &defined.frames,
                    &defined.stacks}) {
    SortUnique(*ids);
  }
  Ids wanted{Minus(refs.strings, defined.strings), Minus(refs.frames, defined.frames),
             Minus(refs.stacks, defined.stacks)};
  for (const trace::TimedEvent& t : live) EventRefs(t.event, wanted);

  trace::TraceChunk chunk;
  chunk.set_format_version(trace::kFormatVersion);
  chunk.set_sequence(first_kept_sequence - 1);
  *chunk.mutable_process() = process_;
  trace::FlightCheckpoint* info = chunk.mutable_checkpoint();
  info->set_first_kept_sequence(first_kept_sequence);
  info->set_dropped_chunks(dropped_chunks_);
  info->set_dropped_until_ns(state_.last_time_ns());
  info->set_max_bytes(max_bytes_);
  AddDefinitions(wanted, chunk, nullptr);
  uint64_t clock = live.empty() ? state_.last_time_ns() : live.front().time_ns;
  chunk.set_base_time_ns(clock);
  for (const trace::TimedEvent& t : live) {
    trace::Event* e = chunk.add_events();
    *e = t.event;
    const uint64_t time = std::max(clock, t.time_ns);
    e->set_time_delta_ns(time - clock);
    clock = time;
  }
  return chunk;
}

void FlightRing::AddDefinitions(const Ids& wanted, trace::TraceChunk& chunk,
                                const Defined* skip) const {
  // Stacks name frames, frames name strings: close over both.
  Ids all = wanted;
  for (uint32_t id : wanted.stacks) {
    if (id < stacks_.size()) all.frames.insert(all.frames.end(), stacks_[id].begin(), stacks_[id].end());
  }
  SortUnique(all.frames);
  for (uint32_t id : all.frames) {
    if (id >= frames_.size()) continue;
    AddUnique(all.strings, frames_[id].file);
    AddUnique(all.strings, frames_[id].function);
  }
  SortUnique(all.strings);
  SortUnique(all.stacks);
  if (skip != nullptr) {
    auto drop = [](std::vector<uint32_t>& ids, const std::vector<bool>& have) {
      ids.erase(std::remove_if(ids.begin(), ids.end(), [&](uint32_t id) { return Has(have, id); }),
                ids.end());
    };
    drop(all.strings, skip->strings);
    drop(all.frames, skip->frames);
    drop(all.stacks, skip->stacks);
  }
  for (uint32_t id : all.strings) {
    if (id >= strings_.size()) continue;
    auto* s = chunk.add_strings();
    s->set_id(id);
    s->set_value(strings_[id]);
  }
  for (uint32_t id : all.frames) {
    if (id >= frames_.size() || frames_[id].id == 0) continue;
    const FrameDef& f = frames_[id];
    auto* out = chunk.add_frames();
    out->set_id(f.id);
    out->set_file(f.file);
    out->set_function(f.function);
    out->set_line(f.line);
    out->set_library(f.library);
  }
  for (uint32_t id : all.stacks) {
    if (id >= stacks_.size()) continue;
    auto* s = chunk.add_stacks();
    s->set_id(id);
    s->mutable_frames()->Add(stacks_[id].begin(), stacks_[id].end());
  }
}

}  // namespace waitgraph::shim
