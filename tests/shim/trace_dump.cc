// trace_dump TRACE: prints a trace's events, one a line (debugging aid for
// the shim; the analyzer has the real reader).
#include <cstdio>

#include "tests/shim/trace_decode.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s TRACE\n", argv[0]);
    return 2;
  }
  using namespace waitgraph::shimtest;
  Trace t = DecodeFile(argv[1]);
  std::printf("pid=%u exe=%s py=%s argv0=%s chunks=%zu ok=%d pending=%llu undefined=%d\n",
              t.process.pid(), t.process.executable().c_str(), t.process.python_version().c_str(),
              t.process.argv_size() ? t.process.argv(0).c_str() : "", t.sequences.size(), t.ok,
              (unsigned long long)t.pending_bytes, t.undefined_ids);
  if (!t.ok) std::printf("error: %s\n", t.error.c_str());
  uint64_t t0 = t.events.empty() ? 0 : t.events.front().time_ns;
  for (const Event& e : t.events) {
    std::printf("%9.3fms t=%llu %-18s s=%llu o=%llu arg=%#llx name=%s", (e.time_ns - t0) / 1e6,
                (unsigned long long)e.thread, KindName(e.kind).c_str(),
                (unsigned long long)e.subject, (unsigned long long)e.object,
                (unsigned long long)e.arg, e.name.c_str());
    for (size_t i = 0; i < e.stack.size() && i < 3; ++i) {
      const Frame& f = e.stack[i];
      std::printf(" | %s %s:%u%s", f.function.c_str(), f.file.c_str(), f.line,
                  f.library ? " [lib]" : "");
    }
    std::printf("\n");
  }
  return 0;
}
