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

bool ChunkFileReader::ReadMore(uint64_t max_bytes) {
  if (file_ == nullptr) {
    file_ = std::fopen(path_.c_str(), "rb");
    if (file_ == nullptr) {
      return Fail(absl::NotFoundError(
          absl::StrCat("cannot open trace ", path_, ": ", std::strerror(errno))));
    }
  }
  char block[1 << 16];
  uint64_t read = 0;
  more_to_read_ = false;
  for (;;) {
    size_t n = std::fread(block, 1, sizeof block, file_);
    buffer_.append(block, n);
    read += n;
    if (n < sizeof block) break;
    if (read >= max_bytes) {
      more_to_read_ = true;
      break;
    }
  }
  if (std::ferror(file_)) {
    return Fail(absl::DataLossError(absl::StrCat("cannot read trace ", path_)));
  }
  std::clearerr(file_);  // so the next Poll() sees bytes appended since
  return true;
}

// Why the chunk at the head of the buffer cannot be used, or "" if it can.
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

bool ChunkFileReader::DecodeFrames(std::vector<TraceChunk>& out) {
  size_t pos = 0;
  // Drops the frames decoded so far from the buffer (once: erasing per
  // frame would copy the rest each time), so offset() is where a bad one starts.
  auto consume = [&] {
    buffer_.erase(0, pos);
    consumed_ += pos;
  };
  while (buffer_.size() - pos >= kFrameHeaderSize) {
    const char* h = buffer_.data() + pos;
    const uint32_t size = GetU32(h + 4);
    if (GetU32(h) != kFrameMagic || size > kMaxFramePayload) {
      consume();
      return Fail(absl::DataLossError(absl::StrCat(
          "trace ", path_, " is corrupt at byte ", consumed_, " (bad chunk header)")));
    }
    if (buffer_.size() - pos - kFrameHeaderSize < size) break;  // not yet whole
    std::string_view payload(h + kFrameHeaderSize, size);
    TraceChunk chunk;
    if (Fnv1a32(payload) != GetU32(h + 8) ||
        !chunk.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      consume();
      return Fail(absl::DataLossError(absl::StrCat(
          "trace ", path_, " is corrupt at byte ", consumed_, " (chunk ",
          chunks_read_, " fails its checksum)")));
    }
    if (std::string refusal = Refusal(chunk, consumed_ + pos); !refusal.empty()) {
      consume();
      const bool newer = chunk.format_version() > kFormatVersion;
      return Fail(newer ? absl::FailedPreconditionError(refusal) : absl::DataLossError(refusal));
    }
    out.push_back(std::move(chunk));
    ++chunks_read_;
    pos += kFrameHeaderSize + size;
  }
  consume();
  return true;
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

bool ChunkFileReader::Poll(std::vector<TraceChunk>& out, uint64_t max_bytes) {
  if (!status_.ok()) return false;
  if (!ReadMore(max_bytes)) return false;
  return Feed(std::string_view(), out);
}

bool ChunkFileReader::Feed(std::string_view bytes, std::vector<TraceChunk>& out) {
  if (!status_.ok()) return false;
  buffer_.append(bytes);
  bool have_header = false;
  if (!CheckHeader(have_header)) return false;
  return have_header ? DecodeFrames(out) : true;
}

}  // namespace waitgraph::trace
