#include "attach/snapshot_trace.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "attach/asyncio_tasks.h"
#include "trace/chunk_file.h"
#include "trace/private_files.h"

namespace waitgraph::attach {
namespace {

uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// Interns strings, frames and stacks into one chunk.
class Interner {
 public:
  explicit Interner(trace::TraceChunk& chunk) : chunk_(chunk) {}

  uint32_t String(const std::string& s) {
    if (s.empty()) return 0;
    auto [it, inserted] = strings_.try_emplace(s, uint32_t(strings_.size() + 1));
    if (inserted) {
      auto* def = chunk_.add_strings();
      def->set_id(it->second);
      def->set_value(s);
    }
    return it->second;
  }

  uint32_t Frame(const PyFrame& f) {
    auto key = std::make_tuple(f.file, f.function, f.line, f.library);
    auto [it, inserted] = frames_.try_emplace(key, uint32_t(frames_.size() + 1));
    if (inserted) {
      auto* def = chunk_.add_frames();
      def->set_id(it->second);
      def->set_file(String(f.file));
      def->set_function(String(f.function));
      def->set_line(f.line > 0 ? uint32_t(f.line) : 0);
      def->set_library(f.library);
    }
    return it->second;
  }

  uint32_t Stack(const std::vector<PyFrame>& frames) {
    if (frames.empty()) return 0;
    std::vector<uint32_t> ids;
    for (const PyFrame& f : frames) ids.push_back(Frame(f));
    auto [it, inserted] = stacks_.try_emplace(ids, uint32_t(stacks_.size() + 1));
    if (inserted) {
      auto* def = chunk_.add_stacks();
      def->set_id(it->second);
      for (uint32_t id : ids) def->add_frames(id);
    }
    return it->second;
  }

 private:
  trace::TraceChunk& chunk_;
  std::map<std::string, uint32_t> strings_;
  std::map<std::tuple<std::string, std::string, int, bool>, uint32_t> frames_;
  std::map<std::vector<uint32_t>, uint32_t> stacks_;
};

// A wait or dependency as it appears in two snapshots: same thread, kind,
// target and API (wait ids are per snapshot).
auto FactKey(const Fact& f) {
  bool is_wait = f.kind == trace::WAIT_BEGIN;
  return std::make_tuple(int(f.kind), f.thread, is_wait ? 0 : f.subject, f.object, f.arg, f.name);
}

}  // namespace

Snapshot TakeSnapshot(PythonReader& reader) {
  Snapshot s;
  uint64_t begin = ClockNs(CLOCK_MONOTONIC);
  reader.memory().DropCache();
  reader.notes().clear();
  s.threads = reader.ReadThreads();
  s.facts = ReadBlockingCalls(reader, s.threads);
  ReadLoopTasks(reader, s.threads, s.facts);
  s.argv0 = reader.ArgvZero();
  s.monotonic_ns = s.first_monotonic_ns = ClockNs(CLOCK_MONOTONIC);
  s.unix_ns = ClockNs(CLOCK_REALTIME);
  s.read_ns = s.monotonic_ns - begin;
  s.pid = uint32_t(reader.memory().pid());
  s.executable = reader.memory().executable();
  s.python_version = reader.version();
  s.library_prefixes = reader.LibraryPrefixes();
  s.notes = reader.notes();
  return s;
}

Snapshot CommonToAll(const std::vector<Snapshot>& snapshots) {
  Snapshot out = snapshots.back();
  std::vector<Fact> kept;
  for (const Fact& f : out.facts) {
    bool everywhere = true;
    for (size_t i = 0; i + 1 < snapshots.size() && everywhere; ++i) {
      everywhere = false;
      for (const Fact& g : snapshots[i].facts) everywhere |= FactKey(g) == FactKey(f);
    }
    if (everywhere) kept.push_back(f);
  }
  out.facts = std::move(kept);
  // What held in every snapshot has held since the first.
  out.first_monotonic_ns = snapshots.front().monotonic_ns;
  return out;
}

std::vector<trace::TraceChunk> ToTrace(const Snapshot& s) {
  std::vector<trace::TraceChunk> chunks(1);
  trace::TraceChunk& chunk = chunks[0];
  chunk.set_format_version(trace::kFormatVersion);
  chunk.set_sequence(0);
  trace::ProcessInfo* p = chunk.mutable_process();
  p->set_pid(s.pid);
  p->set_executable(s.executable);
  p->set_python_version(s.python_version);
  if (!s.argv0.empty()) p->add_argv(s.argv0);
  p->set_start_monotonic_ns(s.first_monotonic_ns);
  p->set_start_unix_ns(s.unix_ns);
  for (const std::string& prefix : s.library_prefixes) p->add_library_prefixes(prefix);
  chunk.set_base_time_ns(s.first_monotonic_ns);
  Interner intern(chunk);
  auto add = [&](trace::EventKind kind, uint64_t thread, uint64_t subject, uint64_t object, int64_t arg,
                 const std::string& name, const std::vector<PyFrame>& stack) {
    trace::Event* e = chunk.add_events();
    e->set_thread(thread);
    e->set_kind(kind);
    e->set_subject(subject);
    e->set_object(object);
    e->set_arg(arg);
    e->set_name(intern.String(name));
    e->set_stack(intern.Stack(stack));
  };
  for (const PyThread& t : s.threads) {
    add(trace::THREAD_STARTED, t.native_id, t.native_id, 0, 0, t.name, {});
  }
  for (const Fact& f : s.facts) add(f.kind, f.thread, f.subject, f.object, f.arg, f.name, f.stack);
  if (s.monotonic_ns > s.first_monotonic_ns) {
    trace::TraceChunk heartbeat;
    heartbeat.set_format_version(trace::kFormatVersion);
    heartbeat.set_sequence(1);
    heartbeat.set_base_time_ns(s.monotonic_ns);
    chunks.push_back(std::move(heartbeat));
  }
  return chunks;
}

absl::Status WriteTraceFile(const std::string& path, const std::vector<trace::TraceChunk>& chunks) {
  int fd = trace::CreateExclusive(path);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  std::string bytes(trace::kFileMagic);
  for (const trace::TraceChunk& chunk : chunks) bytes += trace::FrameChunk(chunk.SerializeAsString());
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return absl::DataLossError(absl::StrCat("cannot write ", path, ": ", strerror(errno)));
    }
    done += size_t(n);
  }
  close(fd);
  return absl::OkStatus();
}

}  // namespace waitgraph::attach
