// DecodeChunkSplit (the analyzer's reading, events decoded without a
// message each: trace/chunk_split.h) gives exactly what DecodeChunk gives:
// the same chunk and events, or the same failure and the same words for it,
// on chunks as the shim writes them, on encodings it never writes (unknown
// fields, repeated fields, values too wide for their field) and on damaged
// bytes, in both formats.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "trace/chunk_file.h"
#include "trace/chunk_split.h"
#include "zstd.h"

namespace waitgraph::trace {
namespace {

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutTag(std::string& out, int field, int wire_type) { PutVarint(out, uint64_t(field) << 3 | wire_type); }

// One Event's bytes: its fields in a random order, some twice, with unknown
// fields of every kind and values wider than their field, as a hand-made
// encoder might write them.
std::string RandomEventBytes(std::mt19937_64& rng, bool odd) {
  std::string out;
  const int fields = 1 + rng() % 10;
  for (int i = 0; i < fields; ++i) {
    const int field = 1 + rng() % 8;
    uint64_t value;
    switch (rng() % 4) {
      case 0: value = rng() % 200; break;
      case 1: value = rng(); break;                      // wide: truncated in 32-bit fields
      case 2: value = uint64_t(-int64_t(rng() % 5)); break;  // negative: 10 bytes
      default: value = rng() % (1u << 20); break;
    }
    PutTag(out, field, 0);
    PutVarint(out, value);
    if (odd && rng() % 4 == 0) {  // an unknown field, or a known one of another wire type
      const int unknown = rng() % 3 == 0 ? 1 + rng() % 8 : 9 + rng() % 6;
      switch (rng() % 4) {
        case 0: PutTag(out, unknown, 1); out.append(8, 'x'); break;
        case 1: PutTag(out, unknown, 5); out.append(4, 'y'); break;
        case 2: PutTag(out, unknown, 2); PutVarint(out, 3); out.append("abc"); break;
        default: PutTag(out, 15, 0); PutVarint(out, rng()); break;
      }
    }
  }
  return out;
}

// A serialized chunk: definitions and events interleaved as fields may be.
std::string RandomChunkBytes(std::mt19937_64& rng, bool odd) {
  std::string out;
  PutTag(out, 1, 0);
  PutVarint(out, 1);  // format_version
  PutTag(out, 2, 0);
  PutVarint(out, rng() % 100);  // sequence
  const int parts = rng() % 40;
  for (int i = 0; i < parts; ++i) {
    if (rng() % 5 == 0) {
      InternedString s;
      s.set_id(1 + rng() % 50);
      s.set_value("name" + std::to_string(rng() % 1000));
      PutTag(out, 4, 2);
      PutVarint(out, s.ByteSizeLong());
      out += s.SerializeAsString();
    } else if (rng() % 7 == 0) {
      PutTag(out, 7, 0);
      PutVarint(out, rng() % 100000);  // base_time_ns, set more than once
    } else {
      std::string event = RandomEventBytes(rng, odd);
      PutTag(out, 8, 2);
      PutVarint(out, event.size());
      out += event;
    }
  }
  if (odd && rng() % 3 == 0) {  // an unknown top-level field
    PutTag(out, 20, 2);
    PutVarint(out, 2);
    out.append("zz");
  }
  return out;
}

// Damage: a flipped byte, a cut, or bytes no encoder writes (a group, a
// ten-byte tag, an overlong varint).
void Damage(std::mt19937_64& rng, std::string& bytes) {
  if (bytes.empty()) return;
  switch (rng() % 4) {
    case 0: bytes[rng() % bytes.size()] ^= static_cast<char>(1 << (rng() % 8)); break;
    case 1: bytes.resize(rng() % bytes.size()); break;
    case 2: bytes.insert(rng() % bytes.size(), std::string("\x8b\x01", 2)); break;  // group start
    default: bytes.insert(rng() % bytes.size(), std::string(11, '\xff')); break;
  }
}

std::string Compressed(const std::string& body) {
  std::string packed(ZSTD_compressBound(body.size()), '\0');
  packed.resize(ZSTD_compress(packed.data(), packed.size(), body.data(), body.size(), 3));
  TraceChunk outer;
  outer.set_format_version(kFormatVersion);
  outer.set_sequence(5);
  outer.set_zstd_body(packed);
  return outer.SerializeAsString();
}

// Both decodings of `payload` agree (events compared field by field: the
// split ones carry no unknown fields).
void ExpectSameDecoding(const std::string& payload, int* decoded = nullptr) {
  TraceChunk whole, split;
  std::vector<EventFields> events;
  std::string why_whole, why_split;
  const bool ok_whole = DecodeChunk(payload, whole, &why_whole);
  const bool ok_split = DecodeChunkSplit(payload, split, events, &why_split);
  ASSERT_EQ(ok_whole, ok_split) << why_whole << " | " << why_split;
  if (!ok_whole) {
    EXPECT_EQ(why_whole, why_split);
    return;
  }
  if (decoded != nullptr) ++*decoded;
  std::vector<EventFields> all;
  for (const Event& e : split.events()) {
    all.push_back({e.time_delta_ns(), e.thread(), e.subject(), e.object(), e.arg(), e.stack(), e.name(), e.kind()});
  }
  all.insert(all.end(), events.begin(), events.end());
  ASSERT_EQ(static_cast<int>(all.size()), whole.events_size());
  for (size_t i = 0; i < all.size(); ++i) {
    const Event& e = whole.events(static_cast<int>(i));
    const EventFields& f = all[i];
    ASSERT_EQ(f.time_delta_ns, e.time_delta_ns());
    ASSERT_EQ(f.thread, e.thread());
    ASSERT_EQ(f.kind, static_cast<int32_t>(e.kind()));
    ASSERT_EQ(f.subject, e.subject());
    ASSERT_EQ(f.object, e.object());
    ASSERT_EQ(f.stack, e.stack());
    ASSERT_EQ(f.name, e.name());
    ASSERT_EQ(f.arg, e.arg());
    Event copied;
    f.CopyTo(copied);
    Event known = e;
    known.GetReflection()->MutableUnknownFields(&known)->Clear();
    ASSERT_EQ(copied.SerializeAsString(), known.SerializeAsString());
  }
  whole.clear_events();
  split.clear_events();
  EXPECT_EQ(whole.SerializeAsString(), split.SerializeAsString());
}

TEST(ChunkSplit, ChunksAsTheShimWritesThemSplitIntoTheSameEvents) {
  TraceChunk chunk;
  chunk.set_sequence(3);
  chunk.set_base_time_ns(123456789);
  chunk.add_strings()->set_value("Future.result");
  for (int i = 0; i < 300; ++i) {
    Event* e = chunk.add_events();
    e->set_time_delta_ns(i * 17);
    e->set_thread(4242);
    e->set_kind(i % 2 ? LOOP_BOUND : SEMAPHORE_HOLDER);
    e->set_subject(1000 + i);
    e->set_object(i % 7);
    e->set_stack(i % 3);
    e->set_name(i % 5);
    e->set_arg(i % 2 ? 9 : -1);
  }
  for (int level : {0, kZstdLevel}) {
    std::string payload;
    ASSERT_TRUE(EncodeChunk(chunk, level, payload));
    TraceChunk split;
    std::vector<EventFields> events;
    ASSERT_TRUE(DecodeChunkSplit(payload, split, events));
    EXPECT_EQ(split.events_size(), 0);  // all of them split off
    EXPECT_EQ(events.size(), 300u);
    ExpectSameDecoding(payload);
  }
}

TEST(ChunkSplit, HandMadeEncodingsDecodeAsProtobufDecodesThem) {
  std::mt19937_64 rng(12);
  int decoded = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string body = RandomChunkBytes(rng, /*odd=*/i % 2 == 1);
    ExpectSameDecoding(body, &decoded);       // format 1
    ExpectSameDecoding(Compressed(body), &decoded);  // format 2
  }
  EXPECT_EQ(decoded, 6000);  // every one is a valid chunk
}

TEST(ChunkSplit, DamagedChunksFailAlikeOrDecodeAlike) {
  std::mt19937_64 rng(34);
  int decoded = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string body = RandomChunkBytes(rng, i % 2 == 1);
    Damage(rng, body);
    ExpectSameDecoding(body, &decoded);
    ExpectSameDecoding(Compressed(body), &decoded);
    std::string payload = Compressed(RandomChunkBytes(rng, false));
    Damage(rng, payload);
    ExpectSameDecoding(payload, &decoded);
  }
  EXPECT_GT(decoded, 1000);  // not all of them fail
}

