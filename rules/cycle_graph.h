// Draws a wait-for cycle as a graph (findings::CycleGraph): the threads,
// loops, executors, futures, locks and tasks of the cycle as nodes, each wait
// and hand-off as a labelled edge with the user's line. The picture
// renderers (`waitgraph graph`, the HTML report) read only this.
#ifndef WAITGRAPH_RULES_CYCLE_GRAPH_H_
#define WAITGRAPH_RULES_CYCLE_GRAPH_H_

#include "analyzer/wait_graph.h"
#include "rules/finding.pb.h"

namespace waitgraph::rules {

// Wait nodes become the labels of the edges they sit on (a thread "waits in
// Thread.join" for a thread), so every node is something a user knows.
findings::CycleGraph DrawCycle(const analyzer::Model& model, const analyzer::Deadlock& deadlock);

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_CYCLE_GRAPH_H_
