// What a stalled loop thread was doing while the stall watchdog (or the
// uvloop sampler) waited to take the GIL to sample it.
//
// Taking the GIL quickly means nobody was running Python: the loop thread
// was blocked in a call that let go of it (time.sleep, I/O, a lock). Taking
// it slowly used to mean "the loop thread was computing". That is wrong when
// another thread held the GIL (a C call that keeps it, CPU-bound Python): the
// loop thread was then waiting for the GIL itself (returning from recv(),
// or in Thread.start while the new thread waits for the GIL) and its frames
// show only where it stood. So before asking, the sampler notes who holds
// the GIL and how often it has changed hands; after taking it, it asks the
// kernel whether the loop thread is blocked on the GIL's own futex
// (/proc/self/task/TID/syscall).
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_GIL_WAIT_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_GIL_WAIT_H_

#include <Python.h>

#include <cstdint>

namespace waitgraph::shim {

// Noted just before asking for the GIL (without it).
struct GilAsk {
  uint64_t asked_ns = 0;
  PyThreadState* holder = nullptr;  // the GIL's holder then, nullptr: free
  PyThreadState* last = nullptr;    // the thread that took it last
  uint64_t holder_tid = 0;          // the holder's native id (0: unread)
  unsigned long switches = 0;       // the GIL's hand-overs so far
  int gc_generation = -1;           // a collection running then, -1: none
};

GilAsk AskingForGil();

// What the stalled thread was doing while the sampler waited for the GIL.
enum class WhileAsked {
  kBlockedInCall,  // the GIL came at once, or the thread is blocked in a
                   // call that let go of it while another thread held it
  kRunningPython,  // it held the GIL itself (computing, or a C call that
                   // keeps it) and let go only because the sampler asked
  kWaitingForGil,  // it did not hold the GIL and is waiting to take it
};

struct GilVerdict {
  WhileAsked what = WhileAsked::kBlockedInCall;
  uint64_t holder_tid = 0;  // kWaitingForGil: who held the GIL when the
                            // sampler asked for it (0: nobody, or unknown)
  uint64_t waited_ns = 0;   // how long the sampler waited for the GIL
  int gc_generation = -1;   // as noted in GilAsk
};

// Just after taking the GIL asked for with `ask`: the verdict about the
// stalled thread `ts` (native id `tid`).
GilVerdict GilTaken(const GilAsk& ask, PyThreadState* ts, uint64_t tid);

// Without the GIL, just after AskingForGil: another thread holds the GIL and
// the stalled thread `ts` (native id `tid`) is waiting to take it. Its
// frames cannot move until it has the GIL again. (The sampler may then lose
// the GIL to others for a long time: new threads starting take a free GIL
// before a woken waiter does.)
bool WaitsForGilNow(const GilAsk& ask, PyThreadState* ts, uint64_t tid);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_GIL_WAIT_H_
