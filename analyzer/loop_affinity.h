// Loop affinity: which event loop each asyncio object (future, task, Lock,
// Event, Queue..., transport) is bound to, each loop's life story (who made
// it, which threads ran it, when it stopped and closed), and the uses that
// broke the binding. An EventSink: the shim reports bindings and the uses it
// already saw to be suspect (LOOP_FOREIGN_USE, LOOP_CALL, LOOP_HANDOFF into a
// loop not running); this class decides what each one is, with the loop
// states of that moment, and keeps them as incidents for the rules
// (rules/loop_crossing.h, closed_loop_use.h, non_threadsafe_loop_call.h,
// loop_churn.h).
#ifndef WAITGRAPH_ANALYZER_LOOP_AFFINITY_H_
#define WAITGRAPH_ANALYZER_LOOP_AFFINITY_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "analyzer/bound_objects.h"
#include "analyzer/model.h"

namespace waitgraph::analyzer {

struct LoopLife {
  EntityId id = 0;
  StackId created_stack = 0;
  ThreadId created_on = 0;
  TimeNs created_at = 0;
  std::vector<ThreadId> run_by;  // in order of first run
  ThreadId last_run_by = 0;      // the thread of the latest run (0: never ran)
  int runs = 0;
  bool running = false;
  TimeNs last_run_end = 0;
  std::optional<TimeNs> stopped_at;  // loop.stop() last called
  StackId closed_stack = 0;
  std::optional<TimeNs> closed_at;
};

enum class IncidentKind {
  kLoopCrossing,       // a bound object used from another loop / a thread not running it
  kClosedLoopUse,      // work handed to or done on a closed (or stopped, never again run) loop
  kNonThreadsafeCall,  // call_soon & co. on a running loop from another thread
};

struct Incident {
  IncidentKind kind = IncidentKind::kLoopCrossing;
  EntityId object = 0;     // the bound object (0: a call on the loop itself)
  EntityId loop = 0;       // the object's loop, or the loop called
  EntityId user_loop = 0;  // the loop running on `thread` then (0: none)
  ThreadId thread = 0;
  std::string api;  // "Queue.put_nowait", "call_soon", "call_soon_threadsafe"
  StackId stack = 0;
  TimeNs time = 0;
  bool loop_closed = false;   // the loop was closed then
  bool loop_stopped = false;  // not running then, and never ran again
  // How many uses this one stands for: hand-offs into a stopped loop from
  // the same call site with the same object are kept once, counted (the
  // earliest of them is the one kept). A rule counts these, not entries.
  uint64_t times = 1;
};

// Loops made on one thread: the raw material of loop churn.
struct LoopsMadeOnThread {
  ThreadId thread = 0;
  std::vector<EntityId> loops;  // in order
};

class LoopAffinity : public EventSink {
 public:
  void OnEvent(const Model& model, const trace::Event& event, TimeNs time) override;
  bool Wants(int kind) const override;
  void CountKept(KeptCounts& out) const override;

  const BoundObject* FindObject(EntityId id) const;
  // The bound-object table is full: how many objects it forgot (the
  // oldest after the first kKeptForever), and how many it keeps.
  uint64_t objects_forgotten() const { return objects_.forgotten(); }
  size_t objects_capacity() const { return objects_.capacity(); }
  const LoopLife* FindLoop(EntityId id) const;
  const std::map<EntityId, LoopLife>& loops() const { return loops_; }
  // Everything found, in time order, including hand-offs into a stopped
  // loop that never ran again (decided as of the last event).
  std::vector<Incident> Incidents() const;
  std::vector<LoopsMadeOnThread> LoopsByCreatingThread() const;
  // Hand-offs into a stopped loop, each unlike those kept, that came while
  // kMaxPendingHandoffs were kept for loops that never ran again: left out
  // of the "(N times)" of closed-loop-use (for the report's note).
  uint64_t handoffs_dropped() const;
  // Distinct hand-offs into stopped loops kept while they may run again.
  static constexpr size_t kMaxPendingHandoffs = 10000;

  // "event loop made by asyncio.run at app.py:30 (ran on worker-1, closed)":
  // the library call the user's code made to get it, the user's line, the
  // threads that ran it and how it ended, as of `time` (0: the end).
  std::string DescribeLoopOrigin(const Model& model, EntityId loop, TimeNs time = 0) const;
  // "Queue made at app.py:12"; made inside a framework on a thread with no
  // user frame: "_SelectorSocketTransport made in Connection._connect
  // (redis/asyncio/connection.py:650)".
  std::string DescribeObject(const Model& model, const BoundObject& object) const;

