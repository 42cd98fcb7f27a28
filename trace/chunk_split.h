// Reading a serialized TraceChunk without a protobuf message per event (the
// analyzer's hot path, issue 12): a walk over the chunk's top-level fields
// decodes each event into plain fields and leaves the rest (definitions,
// the chunk's own fields) to protobuf.
//
// The walk takes only what the shim writes (one-byte tags, well-formed
// varints and lengths, no groups) and then gives exactly what protobuf's
// parse gives (values truncated as its parser truncates them, repeated
// fields in order, the last of a repeated scalar kept, unknown fields
// skipped). Anything else makes it decline, and the caller parses the chunk
// with protobuf as before: the same result or the same failure either way.
#ifndef WAITGRAPH_TRACE_CHUNK_SPLIT_H_
#define WAITGRAPH_TRACE_CHUNK_SPLIT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::trace {

// The fields of one Event.
struct EventFields {
  uint64_t time_delta_ns = 0;
  uint64_t thread = 0;
  uint64_t subject = 0;
  uint64_t object = 0;
  int64_t arg = 0;
  uint32_t stack = 0;
  uint32_t name = 0;
  int32_t kind = 0;  // an EventKind, or a number this reader does not know

  // Sets every field of `event` (a message reused for each event).
  void CopyTo(Event& event) const;
};

// Appends the events of the serialized TraceChunk `bytes` to `events` and
// copies its other fields to `rest` (cleared first), to be parsed as a
// TraceChunk. False if the encoding is not one the walk takes: `events` and
// `rest` are then unspecified.
//
// With `zstd_body`, a TraceChunk.zstd_body field is not copied to `rest`
// but pointed to (into `bytes`; the last one, as a parse keeps the last),
// and left empty if there is none: the compressed body, most of a
// format-2 payload, is then decompressed from where it was read instead
// of copied twice (to `rest`, then into the parsed chunk).
bool SplitChunk(std::string_view bytes, std::string& rest, std::vector<EventFields>& events,
                std::string_view* zstd_body = nullptr);

// The writing side (the shim's writer thread): appends `event` to `out` as
// one TraceChunk.events entry (field 8), byte for byte as protobuf
// serializes it (fields in number order, zero values left out, the kind
// sign-extended like an int32). The rest of a chunk serialized by protobuf
// followed by its events appended this way is the chunk protobuf would
// serialize, as long as the chunk sets no field after events (a writer's
// chunks never do: checkpoint and zstd_body are set on other chunks).
void AppendEvent(const EventFields& event, std::string& out);

}  // namespace waitgraph::trace

#endif  // WAITGRAPH_TRACE_CHUNK_SPLIT_H_
