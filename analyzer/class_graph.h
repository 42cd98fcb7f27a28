// The lockdep-style graph over *classes* of blocking things: event loops,
// executors and thread roles, each class named by where it was made. An edge
// A -> B means "something of class A was once seen blocked until something
// of class B acted". Edges accumulate over the whole trace; a cycle whose
// edges were each seen, but never all at once, is a deadlock that needs only
// unlucky timing.
//
// Who blocks: a wait on a thread that runs a loop blocks the loop (the loop's
// class is the source); otherwise the thread's class (an executor's workers
// share the executor's class). Who must act: a future's producer (its loop,
// its executor), a joined thread's class, a drained executor.
#ifndef WAITGRAPH_ANALYZER_CLASS_GRAPH_H_
#define WAITGRAPH_ANALYZER_CLASS_GRAPH_H_

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/functional/function_ref.h"
#include "analyzer/model.h"

namespace waitgraph::analyzer {

struct BlockingClass {
  enum class Kind { kLoop, kExecutor, kThread };
  Kind kind;
  std::string key;    // stable: "loop@app.py:40", "executor@app.py:12", "thread:MainThread"
  std::string label;  // for people: "event loop created at app.py:40"
  auto operator<=>(const BlockingClass& o) const { return key <=> o.key; }
  bool operator==(const BlockingClass& o) const { return key == o.key; }
};

// Where and when an edge was first seen.
struct ClassEdgeSighting {
  ThreadId thread = 0;
  TimeNs time = 0;
  StackId stack = 0;
  std::string api;          // the blocking call
  std::string target_text;  // "a future only event loop ... can complete"
  uint64_t times_seen = 0;
};

struct ClassEdge {
  BlockingClass from;
  BlockingClass to;
  ClassEdgeSighting first;
};

struct ClassCycle {
  std::vector<ClassEdge> edges;  // edges[i].to == edges[i+1].from, last -> first
};

class ClassGraph : public ModelObserver {
 public:
  void OnWaitBegin(const Model& model, const Wait& wait) override;
  // Appends what it keeps now (see KeptCounts in model.h).
  void CountKept(KeptCounts& out) const;

  // Elementary cycles, one (the shortest) per strongly connected component.
  std::vector<ClassCycle> FindCycles() const;
  size_t edge_count() const { return edges_.size(); }

  // Classes of the things that block (used to match actual deadlocks).
  static BlockingClass LoopClass(const Model& model, EntityId loop);
  static BlockingClass ExecutorClass(const Model& model, EntityId executor);
  static BlockingClass ThreadClass(const Model& model, ThreadId tid);

 private:
  // `target_text` is asked for only when the edge is new.
  void AddEdge(const BlockingClass& from, const BlockingClass& to, const Wait& wait,
               absl::FunctionRef<std::string()> target_text);

  // The classes of the threads, loops and executors that waits involve, kept
  // while what each is made of stays the same (ClassInputs): building one
  // (a user's line, two strings) for every wait cost more than the rest of
  // the wait's analysis. Node-based: a reference stays valid while others
  // are added.
  struct ClassInputs {
    bool known = false;           // the entity is in the model
    StackId stack = 0;            // its creation (or start) stack
    StackId first_use_stack = 0;  // an executor's first submit
    std::string name;             // a thread's name, an executor's name prefix
    uint64_t definitions = 0;     // Model::definitions_version()
    bool operator==(const ClassInputs&) const = default;
  };
  struct CachedClass {
    ClassInputs inputs;
    BlockingClass cls;
  };
  using ClassCache = absl::node_hash_map<EntityId, CachedClass>;
  static const BlockingClass& Cached(ClassCache& cache, EntityId id, ClassInputs inputs,
                                     absl::FunctionRef<BlockingClass()> make);
  const BlockingClass& CachedThreadClass(const Model& model, ThreadId tid);
  const BlockingClass& CachedLoopClass(const Model& model, EntityId loop);
  const BlockingClass& CachedExecutorClass(const Model& model, EntityId executor);
  ClassCache thread_classes_, loop_classes_, executor_classes_;

  // Edges by (from.key, to.key), as a map of pairs of classes orders them;
  // looked up without copying the classes.
  struct EdgeOrder {
    using is_transparent = void;
    using Key = std::pair<BlockingClass, BlockingClass>;
    using Ref = std::pair<const BlockingClass*, const BlockingClass*>;
    static auto Keys(const Key& k) { return std::tie(k.first.key, k.second.key); }
    static auto Keys(const Ref& r) { return std::tie(r.first->key, r.second->key); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const { return Keys(a) < Keys(b); }
  };
  std::map<std::pair<BlockingClass, BlockingClass>, ClassEdgeSighting, EdgeOrder> edges_;
};

// The library frame that made `executor` (the innermost frame of its
// creation stack, when that is library code), or nullptr if user code did.
const Frame* LibraryMaker(const Model& model, const Executor& executor);

// "app/views.py:40" for a frame, in the reports' one path style (relative
// to the source root, <stdlib>/..., <site-packages>/...).
std::string ShortLocation(const Frame& frame);

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_CLASS_GRAPH_H_