  // Where something happened as a user would place it: the user's innermost
  // frame; with none (a server's or asgiref's thread), the innermost
  // third-party frame (site-/dist-packages: redis, anyio, uvicorn); else the
  // innermost frame.
  static const Frame* SiteFrame(const Model& model, StackId stack);
  // The framework frame that really made a call the user's code led to:
  // the innermost frame outside the standard library, when it is
  // third-party code (anyio's test runner calling Event.set) and the user's
  // frame is further out; else nullptr.
  static const Frame* FrameworkCaller(const Model& model, StackId stack);
  // "app.py:12", or "Connection._connect (redis/asyncio/connection.py:650)".
  static std::string DescribeSite(const Model& model, StackId stack);

 private:
  EntityId RunningLoopOf(const Model& model, ThreadId thread) const;
  void AddIncident(Incident incident);
  bool CausedByLastUse(const Model& model, const trace::Event& call) const;
  bool IsIdleOwnerUse(const Incident& use) const;
  void SettleFailedHandoff(const Model& model, const trace::Event& e);
  static bool ContinuesAfterFailure(const Model& model, StackId failed, StackId next);
  void SettleOwnerUses(EntityId loop, ThreadId runner);

  std::map<EntityId, LoopLife> loops_;
  // Bound objects, bounded (see bound_objects.h): the first kKeptForever
  // objects stay, later ones live in a FIFO of kRecentObjects.
  static constexpr size_t kKeptForever = 20000;
  static constexpr size_t kRecentObjects = 200000;
  BoundObjectTable objects_{kKeptForever, kRecentObjects};
  static constexpr size_t kMaxIncidents = 100000;
  std::vector<Incident> incidents_;
  // (loop, thread, user loop) of incidents that involve a known object.
  std::set<std::tuple<EntityId, ThreadId, EntityId>> object_incidents_;
  // Hand-offs into a loop that was not running: an incident unless it runs
  // later. By loop (a run settles its own in one lookup, not a walk over
  // every loop's), each with its place in the order they came. Bounded
  // (issue 13 item 8: a service may hand work to a loop that stopped for
  // good on every request): a hand-off like one kept (same object, API and
  // stack: the same group in every rule, whatever is known at report time)
  // only counts in it; past kMaxPendingHandoffs distinct ones, the rest are
  // counted per loop and dropped (noted only if that loop never runs again).
  struct PendingKey {
    EntityId object = 0;
    const std::string* api = nullptr;  // the model's interned string
    StackId stack = 0;
    template <typename H>
    friend H AbslHashValue(H h, const PendingKey& k) {
      return H::combine(std::move(h), k.object, k.api, k.stack);
    }
    bool operator==(const PendingKey& o) const {
      return object == o.object && api == o.api && stack == o.stack;
    }
  };
  struct PendingHandoffs {
    std::vector<std::pair<uint64_t, Incident>> kept;  // (place in order, hand-off)
    absl::flat_hash_map<PendingKey, size_t> index;    // where each is in `kept`
    uint64_t dropped = 0;                             // past kMaxPendingHandoffs
  };
  void AddPendingHandoff(const PendingKey& key, Incident handoff);
  absl::flat_hash_map<EntityId, PendingHandoffs> pending_handoffs_;
  uint64_t pending_handoffs_seen_ = 0;
  size_t pending_handoff_count_ = 0;  // entries kept, all loops
  // Uses of an idle loop's object by the thread that ran it last (anyio's
  // pytest plugin setting an Event between two run_until_complete calls):
  // an incident only if the loop's next run is on another thread. By loop.
  absl::flat_hash_map<EntityId, std::vector<Incident>> pending_owner_uses_;
  size_t pending_owner_use_count_ = 0;
  // A hand-off that raised "Event loop is closed" into its caller, per
  // thread: lost work unless that same caller goes on to do the work
  // elsewhere (current asgiref's AsyncToSync falls back to a new loop).
  std::map<ThreadId, Incident> failed_handoffs_;
  std::map<ThreadId, std::vector<EntityId>> loops_by_thread_;
  // The last foreign use on each thread: the call_soon it causes (waking the
  // object's waiters) is part of it, not a second incident.
  struct LastUse {
    EntityId loop = 0;
    StackId stack = 0;
  };
  std::map<ThreadId, LastUse> last_use_;
};

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_LOOP_AFFINITY_H_
