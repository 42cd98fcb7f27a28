#include "trace/chunk_split.h"

#include <bit>
#include <cstring>

namespace waitgraph::trace {
namespace {

enum WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

constexpr int kEventsField = 8;     // TraceChunk.events
constexpr int kZstdBodyField = 10;  // TraceChunk.zstd_body

// A cursor over bytes that declines (returns false) on anything out of the
// simple encoding.
class Bytes {
 public:
  Bytes(const char* p, const char* end) : p_(reinterpret_cast<const uint8_t*>(p)),
                                          end_(reinterpret_cast<const uint8_t*>(end)) {}
  bool done() const { return p_ == end_; }
  const char* at() const { return reinterpret_cast<const char*>(p_); }

  // A varint of at most 10 bytes, its value modulo 2^64 (as protobuf reads
  // it: a 10th byte counts only for its lowest bit, and must end it).
  bool Varint(uint64_t& value) {
    if (p_ != end_ && *p_ < 0x80) {  // one byte: kinds, stacks, names, small deltas
      value = *p_++;
      return true;
    }
    // Most others are under 8 bytes: read 8 at once, find the last byte by its
    // clear top bit and squeeze out the top bits, without a branch per byte.
    if constexpr (std::endian::native == std::endian::little) {
      if (end_ - p_ >= 8) {
        uint64_t x;
        std::memcpy(&x, p_, 8);
        const uint64_t last = ~x & 0x8080808080808080ull;
        if (last != 0) {
          const int bytes = std::countr_zero(last) / 8 + 1;
          x &= bytes == 8 ? ~0ull : (uint64_t{1} << (8 * bytes)) - 1;
          x &= 0x7f7f7f7f7f7f7f7full;
          x = ((x & 0x7f007f007f007f00ull) >> 1) | (x & 0x007f007f007f007full);
          x = ((x & 0x3fff00003fff0000ull) >> 2) | (x & 0x00003fff00003fffull);
          x = ((x & 0x0fffffff00000000ull) >> 4) | (x & 0x000000000fffffffull);
          value = x;
          p_ += bytes;
          return true;
        }
      }
    }
    uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      if (p_ == end_) return false;
      const uint8_t b = *p_++;
      v |= uint64_t(b & 0x7f) << (7 * i);
      if (b < 0x80) {
        value = v;
        return true;
      }
    }
    return false;
  }
  // A one-byte tag with a field number: anything longer is not the shim's.
  bool Tag(int& field, int& wire_type) {
    if (p_ == end_ || *p_ >= 0x80 || (*p_ >> 3) == 0) return false;
    field = *p_ >> 3;
    wire_type = *p_ & 7;
    ++p_;
    return true;
  }
  // A length of at most 5 bytes, below 2^31, that fits in what is left.
  bool Length(size_t& length) {
    const uint8_t* start = p_;
    uint64_t v;
    if (!Varint(v) || p_ - start > 5 || v > 0x7fffffff || v > uint64_t(end_ - p_)) return false;
    length = size_t(v);
    return true;
  }
  bool Skip(size_t n) {
    if (n > size_t(end_ - p_)) return false;
    p_ += n;
    return true;
  }
  // Skips the value of a field of `wire_type` (groups and invalid types
  // decline).
  bool SkipValue(int wire_type) {
    uint64_t ignored;
    size_t length;
    switch (wire_type) {
      case kVarint: return Varint(ignored);
      case kFixed64: return Skip(8);
      case kFixed32: return Skip(4);
      case kLengthDelimited: return Length(length) && Skip(length);
      default: return false;
    }
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// One Event's bytes: the fields as Event::_InternalParse sets them (a field
// of another wire type than its own is unknown to it, and skipped).
bool DecodeEvent(Bytes in, EventFields& e) {
  uint64_t value[9] = {};  // by field number: a store, not a branch, per field
  while (!in.done()) {
    int field, wire_type;
    if (!in.Tag(field, wire_type)) return false;
    if (wire_type != kVarint || field > 8) {
      if (!in.SkipValue(wire_type)) return false;
      continue;
    }
    if (!in.Varint(value[field])) return false;
  }
  e.time_delta_ns = value[1];
  e.thread = value[2];
  e.kind = static_cast<int32_t>(static_cast<uint32_t>(value[3]));
  e.subject = value[4];
  e.object = value[5];
  e.stack = static_cast<uint32_t>(value[6]);
  e.name = static_cast<uint32_t>(value[7]);
  e.arg = static_cast<int64_t>(value[8]);
  return true;
}

}  // namespace

void EventFields::CopyTo(Event& event) const {
  event.set_time_delta_ns(time_delta_ns);
  event.set_thread(thread);
  event.set_kind(static_cast<EventKind>(kind));
  event.set_subject(subject);
  event.set_object(object);
  event.set_stack(stack);
  event.set_name(name);
  event.set_arg(arg);
}

bool SplitChunk(std::string_view bytes, std::string& rest, std::vector<EventFields>& events,
                std::string_view* zstd_body) {
  rest.clear();
  if (zstd_body != nullptr) *zstd_body = std::string_view();
  Bytes in(bytes.data(), bytes.data() + bytes.size());
  while (!in.done()) {
    const char* field_start = in.at();
    int field, wire_type;
    if (!in.Tag(field, wire_type)) return false;
    if (field == kEventsField && wire_type == kLengthDelimited) {
      size_t length;
      if (!in.Length(length)) return false;
      const char* body = in.at();
      in.Skip(length);
      if (!DecodeEvent(Bytes(body, body + length), events.emplace_back())) return false;
      continue;
    }
    if (field == kZstdBodyField && wire_type == kLengthDelimited && zstd_body != nullptr) {
      size_t length;
      if (!in.Length(length)) return false;
      *zstd_body = std::string_view(in.at(), length);
      in.Skip(length);
      continue;
    }
    if (!in.SkipValue(wire_type)) return false;
    rest.append(field_start, in.at() - field_start);
  }
  return true;
}

namespace {

// An event's entry is built in a small stack buffer and appended at once:
// its tag, its length (one byte: the body is at most a tag and ten bytes per
// field), then the body.
constexpr size_t kMaxEventBody = 8 * (1 + 10);
static_assert(kMaxEventBody < 0x80, "an event's length must fit in one varint byte");

inline uint8_t* PutVarint(uint64_t value, uint8_t* p) {
  while (value >= 0x80) {
    *p++ = uint8_t(value | 0x80);
    value >>= 7;
  }
  *p++ = uint8_t(value);
  return p;
}

// One varint field, left out when zero (proto3).
inline uint8_t* PutField(int field, uint64_t value, uint8_t* p) {
  if (value == 0) return p;
  *p++ = uint8_t(field << 3 | kVarint);
  return PutVarint(value, p);
}

}  // namespace

void AppendEvent(const EventFields& e, std::string& out) {
  uint8_t entry[2 + kMaxEventBody];
  uint8_t* const body = entry + 2;
  uint8_t* p = body;
  p = PutField(1, e.time_delta_ns, p);
  p = PutField(2, e.thread, p);
  p = PutField(3, uint64_t(int64_t(e.kind)), p);  // an enum is an int32 on the wire
  p = PutField(4, e.subject, p);
  p = PutField(5, e.object, p);
  p = PutField(6, e.stack, p);
  p = PutField(7, e.name, p);
  p = PutField(8, uint64_t(e.arg), p);
  entry[0] = uint8_t(kEventsField << 3 | kLengthDelimited);
  entry[1] = uint8_t(p - body);
  out.append(reinterpret_cast<const char*>(entry), size_t(p - entry));
}

}  // namespace waitgraph::trace
