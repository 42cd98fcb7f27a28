// Process-wide switches and per-thread state of the shim's hot path.
//
// Everything here is read by Python threads while they hold the GIL; the
// atomics exist for the writer thread (which never takes the GIL) and for the
// fork handler.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_STATE_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_STATE_H_

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace waitgraph::shim {

// True while events are being recorded. Cleared by stop(), by an internal
// failure (write error, buffer overflow) and in a forked child.
inline std::atomic<bool> g_recording{false};

// Set in the child of fork(): the child never records and never touches the
// parent's writer (its mutex may have been held at fork time).
inline std::atomic<bool> g_forked_child{false};

// Per-thread re-entrancy guard: while > 0 this thread records nothing. Set
// around the shim's own code and around calls of originals whose internals
// would otherwise record themselves (Future.result -> Condition.wait).
inline thread_local int t_quiet = 0;

inline bool Active() {
  return t_quiet == 0 && g_recording.load(std::memory_order_relaxed);
}

inline uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

inline uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// Native thread id (what threading.Thread.native_id reports), cached per
// thread: gettid is a real system call. The fork handler clears the cache:
// the forking thread has another id in the child.
inline thread_local uint64_t t_native_tid = 0;
inline uint64_t NativeThreadId() {
  if (t_native_tid == 0) t_native_tid = static_cast<uint64_t>(syscall(SYS_gettid));
  return t_native_tid;
}

class QuietScope {
 public:
  QuietScope() { ++t_quiet; }
  ~QuietScope() { --t_quiet; }
  QuietScope(const QuietScope&) = delete;
  QuietScope& operator=(const QuietScope&) = delete;
};

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_STATE_H_