// The writing side: the shim's writer encodes events with AppendEvent and
// appends them to the rest of the chunk serialized by protobuf. That must
// be the very bytes protobuf writes for the chunk holding those events (the
// on-disk format does not change), for zeros (left out), the widest values,
// negative args (10 bytes) and every field alone.
EventFields RandomFields(std::mt19937_64& rng) {
  auto value = [&rng]() -> uint64_t {
    switch (rng() % 5) {
      case 0: return 0;
      case 1: return rng() % 128;
      case 2: return rng() % (1u << 21);
      case 3: return ~uint64_t{0} - rng() % 3;
      default: return rng();
    }
  };
  EventFields e;
  e.time_delta_ns = value();
  e.thread = value();
  e.subject = value();
  e.object = value();
  e.arg = int64_t(value());
  e.stack = uint32_t(value());
  e.name = uint32_t(value());
  e.kind = int32_t(rng() % 3 == 0 ? 0 : rng() % 3 == 0 ? value() : 1 + rng() % 60);
  return e;
}

TEST(ChunkSplit, AppendEventWritesWhatProtobufWrites) {
  std::mt19937_64 rng(56);
  for (int round = 0; round < 200; ++round) {
    TraceChunk chunk;
    chunk.set_format_version(kFormatVersion);
    chunk.set_sequence(round);
    chunk.set_base_time_ns(rng());
    if (round % 2) chunk.add_strings()->set_value("Future.result");
    if (round % 3) chunk.add_stacks()->add_frames(7);
    TraceChunk with_events = chunk;
    std::string appended;
    const int count = round == 0 ? 0 : 1 + int(rng() % 50);
    for (int i = 0; i < count; ++i) {
      const EventFields e = round == 1 && i < 9 ? EventFields{} : RandomFields(rng);
      e.CopyTo(*with_events.add_events());
      AppendEvent(e, appended);
    }
    ASSERT_EQ(chunk.SerializeAsString() + appended, with_events.SerializeAsString()) << round;
    for (int level : {0, kZstdLevel}) {
      std::string by_protobuf, by_append;
      ASSERT_TRUE(EncodeChunk(with_events, level, by_protobuf));
      ASSERT_TRUE(EncodeChunk(chunk, appended, level, by_append));
      EXPECT_EQ(by_append, by_protobuf) << round << " level " << level;
    }
  }
  for (int field = 0; field < 8; ++field) {  // each field alone, at its widest
    EventFields e;
    switch (field) {
      case 0: e.time_delta_ns = ~uint64_t{0}; break;
      case 1: e.thread = ~uint64_t{0}; break;
      case 2: e.kind = -1; break;
      case 3: e.subject = ~uint64_t{0}; break;
      case 4: e.object = ~uint64_t{0}; break;
      case 5: e.stack = ~uint32_t{0}; break;
      case 6: e.name = ~uint32_t{0}; break;
      default: e.arg = INT64_MIN; break;
    }
    TraceChunk one;
    e.CopyTo(*one.add_events());
    std::string appended;
    AppendEvent(e, appended);
    EXPECT_EQ(appended, one.SerializeAsString()) << field;
  }
}

}  // namespace
}  // namespace waitgraph::trace
