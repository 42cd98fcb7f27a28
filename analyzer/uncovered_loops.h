// Event loops the shim could not hook (LOOP_UNCOVERED: uvloop runs its
// callbacks, tasks and handles in C), so that every report says plainly
// which checks could not look at them instead of showing a silence that
// looks like health (issue 11 item 6).
#ifndef WAITGRAPH_ANALYZER_UNCOVERED_LOOPS_H_
#define WAITGRAPH_ANALYZER_UNCOVERED_LOOPS_H_

#include <map>
#include <string>
#include <vector>

#include "analyzer/model.h"

namespace waitgraph::analyzer {

struct UncoveredLoop {
  EntityId loop = 0;
  std::string class_name;  // "uvloop.Loop"
  ThreadId first_run_by = 0;
  StackId first_run_stack = 0;
};

class UncoveredLoops : public EventSink {
 public:
  void OnEvent(const Model& model, const trace::Event& event, TimeNs time) override;
  void CountKept(KeptCounts& out) const override;
  bool Wants(int kind) const override;

  const std::map<EntityId, UncoveredLoop>& loops() const { return loops_; }
  // One line per loop class for the report's notes (empty if none).
  std::vector<std::string> Notes(const Model& model) const;

 private:
  std::map<EntityId, UncoveredLoop> loops_;
};

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_UNCOVERED_LOOPS_H_
