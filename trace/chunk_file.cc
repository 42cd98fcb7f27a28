#include "trace/chunk_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/io/coded_stream.h"
#include "zstd.h"

namespace waitgraph::trace {
namespace {

constexpr size_t kFrameHeaderSize = 12;

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

uint32_t Fnv1a32(std::string_view bytes) {
  uint32_t h = 2166136261u;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::string FrameChunk(std::string_view payload) {
  // Never a frame no reader takes (and no silent uint32 truncation).
  if (payload.size() > kMaxFramePayload) return std::string();
  std::string out;
  out.reserve(kFrameHeaderSize + payload.size());
  PutU32(out, kFrameMagic);
  PutU32(out, static_cast<uint32_t>(payload.size()));
  PutU32(out, Fnv1a32(payload));
  out.append(payload);
  return out;
}

bool EncodeChunk(const TraceChunk& chunk, int zstd_level, std::string& payload) {
  return EncodeChunk(chunk, std::string_view(), zstd_level, payload);
}

bool EncodeChunk(const TraceChunk& chunk, std::string_view events, int zstd_level,
                 std::string& payload) {
  payload.clear();
  if (zstd_level == 0) {
    TraceChunk plain = chunk;
    plain.set_format_version(kFormatUncompressed);
    if (!plain.SerializeToString(&payload)) return false;
    payload.append(events);
    return true;
  }
  // The body is the whole chunk serialized as it is (no copy: a reader's
  // merge sets format_version and sequence to the same values again).
  std::string raw;
  raw.reserve(chunk.ByteSizeLong() + events.size());  // the events appended without a copy
  if (!chunk.AppendToString(&raw)) return false;
  raw.append(events);
  // One compression context and one output buffer per writing thread, kept:
  // ZSTD_compress would allocate and clear a fresh context for every chunk
  // (a chunk goes out every 50 ms), and a new buffer would be zero-filled.
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> context(ZSTD_createCCtx(),
                                                                          ZSTD_freeCCtx);
  thread_local std::string scratch;
  if (context == nullptr) return false;
  scratch.resize(std::max(scratch.size(), ZSTD_compressBound(raw.size())));
  size_t n = ZSTD_compressCCtx(context.get(), scratch.data(), scratch.size(), raw.data(), raw.size(),
                               zstd_level);
  if (ZSTD_isError(n)) return false;
  std::string packed(scratch.data(), n);
  TraceChunk outer;
  outer.set_format_version(kFormatVersion);
  outer.set_sequence(chunk.sequence());
  outer.set_zstd_body(std::move(packed));
  return outer.SerializeToString(&payload);
}

namespace {

// What a compressed body may decompress to: no more than its frame says,
// and no more than kMaxExpansion times its compressed size past a floor
// that every chunk a shim writes fits in (its budget is 8 MiB, which
// compresses 3-10x), nor than kMaxBody. A corrupt or crafted size then
// costs at most that much memory, and only as output really comes.
constexpr uint64_t kMaxBody = 4ull * kMaxFramePayload;
constexpr uint64_t kBodyFloor = 16ull << 20;
constexpr uint64_t kMaxExpansion = 64;

uint64_t BodyLimit(size_t packed_size) {
  const uint64_t proportional = kMaxExpansion * packed_size;
  const uint64_t limit = proportional > kBodyFloor ? proportional : kBodyFloor;
  return limit < kMaxBody ? limit : kMaxBody;
}

// Decompresses one zstd frame of exactly `size` bytes into raw[0, size),
// growing `raw` (kept between calls, so never zero-filled twice) only as
// output comes. False, and why, if the frame is not that.
bool Decompress(std::string_view packed, uint64_t size, std::string& raw, std::string* why) {
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> context(ZSTD_createDCtx(),
                                                                          ZSTD_freeDCtx);
  if (context == nullptr) return false;
  ZSTD_DCtx_reset(context.get(), ZSTD_reset_session_only);
  ZSTD_inBuffer in{packed.data(), packed.size(), 0};
  size_t produced = 0;
  for (;;) {
    if (produced == raw.size()) {
      // Room for more: double, up to the declared size (plus one byte, to
      // see a body longer than declared).
      const uint64_t want = raw.size() < (64u << 10) ? (64u << 10) : 2 * uint64_t(raw.size());
      const uint64_t cap = size + 1;
      raw.resize(want < cap ? want : cap);
      if (produced == raw.size()) break;
    }
    ZSTD_outBuffer out{raw.data(), raw.size() < size + 1 ? raw.size() : size + 1, produced};
    const size_t left = ZSTD_decompressStream(context.get(), &out, &in);
    if (ZSTD_isError(left)) {
      if (why) *why = absl::StrCat("has a corrupt compressed body: ", ZSTD_getErrorName(left));
      return false;
    }
    produced = out.pos;
    if (produced > size) break;
    if (left == 0) break;  // the frame is complete
    if (in.pos == in.size && out.pos < out.size) {
      if (why) *why = "has a compressed body that is cut off";
      return false;
    }
  }
  if (produced != size || in.pos != in.size) {
    if (why) {
      *why = produced > size ? absl::StrCat("decompresses to more than the ", size,
                                            " bytes it declares")
                             : absl::StrCat("decompresses to ", produced, " bytes, not the ",
                                            size, " it declares");
    }
    return false;
  }
  return true;
}

// Decompresses a body of a declared `size` into raw[0, size) in one call
// when `raw` is already that large (every chunk after the first of a
// trace): no streaming through zstd's window buffer. Only a body of one
// frame, all of it used (what Decompress requires); false, for Decompress
// to do it (and say why it fails), otherwise.
bool DecompressAtOnce(std::string_view packed, uint64_t size, std::string& raw) {
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> context(ZSTD_createDCtx(),
                                                                          ZSTD_freeDCtx);
  if (context == nullptr || raw.size() < size) return false;
  if (ZSTD_findFrameCompressedSize(packed.data(), packed.size()) != packed.size()) return false;
  const size_t n = ZSTD_decompressDCtx(context.get(), raw.data(), size, packed.data(), packed.size());
  return !ZSTD_isError(n) && n == size;
}

constexpr char kUndecodable[] = "does not decode: damaged, or a string in it is not UTF-8";

// Parses `bytes` (a serialized chunk, or the part of one SplitChunk left)
// into `chunk`, replacing (`merge` false) or merged into what it holds.
bool ParseChunk(std::string_view bytes, TraceChunk& chunk, bool merge) {
  if (!merge) return chunk.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  return chunk.MergeFromCodedStream(&in) && in.ConsumedEntireMessage();
}

// DecodeChunk, and DecodeChunkSplit with `events`: each serialized chunk
// (the payload, a format-2 body) is split when SplitChunk takes it, else
// parsed whole as DecodeChunk does.
bool DecodeChunkImpl(std::string_view payload, TraceChunk& chunk, std::vector<EventFields>* events,
                     std::string* why) {
  // A string that is not UTF-8 (a crafted trace: the shim never writes one)
  // fails the parse, and protobuf would print its own lines about it on
  // stderr: the caller says what went wrong, in one line.
  google::protobuf::LogSilencer quiet;
  thread_local std::string rest;  // kept: the next chunk reuses its memory
  if (events != nullptr) events->clear();
  // Split, the compressed body is read where it lies in `payload`.
  std::string_view split_body;
  const bool outer_split = events != nullptr && SplitChunk(payload, rest, *events, &split_body);
  if (events != nullptr && !outer_split) events->clear();
  if (!(outer_split ? ParseChunk(rest, chunk, false) : ParseChunk(payload, chunk, false))) {
    if (why) *why = kUndecodable;
    return false;
  }
  const std::string_view packed = outer_split ? split_body : std::string_view(chunk.zstd_body());
  if (packed.empty() || chunk.format_version() > kFormatVersion) {
    // A newer format's body is kept in the chunk, as a parse keeps it.
    if (outer_split && !packed.empty()) chunk.set_zstd_body(std::string(packed));
    return true;
  }
  // A body on top of events of the outer chunk (never written): the old way.
  if (events != nullptr && !events->empty()) {
    events->clear();
    return DecodeChunkImpl(payload, chunk, nullptr, why);
  }
  const unsigned long long size = ZSTD_getFrameContentSize(packed.data(), packed.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    if (why) *why = "has a compressed body that does not say its size";
    return false;
  }
  if (size > BodyLimit(packed.size())) {
    if (why) {
      *why = absl::StrCat("claims a body of ", size, " bytes in ", packed.size(),
                          " compressed bytes, more than a chunk may hold (corrupt or crafted)");
    }
    return false;
  }
  thread_local std::string raw;  // kept: the next chunk reuses its memory
  if (!DecompressAtOnce(packed, size, raw) && !Decompress(packed, size, raw, why)) return false;
  // The body is a serialized TraceChunk: parsed on top of the outer one it
  // is MergeFrom of the parsed body (repeated fields appended, scalars set),
  // without a second message and a copy of every event.
  chunk.clear_zstd_body();
  const std::string_view body(raw.data(), size);
  bool parsed;
  if (events != nullptr && SplitChunk(body, rest, *events)) {
    parsed = ParseChunk(rest, chunk, true);
  } else {
    if (events != nullptr) events->clear();
    parsed = ParseChunk(body, chunk, true);
  }
  if (!parsed) {
    if (why) *why = "has a body that is not a chunk (damaged, or a string in it is not UTF-8)";
    return false;
  }
  return true;
}

}  // namespace

bool DecodeChunk(std::string_view payload, TraceChunk& chunk, std::string* why) {
  return DecodeChunkImpl(payload, chunk, nullptr, why);
}

bool DecodeChunkSplit(std::string_view payload, TraceChunk& chunk, std::vector<EventFields>& events,
                      std::string* why) {
  return DecodeChunkImpl(payload, chunk, &events, why);
}

ChunkFileReader::ChunkFileReader(std::string path) : path_(std::move(path)) {}

ChunkFileReader::~ChunkFileReader() {
  if (file_ != nullptr) std::fclose(file_);
}

bool ChunkFileReader::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
  return false;
}

bool ChunkFileReader::ReadMore() {
  if (file_ == nullptr) {
    file_ = std::fopen(path_.c_str(), "rb");
    if (file_ == nullptr) {
      return Fail(absl::NotFoundError(
          absl::StrCat("cannot open trace ", path_, ": ", std::strerror(errno))));
    }
  }
  char block[1 << 16];
  size_t taken = 0;
  at_eof_ = false;
  for (;;) {
    size_t n = std::fread(block, 1, sizeof block, file_);
    buffer_.append(block, n);
    taken += n;
    if (n < sizeof block) {
      at_eof_ = true;
      break;
    }
    if (taken >= read_limit_) break;  // decode this much before reading on
  }
  if (std::ferror(file_)) {
    return Fail(absl::DataLossError(absl::StrCat("cannot read trace ", path_)));
  }
  std::clearerr(file_);  // so the next Poll() sees bytes appended since
  return true;
}

bool ChunkFileReader::DecodeFrames(ChunkTake take) {
  size_t pos = 0;
  while (buffer_.size() - pos >= kFrameHeaderSize) {
    const char* h = buffer_.data() + pos;
    const uint32_t size = GetU32(h + 4);
    if (GetU32(h) != kFrameMagic || size > kMaxFramePayload) {
      buffer_.erase(0, pos);
      consumed_ += pos;
      return Fail(absl::DataLossError(absl::StrCat(
          "trace ", path_, " is corrupt at byte ", consumed_, " (bad chunk header)")));
    }
    if (buffer_.size() - pos - kFrameHeaderSize < size) break;  // not yet whole
    std::string_view payload(h + kFrameHeaderSize, size);
    TraceChunk& chunk = scratch_;  // parsing clears it and reuses its events
    std::string why = "fails its checksum";
    split_events_.clear();
    if (Fnv1a32(payload) != GetU32(h + 8) ||
        !(split_ ? DecodeChunkSplit(payload, chunk, split_events_, &why)
                 : DecodeChunk(payload, chunk, &why))) {
      buffer_.erase(0, pos);
      consumed_ += pos;
      return Fail(absl::DataLossError(absl::StrCat(
          "trace ", path_, " is corrupt at byte ", consumed_, " (chunk ",
          chunks_read_, " ", why, ")")));
    }
    if (std::string refusal = Refusal(chunk, consumed_ + pos); !refusal.empty()) {
      buffer_.erase(0, pos);
      consumed_ += pos;
      const bool newer = chunk.format_version() > kFormatVersion;
      return Fail(newer ? absl::FailedPreconditionError(refusal) : absl::DataLossError(refusal));
    }
    pos += kFrameHeaderSize + size;
    if (!Wanted(chunk)) continue;
    next_sequence_ = chunk.sequence() + 1;
    ++chunks_read_;
    take(chunk);
  }
  buffer_.erase(0, pos);
  consumed_ += pos;
  return true;
}

bool ChunkFileReader::Wanted(const TraceChunk& chunk) {
  if (skip_below_ == 0) return true;
  if (chunk.has_checkpoint()) {
    // It stands for every chunk before its first kept one: needed only if
    // some of those were dropped before this reader saw them.
    uint64_t first_kept = chunk.checkpoint().first_kept_sequence();
    if (first_kept <= skip_below_) return false;
    chunks_missed_ += first_kept - skip_below_;
    skip_below_ = 0;
    return true;
  }
  if (chunk.sequence() < skip_below_) return false;
  skip_below_ = 0;
  return true;
}

bool ChunkFileReader::Replaced() const {
  struct stat now, reading;
  if (file_ == nullptr || stat(path_.c_str(), &now) != 0 || fstat(fileno(file_), &reading) != 0) {
    return false;
  }
  return now.st_dev != reading.st_dev || now.st_ino != reading.st_ino;
}

void ChunkFileReader::SwitchToReplacement() {
  std::fclose(file_);
  file_ = nullptr;
  buffer_.clear();
  consumed_ = 0;
  header_checked_ = false;
  skip_below_ = next_sequence_;
  ++wraps_followed_;
}

bool ChunkFileReader::Poll(std::vector<TraceChunk>& out) {
  return PollAll([&](TraceChunk& chunk) { out.push_back(std::move(chunk)); });
}

bool ChunkFileReader::PollEach(ChunkUse use) {
  split_ = true;
  const bool ok = PollAll([&](TraceChunk& chunk) { use(chunk, split_events_); });
  split_ = false;
  return ok;
}

bool ChunkFileReader::PollAll(ChunkTake take) {
  if (!PollFile(take)) return false;
  if (!at_eof_ || !Replaced()) return true;
  // The old file is complete once replaced: take its last chunks, then
  // follow the new one from the chunk after the last one seen.
  do {
    if (!PollFile(take)) return false;
  } while (!at_eof_);
  SwitchToReplacement();
  return PollFile(take);
}

bool ChunkFileReader::PollFile(ChunkTake take) {
  if (!status_.ok()) return false;
  if (!ReadMore()) return false;
  return FeedBytes(std::string_view(), take);
}

bool ChunkFileReader::Feed(std::string_view bytes, std::vector<TraceChunk>& out) {
  return FeedBytes(bytes, [&](TraceChunk& chunk) { out.push_back(std::move(chunk)); });
}

bool ChunkFileReader::FeedEach(std::string_view bytes, ChunkUse use) {
  split_ = true;
  const bool ok = FeedBytes(bytes, [&](TraceChunk& chunk) { use(chunk, split_events_); });
  split_ = false;
  return ok;
}

bool ChunkFileReader::FeedBytes(std::string_view bytes, ChunkTake take) {
  if (!status_.ok()) return false;
  buffer_.append(bytes);
  bool have_header = false;
  if (!CheckHeader(have_header)) return false;
  return have_header ? DecodeFrames(take) : true;
}

bool ChunkFileReader::CheckHeader(bool& have_header) {
  have_header = header_checked_;
  if (header_checked_) return true;
  if (buffer_.size() < kFileMagic.size()) {
    if (buffer_.empty() || kFileMagic.substr(0, buffer_.size()) == buffer_) {
      return true;  // header not written yet
    }
  }
  if (buffer_.compare(0, kFileMagic.size(), kFileMagic) != 0) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        path_, " is not a waitgraph trace (no WGTRACE1 header)")));
  }
  buffer_.erase(0, kFileMagic.size());
  consumed_ = kFileMagic.size();
  header_checked_ = have_header = true;
  return true;
}

// Why a decoded chunk cannot be used, or "" if it can.
std::string ChunkFileReader::Refusal(const TraceChunk& chunk, uint64_t offset) const {
  if (chunk.format_version() == 0) {  // every writer sets it: not ours
    return absl::StrCat("trace ", path_, " is corrupt at byte ", offset, " (chunk ",
                        chunks_read_, " has no format version)");
  }
  if (chunk.format_version() > kFormatVersion) {
    return absl::StrCat("trace ", path_, " was written in format ", chunk.format_version(),
                        ", newer than this waitgraph reads (", kFormatVersion,
                        "); use a newer waitgraph");
  }
  return std::string();
}

}  // namespace waitgraph::trace
