#include "trace/chunk_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
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
  payload.clear();
  if (zstd_level == 0) {
    TraceChunk plain = chunk;
    plain.set_format_version(kFormatUncompressed);
    return plain.SerializeToString(&payload);
  }
  // The body is the whole chunk serialized as it is (no copy: a reader's
  // merge sets format_version and sequence to the same values again).
  std::string raw;
  if (!chunk.SerializeToString(&raw)) return false;
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

bool DecodeChunk(std::string_view payload, TraceChunk& chunk) {
  // A string that is not UTF-8 (a crafted trace: the shim never writes one)
  // fails the parse, and protobuf would print its own lines about it on
  // stderr: the caller says what went wrong, in one line.
  google::protobuf::LogSilencer quiet;
  if (!chunk.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return false;
  if (chunk.zstd_body().empty() || chunk.format_version() > kFormatVersion) return true;
  // A body never decompresses to more than this: a corrupt or hostile size
  // must not allocate without bound.
  constexpr unsigned long long kMaxBody = 4ull * kMaxFramePayload;
  const std::string& packed = chunk.zstd_body();
  unsigned long long size = ZSTD_getFrameContentSize(packed.data(), packed.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxBody) {
    return false;
  }
  std::string raw(size, '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), packed.data(), packed.size());
  if (ZSTD_isError(n) || n != size) return false;
  TraceChunk body;
  if (!body.ParseFromArray(raw.data(), static_cast<int>(raw.size()))) return false;
  chunk.clear_zstd_body();
  chunk.MergeFrom(body);
  return true;
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

bool ChunkFileReader::DecodeFrames(std::vector<TraceChunk>& out) {
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
    TraceChunk chunk;
    const bool checksum_ok = Fnv1a32(payload) == GetU32(h + 8);
    if (!checksum_ok || !DecodeChunk(payload, chunk)) {
      buffer_.erase(0, pos);
      consumed_ += pos;
      return Fail(absl::DataLossError(absl::StrCat(
          "trace ", path_, " is corrupt at byte ", consumed_, " (chunk ", chunks_read_,
          checksum_ok ? " does not decode: damaged, or a string in it is not UTF-8)"
                      : " fails its checksum)")));
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
    out.push_back(std::move(chunk));
    ++chunks_read_;
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
  if (!PollFile(out)) return false;
  if (!at_eof_ || !Replaced()) return true;
  // The old file is complete once replaced: take its last chunks, then
  // follow the new one from the chunk after the last one seen.
  do {
    if (!PollFile(out)) return false;
  } while (!at_eof_);
  SwitchToReplacement();
  return PollFile(out);
}

bool ChunkFileReader::PollFile(std::vector<TraceChunk>& out) {
  if (!status_.ok()) return false;
  if (!ReadMore()) return false;
  return Feed(std::string_view(), out);
}

bool ChunkFileReader::Feed(std::string_view bytes, std::vector<TraceChunk>& out) {
  if (!status_.ok()) return false;
  buffer_.append(bytes);
  bool have_header = false;
  if (!CheckHeader(have_header)) return false;
  return have_header ? DecodeFrames(out) : true;
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
