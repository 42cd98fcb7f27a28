#include "trace/chunk_file.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

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
  for (;;) {
    size_t n = std::fread(block, 1, sizeof block, file_);
    buffer_.append(block, n);
    if (n < sizeof block) break;
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
    if (Fnv1a32(payload) != GetU32(h + 8) ||
        !chunk.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      buffer_.erase(0, pos);
      consumed_ += pos;
      return Fail(absl::DataLossError(absl::StrCat(
          "trace ", path_, " is corrupt at byte ", consumed_, " (chunk ",
          chunks_read_, " fails its checksum)")));
    }
    if (chunk.format_version() > kFormatVersion) {
      buffer_.erase(0, pos);
      consumed_ += pos;
      return Fail(absl::FailedPreconditionError(absl::StrCat(
          "trace ", path_, " was written in format ", chunk.format_version(),
          ", newer than this waitgraph reads (", kFormatVersion, "); use a newer waitgraph")));
    }
    out.push_back(std::move(chunk));
    ++chunks_read_;
    pos += kFrameHeaderSize + size;
  }
  buffer_.erase(0, pos);
  consumed_ += pos;
  return true;
}

bool ChunkFileReader::Poll(std::vector<TraceChunk>& out) {
  if (!status_.ok()) return false;
  if (!ReadMore()) return false;
  if (!header_checked_) {
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
    header_checked_ = true;
  }
  return DecodeFrames(out);
}

}  // namespace waitgraph::trace
