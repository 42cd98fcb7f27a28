// Tells a wait-for cycle in words: "A waits in f → g for ..., B waits in ...".
// Shared by the rules that report actual cycles.
#ifndef WAITGRAPH_RULES_CYCLE_STORY_H_
#define WAITGRAPH_RULES_CYCLE_STORY_H_

#include <string>
#include <vector>

#include "analyzer/wait_graph.h"
#include "rules/finding.pb.h"

namespace waitgraph::rules {

struct CycleStory {
  std::string text;                                // "MainThread (...) waits in ... for ..."
  std::vector<analyzer::ThreadId> threads;         // in story order
  std::vector<analyzer::EntityId> tasks;           // asyncio tasks, in story order
  std::vector<findings::RelatedLocation> related;  // every wait and hand-off, with stacks
  std::vector<std::string> fingerprint_parts;      // files, functions, APIs
};

// Starts from the thread that runs an event loop, if any: that is where a
// user looks first.
CycleStory TellCycle(const analyzer::Model& model, const analyzer::Deadlock& deadlock);

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_CYCLE_STORY_H_
