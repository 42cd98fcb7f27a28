// The shim's own background threads (loop snapshots, the uvloop sampler,
// the stall watchdog):
// each is a std::thread* started with the GIL held and a stop flag its loop
// polls. Stopping and the after-fork registration are the same for each.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_SHIM_THREAD_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_SHIM_THREAD_H_

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace waitgraph::shim {

// Sets `stop`, calls `wake` (for a thread that sleeps on a condition
// variable), joins and frees `thread` (if any), then clears `stop` so that
// a later start runs again.
inline void StopShimThread(std::thread*& thread, std::atomic<bool>& stop,
                           void (*wake)() = nullptr) {
  std::thread* t = thread;
  thread = nullptr;
  stop.store(true);
  if (wake != nullptr) wake();
  if (t != nullptr) {
    if (t->joinable()) t->join();
    delete t;
  }
  stop.store(false);
}

// Registers `child` to run in a forked child, once however often module
// init runs (GIL held).
inline void AtForkChildOnce(void (*child)()) {
  static std::vector<void (*)()> registered;
  if (std::find(registered.begin(), registered.end(), child) != registered.end()) return;
  registered.push_back(child);
  pthread_atfork(nullptr, nullptr, child);
}

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_SHIM_THREAD_H_
