// Draws a wait-for cycle as a graph (findings::CycleGraph): the threads,
// loops, executors, futures, locks and tasks of the cycle as nodes, each wait
// and hand-off as a labelled edge with the user's line. The picture
// renderers (`waitgraph graph`, the HTML report) read only this.
#ifndef WAITGRAPH_RULES_CYCLE_GRAPH_H_
#define WAITGRAPH_RULES_CYCLE_GRAPH_H_

#include "analyzer/class_graph.h"
#include "analyzer/lock_order.h"
#include "analyzer/wait_graph.h"
#include "rules/finding.pb.h"

namespace waitgraph::rules {

// Wait nodes become the labels of the edges they sit on (a thread "waits in
// Thread.join" for a thread), so every node is something a user knows.
findings::CycleGraph DrawCycle(const analyzer::Model& model, const analyzer::Deadlock& deadlock);

// A latent cycle of the class graph (loops, pools, thread roles), each edge
// labelled with its first sighting (when, and the user's line).
findings::CycleGraph DrawClassCycle(const analyzer::Model& model, const analyzer::ClassCycle& cycle);
// A latent cycle of the lock-order graph (lock classes, and the loops and
// pools whose work takes them).
findings::CycleGraph DrawLockOrderCycle(const analyzer::Model& model,
                                        const analyzer::LockOrderCycle& cycle);

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_CYCLE_GRAPH_H_
