// A snapshot of a CPython process (threads, stacks, what each waits for) and
// its form as a trace of the ordinary format: one chunk, ProcessInfo plus
// the events the shim would have written, all at the snapshot's time, so
// `analyze`, `check`, JSON, SARIF and every rule apply unchanged.
#ifndef WAITGRAPH_ATTACH_SNAPSHOT_TRACE_H_
#define WAITGRAPH_ATTACH_SNAPSHOT_TRACE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attach/blocking_calls.h"
#include "attach/process_memory.h"
#include "attach/python_reader.h"
#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::attach {

struct Snapshot {
  uint32_t pid = 0;
  std::string executable;
  std::string python_version;
  std::string argv0;
  std::vector<std::string> library_prefixes;
  uint64_t monotonic_ns = 0;  // when it was taken
  uint64_t first_monotonic_ns = 0;  // --samples: when the first was taken
  uint64_t unix_ns = 0;
  uint64_t read_ns = 0;       // how long reading took
  std::vector<PyThread> threads;
  std::vector<Fact> facts;
  std::vector<std::string> notes;  // what could not be read, and why
};

// Reads one snapshot. The reader stays valid for more snapshots.
Snapshot TakeSnapshot(PythonReader& reader);

// Keeps only the waits (and what they depend on) seen in every snapshot:
// `--samples N` reports only what held throughout.
Snapshot CommonToAll(const std::vector<Snapshot>& snapshots);

// The trace: one chunk with every event at the (first) snapshot's time,
// and, after several snapshots, an empty chunk at the last one's time (the
// writer's heartbeat), so what held in all of them has held that long.
std::vector<trace::TraceChunk> ToTrace(const Snapshot& snapshot);

// Writes the chunks as a trace file at `path` (a new file, mode 0600).
absl::Status WriteTraceFile(const std::string& path, const std::vector<trace::TraceChunk>& chunks);

}  // namespace waitgraph::attach

#endif  // WAITGRAPH_ATTACH_SNAPSHOT_TRACE_H_
