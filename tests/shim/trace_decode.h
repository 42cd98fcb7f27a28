// Test helper: decodes a whole trace file into flat events with names and
// stacks resolved (used by the shim's recording test and trace_dump).
#ifndef WAITGRAPH_TESTS_SHIM_TRACE_DECODE_H_
#define WAITGRAPH_TESTS_SHIM_TRACE_DECODE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "trace/chunk_file.h"
#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::shimtest {

struct Frame {
  std::string file, function;
  uint32_t line = 0;
  bool library = false;
};

struct Event {
  uint64_t time_ns = 0;
  uint64_t thread = 0;
  trace::EventKind kind = trace::EVENT_UNKNOWN;
  uint64_t subject = 0, object = 0;
  int64_t arg = 0;
  std::string name;
  std::vector<Frame> stack;  // innermost first
};

struct Trace {
  trace::ProcessInfo process;
  std::vector<Event> events;
  std::vector<uint64_t> sequences;
  bool ok = true;             // reader status
  std::string error;
  uint64_t pending_bytes = 0;  // incomplete last frame
  bool undefined_ids = false;  // an id used before its definition
};

inline Trace DecodeChunks(const std::vector<trace::TraceChunk>& chunks) {
  Trace out;
  std::map<uint32_t, std::string> strings;
  std::map<uint32_t, Frame> frames;
  std::map<uint32_t, std::vector<uint32_t>> stacks;
  for (const trace::TraceChunk& c : chunks) {
    out.sequences.push_back(c.sequence());
    if (c.has_process()) out.process = c.process();
    for (const auto& s : c.strings()) strings[s.id()] = s.value();
    for (const auto& f : c.frames()) {
      if (!strings.count(f.file()) || !strings.count(f.function())) out.undefined_ids = true;
      frames[f.id()] = Frame{strings[f.file()], strings[f.function()], f.line(), f.library()};
    }
    for (const auto& s : c.stacks()) {
      for (uint32_t f : s.frames())
        if (!frames.count(f)) out.undefined_ids = true;
      stacks[s.id()] = std::vector<uint32_t>(s.frames().begin(), s.frames().end());
    }
    uint64_t t = c.base_time_ns();
    for (const auto& e : c.events()) {
      t += e.time_delta_ns();
      Event ev;
      ev.time_ns = t;
      ev.thread = e.thread();
      ev.kind = e.kind();
      ev.subject = e.subject();
      ev.object = e.object();
      ev.arg = e.arg();
      if (e.name() != 0) {
        if (!strings.count(e.name())) out.undefined_ids = true;
        ev.name = strings[e.name()];
      }
      if (e.stack() != 0) {
        if (!stacks.count(e.stack())) out.undefined_ids = true;
        for (uint32_t f : stacks[e.stack()]) ev.stack.push_back(frames[f]);
      }
      out.events.push_back(std::move(ev));
    }
  }
  return out;
}

inline Trace DecodeFile(const std::string& path) {
  trace::ChunkFileReader reader(path);
  std::vector<trace::TraceChunk> chunks;
  reader.Poll(chunks);
  Trace out = DecodeChunks(chunks);
  out.ok = reader.status().ok();
  out.error = std::string(reader.status().message());
  out.pending_bytes = reader.pending_bytes();
  return out;
}

inline std::string KindName(trace::EventKind k) {
  const std::string& n = trace::EventKind_Name(k);
  return n.empty() ? std::to_string(int(k)) : n;
}

}  // namespace waitgraph::shimtest

#endif  // WAITGRAPH_TESTS_SHIM_TRACE_DECODE_H_
