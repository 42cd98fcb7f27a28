#include "instrument/native/exit_signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <atomic>

#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

constexpr int kExitSignals[] = {SIGTERM, SIGHUP, SIGINT};

// Lock-free atomics only: the handler may run at any point of any thread.
std::atomic<uint64_t> g_requested{0};
std::atomic<uint64_t> g_done{0};
std::atomic<int> g_wait_ms{0};
std::atomic<bool> g_installed{false};
static_assert(std::atomic<uint64_t>::is_always_lock_free);

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

void OnExitSignal(int sig) {
  const int saved_errno = errno;
  if (g_recording.load() && !g_forked_child.load()) {
    const uint64_t request = g_requested.fetch_add(1) + 1;
    const uint64_t deadline = NowNs() + uint64_t(g_wait_ms.load()) * 1000000u;
    const timespec step = {0, 2 * 1000 * 1000};
    // The writer takes the buffer at its next tick (WAITGRAPH_FLUSH_MS).
    // If this thread was interrupted while holding the buffer's mutex the
    // writer cannot take it: the deadline ends the wait.
    while (g_done.load() < request && g_recording.load() && NowNs() < deadline) {
      nanosleep(&step, nullptr);
    }
  }
  // SA_RESETHAND made the action SIG_DFL; the signal is blocked in this
  // handler, so it is delivered, with its default action, on return.
  raise(sig);
  errno = saved_errno;
}

}  // namespace

void InstallExitSignalFlush(int wait_ms) {
  g_wait_ms.store(wait_ms);
  if (g_installed.exchange(true)) return;
  for (int sig : kExitSignals) {
    struct sigaction current;
    if (sigaction(sig, nullptr, &current) != 0) continue;
    if ((current.sa_flags & SA_SIGINFO) || current.sa_handler != SIG_DFL) continue;
    struct sigaction action = {};
    action.sa_handler = OnExitSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    sigaction(sig, &action, nullptr);
  }
}

void BlockExitSignalsOnThisThread() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kExitSignals) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

uint64_t ExitFlushRequested() { return g_requested.load(); }

void ExitFlushDone(uint64_t request) {
  if (g_done.load() < request) g_done.store(request);
}

}  // namespace waitgraph::shim
