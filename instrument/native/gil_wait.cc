#include "instrument/native/gil_wait.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <time.h>

#include <cstdio>
#include <cstdlib>

#include "instrument/native/gc_pauses.h"
#include "instrument/native/gil_runtime.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

// Getting the GIL faster than this means nobody was running Python (the
// switch interval, 5 ms, is what a computing thread makes us wait).
constexpr uint64_t kGilFreeNs = 1'000'000;

enum class OnGil { kNo, kYes, kUnknown, kNotInCall };

// How long to wait for a thread that is runnable but not in a system call
// (the moment between two futex waits of the GIL's hand-over, or C code
// that runs without the GIL) to settle, and how often to look.
constexpr uint64_t kSettleNs = 5'000'000;
constexpr uint64_t kSettlePollNs = 50'000;

// One look: is thread `tid` of this process blocked in a futex wait on the
// GIL's own mutex or condition variables (take_gil, or drop_gil waiting for
// the next holder)? The kernel says which system call a blocked thread is
// in, and its arguments: "202 0x7f12... 0x189 ..." (futex on x86-64, uaddr
// first); "running", or "-1 ...", when it is not in one.
OnGil LookAtThread(uint64_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%llu/syscall",
                static_cast<unsigned long long>(tid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return OnGil::kUnknown;
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return OnGil::kUnknown;
  buf[n] = '\0';
  char* end = nullptr;
  long nr = std::strtol(buf, &end, 10);
  if (end == buf || nr < 0) return OnGil::kNotInCall;
  if (nr != SYS_futex) return OnGil::kNo;
  uintptr_t uaddr = std::strtoull(end, nullptr, 16);
  uintptr_t begin = 0, stop = 0;
  WgGilAddressRange(&begin, &stop);
  return uaddr >= begin && uaddr < stop ? OnGil::kYes : OnGil::kNo;
}

// LookAtThread until the thread is in a system call (we hold the GIL, so
// it cannot run Python meanwhile), at most kSettleNs: one still running
// then is in C code that let go of the GIL (kNo).
OnGil BlockedOnGil(uint64_t tid) {
  uint64_t until = MonotonicNs() + kSettleNs;
  for (;;) {
    OnGil on = LookAtThread(tid);
    if (on != OnGil::kNotInCall) return on;
    if (MonotonicNs() >= until) return OnGil::kNo;
    struct timespec pause = {0, static_cast<long>(kSettlePollNs)};
    nanosleep(&pause, nullptr);
  }
}

// The native id of the thread whose state is `holder` (GIL held: the list
// of thread states cannot change), 0 if it is gone.
uint64_t NativeIdOf(PyThreadState* holder, PyThreadState* any) {
  for (PyThreadState* t = PyInterpreterState_ThreadHead(any->interp); t != nullptr;
       t = PyThreadState_Next(t)) {
    if (t == holder) return t->native_thread_id;
  }
  return 0;
}

// The native id of the thread whose state is `holder`, read without the
// GIL while that thread may be ending: through process_vm_readv on this
// process, which fails (0) instead of faulting should the state be gone.
uint64_t NativeIdNow(PyThreadState* holder) {
  unsigned long id = 0;
  struct iovec local = {&id, sizeof id};
  struct iovec remote = {&holder->native_thread_id, sizeof id};
  if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != ssize_t(sizeof id)) return 0;
  return id;
}

}  // namespace

GilAsk AskingForGil() {
  GilAsk ask;
  ask.switches = WgGilSwitches();
  ask.holder = static_cast<PyThreadState*>(WgGilHolder());
  ask.last = static_cast<PyThreadState*>(WgGilLastHolder());
  // Now: the holder may end before we have the GIL.
  if (ask.holder != nullptr) ask.holder_tid = NativeIdNow(ask.holder);
  ask.gc_generation = g_gc_generation_now.load(std::memory_order_relaxed);
  ask.asked_ns = MonotonicNs();
  return ask;
}

bool WaitsForGilNow(const GilAsk& ask, PyThreadState* ts, uint64_t tid) {
  return ask.holder != nullptr && ask.holder != ts && BlockedOnGil(tid) == OnGil::kYes;
}

GilVerdict GilTaken(const GilAsk& ask, PyThreadState* ts, uint64_t tid) {
  GilVerdict v;
  v.waited_ns = MonotonicNs() - ask.asked_ns;
  v.gc_generation = ask.gc_generation;
  if (v.waited_ns < kGilFreeNs) return v;  // nobody was running Python
  // It held the GIL when we asked, or had it last and could take it back
  // unseen: it was computing (or in a C call that keeps the GIL).
  if (ask.holder == ts || (ask.holder == nullptr && ask.last == ts)) {
    v.what = WhileAsked::kRunningPython;
    return v;
  }
  // Another thread held the GIL (or nobody did). Where the loop thread
  // stands now is what counts: in a call that let go of the GIL, or
  // waiting to take it back.
  OnGil on_gil = BlockedOnGil(tid);
  if (on_gil == OnGil::kNo) return v;
  // No /proc: the holder we saw held it all along only if the GIL went
  // straight from it to us (the loop thread never had it in between).
  bool straight = ask.holder != nullptr && WgGilSwitches() == ask.switches + 1;
  if (on_gil == OnGil::kUnknown && !straight) {
    v.what = WhileAsked::kRunningPython;  // no /proc: the old reading
    return v;
  }
  v.what = WhileAsked::kWaitingForGil;
  if (ask.holder != nullptr) {
    v.holder_tid = ask.holder_tid != 0 ? ask.holder_tid : NativeIdOf(ask.holder, ts);
  }
  return v;
}

}  // namespace waitgraph::shim
