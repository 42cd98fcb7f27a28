// Loop stalls: callbacks or task steps that held an event loop's thread
// longer than the shim's threshold (LOOP_STALL, LOOP_STALL_SAMPLE,
// LOOP_STALL_GIL, LOOP_STALL_DELAYED), with the stacks the watchdog sampled while the loop
// was stuck and, when the loop thread was inside a recorded wait at that
// moment (Thread.join, Future.result, a queue, ...), that wait.
#ifndef WAITGRAPH_ANALYZER_STALL_MODEL_H_
#define WAITGRAPH_ANALYZER_STALL_MODEL_H_

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/model.h"

namespace waitgraph::analyzer {

struct StallSample {
  TimeNs time = 0;
  TimeNs elapsed = 0;     // since the callback began
  StackId stack = 0;      // the loop thread's Python stack then
  std::string call;       // the call it was in ("time.sleep"), if the shim knew
  // LOOP_STALL_GIL: the thread was waiting to take the GIL, held by
  // `gil_holder` (0: unknown): its frames are only where it stood.
  bool gil_wait = false;
  ThreadId gil_holder = 0;
  TimeNs gil_waited = 0;  // how long the sampler waited for the GIL
  // The loop thread's outermost recorded wait at that moment, if any (a
  // copy: the model forgets waits once they end).
  std::optional<Wait> wait;
  // Its target futures as they were then (producer: which executor, loop or
  // thread must complete them).
  std::map<EntityId, Future> futures;
};

struct StallDelay {
  uint64_t count = 0;
  TimeNs delay = 0;  // at most
  std::string what;  // "ready: task handle_ping, ..." / "timers: ..." / "sockets: ..."
};

// A garbage collection that overlapped a stall (LOOP_STALL_GC).
struct StallGc {
  ThreadId thread = 0;  // the thread that collected
  int generation = 0;
  TimeNs ns = 0;        // of it inside the stall
};

struct Stall {
  EntityId id = 0;
  ThreadId thread = 0;
  EntityId loop = 0;
  TimeNs begin = 0;
  TimeNs end = 0;            // for an unfinished stall: the trace's last time
  bool finished = false;     // LOOP_STALL seen (else it lasted to the trace's end)
  std::string callback;      // "task RequestResponseCycle.run_asgi"
  std::vector<StallSample> samples;
  std::vector<StallDelay> delayed;
  std::vector<StallGc> gc;
  TimeNs duration() const { return end - begin; }
  TimeNs gc_ns() const {
    TimeNs total = 0;
    for (const StallGc& g : gc) total += g.ns;
    return total;
  }
  int gc_generation() const {  // the oldest generation collected, -1: none
    int generation = -1;
    for (const StallGc& g : gc) generation = std::max(generation, g.generation);
    return generation;
  }
};

class StallModel : public EventSink {
 public:
  void OnEvent(const Model& model, const trace::Event& event, TimeNs time) override;
  void CountKept(KeptCounts& out) const override;
  bool Wants(int kind) const override;

  // Every stall, in the order they began; unfinished ones end at the
  // model's last time.
  std::vector<Stall> Stalls(const Model& model) const;

 private:
  // Samples kept in all: each copies a wait (hostile traces, SECURITY.md).
  static constexpr uint64_t kMaxSamples = 20'000;

  std::map<EntityId, Stall> stalls_;  // by stall id
  std::vector<EntityId> order_;
  uint64_t samples_kept_ = 0;
};

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_STALL_MODEL_H_
