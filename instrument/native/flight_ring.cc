#include "instrument/native/flight_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
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

void AddUnique(std::vector<uint32_t>& ids, uint32_t id) {
  if (id != 0) ids.push_back(id);
}

void SortUnique(std::vector<uint32_t>& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
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

// The same for an event the writer has not made a message of.
template <typename Ids>
void EventRefs(const EventRecord& e, Ids& refs) {
  AddUnique(refs.stacks, e.stack);
  AddUnique(refs.strings, e.name);
  if (e.kind == trace::LOCK_ORDER && e.arg > 0 && e.arg <= int64_t(UINT32_MAX)) {
    AddUnique(refs.stacks, uint32_t(e.arg));
  }
}

// What `chunk` names: its frames' strings, its stacks' frames, its events'
// stacks and names.
template <typename Ids>
void ChunkRefs(const trace::TraceChunk& chunk, Ids& refs) {
  for (const auto& f : chunk.frames()) {
    AddUnique(refs.strings, f.file());
    AddUnique(refs.strings, f.function());
  }
  for (const auto& s : chunk.stacks()) {
    for (uint32_t frame : s.frames()) AddUnique(refs.frames, frame);
  }
  for (const trace::Event& e : chunk.events()) EventRefs(e, refs);
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

template <typename T>
void FlightRing::Since<T>::Put(uint32_t id, T value) {
  if (id < first_) return;
  if (id - first_ >= items_.size()) items_.resize(id - first_ + 1);
  items_[id - first_] = std::move(value);
}

template <typename T>
const T* FlightRing::Since<T>::Find(uint32_t id) const {
  if (id < first_ || id - first_ >= items_.size() || !items_[id - first_]) return nullptr;
  return &*items_[id - first_];
}

template <typename T>
void FlightRing::Since<T>::ForgetBelow(uint32_t id) {
  while (first_ < id && !items_.empty()) {
    items_.pop_front();
    ++first_;
  }
  if (items_.empty()) first_ = std::max(first_, id);
  if (items_.empty()) items_.shrink_to_fit();
}

void FlightRing::Remember(const PendingData& data) {
  // A new intern epoch: the one before the current is forgotten (no
  // producer holds its ids any more; the file defines what it still uses).
  for (const IdMark& next : data.epochs) {
    strings_.ForgetBelow(epoch_start_.string);
    frames_.ForgetBelow(epoch_start_.frame);
    stacks_.ForgetBelow(epoch_start_.stack);
    epoch_start_ = next;
  }
  for (const auto& [id, value] : data.strings) strings_.Put(id, value);
  for (const FrameDef& f : data.frames) frames_.Put(f.id, f);
  for (const auto& [id, frames] : data.stacks) stacks_.Put(id, frames);
}

void FlightRing::KeepDropped(const trace::TraceChunk& chunk, size_t index, Dropped& dropped) const {
  // What the intern epochs kept here hold need not be kept twice (most of
  // it, unless the intern tables forgot since).
  for (const auto& s : chunk.strings()) {
    if (strings_.Find(s.id()) == nullptr) dropped.string_chunk[s.id()] = index;
  }
  for (const auto& f : chunk.frames()) {
    if (frames_.Find(f.id()) != nullptr) continue;
    dropped.frames[f.id()] = FrameDef{f.id(), f.file(), f.function(), f.line(), f.library()};
  }
  for (const auto& s : chunk.stacks()) {
    if (stacks_.Find(s.id()) != nullptr) continue;
    dropped.stacks[s.id()].assign(s.frames().begin(), s.frames().end());
  }
}

void FlightRing::Defined::Add(const trace::TraceChunk& chunk) {
  for (const auto& s : chunk.strings()) Mark(strings, s.id());
  for (const auto& f : chunk.frames()) Mark(frames, f.id());
  for (const auto& s : chunk.stacks()) Mark(stacks, s.id());
}

bool FlightRing::Prepare(int& fd, trace::TraceChunk& chunk,
                         const std::vector<const EventRecord*>& events) {
  if (!failed_ && !chunks_.empty() && size_ + chunk_budget() > max_bytes_ && !Wrap(fd, chunk.sequence())) {
    if (errno == 0) errno = EIO;
    failed_ = true;
    // A full disk: growing past the bound would take the last of it.
    if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG) return false;
    std::fprintf(stderr, "waitgraph: cannot start the bounded trace over (%s); it grows past its "
                 "bound (trace %s)\n", std::strerror(errno), path_.c_str());
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
  for (const EventRecord* e : events) EventRefs(*e, refs);
  for (uint32_t id : refs.strings) {
    if (!Has(defined_.strings, id)) AddUnique(missing.strings, id);
  }
  for (uint32_t id : refs.stacks) {
    if (!Has(defined_.stacks, id)) AddUnique(missing.stacks, id);
  }
  if (missing.strings.empty() && missing.frames.empty() && missing.stacks.empty()) return true;
  for (auto* ids : {&missing.strings, &missing.frames, &missing.stacks}) SortUnique(*ids);
  trace::TraceChunk defs;
  AddDefinitions(Close(missing, &defined_, nullptr), defs, nullptr);
  defined_.Add(defs);
  chunk.mutable_strings()->MergeFrom(defs.strings());
  chunk.mutable_frames()->MergeFrom(defs.frames());
  chunk.mutable_stacks()->MergeFrom(defs.stacks());
  return true;
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

bool FlightRing::ReadChunk(size_t index, trace::TraceChunk& chunk) const {
  const ChunkAt& at = chunks_[index];
  std::string frame;
  if (at.size < kFrameHeaderBytes || !ReadFully(read_fd_, at.offset, size_t(at.size), frame)) {
    return false;
  }
  uint32_t size;
  std::memcpy(&size, frame.data() + 4, 4);  // little-endian hosts only (x86-64, arm64)
  chunk.Clear();
  return size == at.size - kFrameHeaderBytes &&
         trace::DecodeChunk(std::string_view(frame).substr(kFrameHeaderBytes), chunk);
}

bool FlightRing::CopyChunks(size_t first, size_t last, int to_fd) const {
  if (first >= last) return true;
  constexpr size_t kBlockBytes = size_t{1} << 20;
  uint64_t offset = chunks_[first].offset;
  const uint64_t end = chunks_[last - 1].offset + chunks_[last - 1].size;
  std::string block;
  while (offset < end) {
    const size_t n = size_t(std::min<uint64_t>(kBlockBytes, end - offset));
    if (!ReadFully(read_fd_, offset, n, block) || !WriteFully(to_fd, block)) return false;
    offset += n;
  }
  return true;
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
  auto fail = [] {
    errno = errno ? errno : EIO;
    return false;
  };
  // What the kept chunks name and do not define (one chunk at a time:
  // never the whole file in memory).
  trace::TraceChunk chunk;
  Ids kept_refs;
  Defined kept;
  for (size_t i = first_kept; i < chunks_.size(); ++i) {
    if (!ReadChunk(i, chunk)) return fail();
    ChunkRefs(chunk, kept_refs);
    kept.Add(chunk);
  }
  Ids wanted;
  auto undefined = [](const std::vector<uint32_t>& ids, const std::vector<bool>& have,
                      std::vector<uint32_t>& out) {
    for (uint32_t id : ids) {
      if (!Has(have, id)) out.push_back(id);
    }
  };
  undefined(kept_refs.strings, kept.strings, wanted.strings);
  undefined(kept_refs.frames, kept.frames, wanted.frames);
  undefined(kept_refs.stacks, kept.stacks, wanted.stacks);
  kept_refs = Ids();
  // What the dropped chunks leave (a checkpoint's events are that state
  // already), and the definitions they hold, to be given again.
  Dropped dropped;
  for (size_t i = 0; i < first_kept; ++i) {
    if (!ReadChunk(i, chunk)) return fail();
    if (!chunks_[i].checkpoint) {
      state_.ApplyChunk(chunk);
      ++dropped_chunks_;
    }
    KeepDropped(chunk, i, dropped);
  }
  chunk.Clear();
  const uint64_t first_kept_sequence =
      first_kept < chunks_.size() ? chunks_[first_kept].sequence : next_sequence;
  trace::TraceChunk checkpoint_chunk;
  if (!BuildCheckpoint(std::move(wanted), first_kept_sequence, dropped, checkpoint_chunk)) return fail();
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
      !CopyChunks(first_kept, chunks_.size(), new_fd) || !OpenReader(wrap_path, new_fd) ||
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
  defined_ = std::move(kept);
  defined_.Add(checkpoint_chunk);
  return true;
}

bool FlightRing::BuildCheckpoint(Ids wanted, uint64_t first_kept_sequence, Dropped& dropped,
                                 trace::TraceChunk& chunk) {
  // Every id the live events name too: the checkpoint defines them before
  // its events use them.
  const std::vector<trace::TimedEvent> live = state_.LiveEvents();
  for (const trace::TimedEvent& t : live) EventRefs(t.event, wanted);
  const Ids ids = Close(wanted, nullptr, &dropped);
  // Strings are read back only now, from the dropped chunks that define
  // the ones wanted and not at hand (strings can be most of a trace).
  std::map<size_t, std::vector<uint32_t>> to_read;  // chunk index -> string ids
  for (uint32_t id : ids.strings) {
    if (strings_.Find(id) != nullptr) continue;
    auto at = dropped.string_chunk.find(id);
    if (at != dropped.string_chunk.end()) to_read[at->second].push_back(id);
  }
  for (const auto& [index, string_ids] : to_read) {
    if (!ReadChunk(index, chunk)) return false;
    for (const auto& s : chunk.strings()) {
      if (std::binary_search(string_ids.begin(), string_ids.end(), s.id())) {
        dropped.strings[s.id()] = s.value();
      }
    }
  }
  chunk.Clear();
  chunk.set_format_version(trace::kFormatVersion);
  chunk.set_sequence(first_kept_sequence - 1);
  *chunk.mutable_process() = process_;
  trace::FlightCheckpoint* info = chunk.mutable_checkpoint();
  info->set_first_kept_sequence(first_kept_sequence);
  info->set_dropped_chunks(dropped_chunks_);
  info->set_dropped_until_ns(state_.last_time_ns());
  info->set_max_bytes(max_bytes_);
  AddDefinitions(ids, chunk, &dropped);
  uint64_t clock = live.empty() ? state_.last_time_ns() : live.front().time_ns;
  chunk.set_base_time_ns(clock);
  for (const trace::TimedEvent& t : live) {
    trace::Event* e = chunk.add_events();
    *e = t.event;
    const uint64_t time = std::max(clock, t.time_ns);
    e->set_time_delta_ns(time - clock);
    clock = time;
  }
  return true;
}

const std::vector<uint32_t>* FlightRing::FindStack(uint32_t id, const Dropped* dropped) const {
  if (const std::vector<uint32_t>* frames = stacks_.Find(id)) return frames;
  if (dropped == nullptr) return nullptr;
  auto it = dropped->stacks.find(id);
  return it != dropped->stacks.end() ? &it->second : nullptr;
}

const FrameDef* FlightRing::FindFrame(uint32_t id, const Dropped* dropped) const {
  if (const FrameDef* f = frames_.Find(id)) return f;
  if (dropped == nullptr) return nullptr;
  auto it = dropped->frames.find(id);
  return it != dropped->frames.end() ? &it->second : nullptr;
}

const std::string* FlightRing::FindString(uint32_t id, const Dropped* dropped) const {
  if (const std::string* s = strings_.Find(id)) return s;
  if (dropped == nullptr) return nullptr;
  auto it = dropped->strings.find(id);
  return it != dropped->strings.end() ? &it->second : nullptr;
}

FlightRing::Ids FlightRing::Close(const Ids& wanted, const Defined* skip, const Dropped* dropped) const {
  Ids all = wanted;
  SortUnique(all.stacks);
  for (uint32_t id : all.stacks) {
    if (const std::vector<uint32_t>* frames = FindStack(id, dropped)) {
      all.frames.insert(all.frames.end(), frames->begin(), frames->end());
    }
  }
  SortUnique(all.frames);
  for (uint32_t id : all.frames) {
    if (const FrameDef* f = FindFrame(id, dropped)) {
      AddUnique(all.strings, f->file);
      AddUnique(all.strings, f->function);
    }
  }
  SortUnique(all.strings);
  if (skip != nullptr) {
    auto drop = [](std::vector<uint32_t>& ids, const std::vector<bool>& have) {
      ids.erase(std::remove_if(ids.begin(), ids.end(), [&](uint32_t id) { return Has(have, id); }),
                ids.end());
    };
    drop(all.strings, skip->strings);
    drop(all.frames, skip->frames);
    drop(all.stacks, skip->stacks);
  }
  return all;
}

void FlightRing::AddDefinitions(const Ids& ids, trace::TraceChunk& chunk, const Dropped* dropped) const {
  for (uint32_t id : ids.strings) {
    const std::string* value = FindString(id, dropped);
    if (value == nullptr) continue;
    auto* s = chunk.add_strings();
    s->set_id(id);
    s->set_value(*value);
  }
  for (uint32_t id : ids.frames) {
    const FrameDef* f = FindFrame(id, dropped);
    if (f == nullptr) continue;
    auto* out = chunk.add_frames();
    out->set_id(f->id);
    out->set_file(f->file);
    out->set_function(f->function);
    out->set_line(f->line);
    out->set_library(f->library);
  }
  for (uint32_t id : ids.stacks) {
    const std::vector<uint32_t>* frames = FindStack(id, dropped);
    if (frames == nullptr) continue;
    auto* s = chunk.add_stacks();
    s->set_id(id);
    s->mutable_frames()->Add(frames->begin(), frames->end());
  }
}

}  // namespace waitgraph::shim
