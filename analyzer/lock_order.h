// The lockdep graph of threading lock classes (a class = where its locks are
// made), with executors and loops as lockdep's workqueue pseudo-locks:
//   lock class A -> lock class B   B was taken while A was held (LOCK_ORDER)
//   executor/loop E -> class B     work of E took B (LOCK_IN_WORK)
//   lock class A -> executor/loop E   a thread held A while it began a
//                                  blocking wait for work of E (a future E
//                                  must complete, or E's shutdown)
// Edges accumulate over the whole trace. A cycle whose edges were each
// seen, never all at once, is a deadlock that needs only unlucky timing.
#ifndef WAITGRAPH_ANALYZER_LOCK_ORDER_H_
#define WAITGRAPH_ANALYZER_LOCK_ORDER_H_

#include <map>
#include <string>
#include <vector>

#include "analyzer/class_graph.h"
#include "analyzer/model.h"

namespace waitgraph::analyzer {

struct LockOrderNode {
  enum class Kind { kLockClass, kWork };
  Kind kind = Kind::kLockClass;
  std::string key;    // "lockclass#12", or a BlockingClass key ("executor@app.py:8")
  std::string label;  // "Lock created at app.py:12", "executor created at app.py:8"
  auto operator<=>(const LockOrderNode& o) const { return key <=> o.key; }
  bool operator==(const LockOrderNode& o) const { return key == o.key; }
};

// The first time an edge was seen.
struct LockOrderSighting {
  ThreadId thread = 0;
  TimeNs time = 0;
  StackId stack = 0;       // where the second thing was taken / waited for
  StackId held_stack = 0;  // where the held lock was taken (one frame), 0 for work edges
  std::string api;         // "Future.result" for held-while-waiting edges, else ""
};

struct LockOrderEdge {
  LockOrderNode from;
  LockOrderNode to;
  LockOrderSighting first;
};

struct LockOrderCycle {
  std::vector<LockOrderEdge> edges;  // edges[i].to == edges[i+1].from, last -> first
};

class LockOrder : public EventSink {
 public:
  void OnEvent(const Model& model, const trace::Event& event, TimeNs time) override;
  void CountKept(KeptCounts& out) const override;
  bool Wants(int kind) const override;

  // One shortest cycle per strongly connected component.
  std::vector<LockOrderCycle> FindCycles() const;

  // The node of a lock class: keyed by its id, labelled by where its locks
  // are made (the first frame outside threading.py/queue.py, and the
  // user's line when that frame is a library's).
  static LockOrderNode LockClassNode(const Model& model, EntityId class_id);

 private:
  void AddEdge(const LockOrderNode& from, const LockOrderNode& to, LockOrderSighting sighting);

  std::map<std::pair<LockOrderNode, LockOrderNode>, LockOrderSighting> edges_;
};

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_LOCK_ORDER_H_
