// Cycles in a directed graph of observed edges (lockdep-style class graphs:
// analyzer/class_graph.cc, analyzer/lock_order.cc). A trace, possibly
// hostile, decides how large the graph and how long its paths are, so
// nothing here recurses and nothing throws.
#ifndef WAITGRAPH_ANALYZER_GRAPH_CYCLES_H_
#define WAITGRAPH_ANALYZER_GRAPH_CYCLES_H_

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace waitgraph::analyzer {

template <typename Node>
using Adjacency = std::map<Node, std::vector<Node>>;

// Tarjan's strongly connected components of more than one node, with an
// explicit stack instead of recursion.
template <typename Node>
std::vector<std::vector<Node>> StronglyConnected(const Adjacency<Node>& out) {
  static const std::vector<Node> kNone;
  auto successors = [&](const Node& v) -> const std::vector<Node>& {
    auto it = out.find(v);
    return it == out.end() ? kNone : it->second;
  };
  std::map<Node, int> index, low;
  std::set<Node> on_stack;
  std::vector<Node> stack;
  std::vector<std::vector<Node>> components;
  int counter = 0;
  struct Frame {
    Node v;
    size_t next = 0;  // the next successor of v to look at
  };
  for (const auto& [root, unused] : out) {
    if (index.count(root)) continue;
    std::vector<Frame> dfs{{root}};
    index[root] = low[root] = counter++;
    stack.push_back(root);
    on_stack.insert(root);
    while (!dfs.empty()) {
      Frame& f = dfs.back();
      const std::vector<Node>& next = successors(f.v);
      if (f.next < next.size()) {
        const Node& w = next[f.next++];
        if (!index.count(w)) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack.insert(w);
          dfs.push_back({w});  // invalidates f
        } else if (on_stack.count(w)) {
          low[f.v] = std::min(low[f.v], index[w]);
        }
        continue;
      }
      Node v = f.v;
      dfs.pop_back();
      if (!dfs.empty()) low[dfs.back().v] = std::min(low[dfs.back().v], low[v]);
      if (low[v] != index[v]) continue;
      std::vector<Node> component;
      Node w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack.erase(w);
        component.push_back(w);
      } while (!(w == v));
      if (component.size() > 1) components.push_back(std::move(component));
    }
  }
  return components;
}

// The shortest cycle through the smallest node of `component` (breadth-first
// back to it), as the list of its nodes in edge order starting there; empty
// if there is none.
template <typename Node>
std::vector<Node> ShortestCycle(const Adjacency<Node>& out, const std::vector<Node>& component) {
  if (component.empty()) return {};
  const std::set<Node> members(component.begin(), component.end());
  const Node& start = *members.begin();
  std::map<Node, Node> parent;
  std::deque<Node> todo{start};
  std::optional<Node> last;
  while (!todo.empty() && !last) {
    Node v = todo.front();
    todo.pop_front();
    auto it = out.find(v);
    if (it == out.end()) continue;
    for (const Node& w : it->second) {
      if (!members.count(w)) continue;
      if (w == start) {
        last = v;
        break;
      }
      if (parent.emplace(w, v).second) todo.push_back(w);
    }
  }
  if (!last) return {};
  std::vector<Node> nodes{*last};  // walked backwards from the last to start
  while (!(nodes.back() == start)) {
    auto p = parent.find(nodes.back());
    if (p == parent.end()) return {};  // cannot happen: every node but start has a parent
    nodes.push_back(p->second);
  }
  std::reverse(nodes.begin(), nodes.end());
  return nodes;
}

// The cycles of a map of observed edges ({from, to} -> the first sighting):
// one per strongly connected component, the shortest through its smallest
// node, each as its edges {from, to, sighting} in order (the last leads back
// to the first). `Cycle` is a struct whose `edges` vector holds such edges.
template <typename Cycle, typename EdgeMap>
std::vector<Cycle> CyclesOf(const EdgeMap& edges) {
  using Node = typename EdgeMap::key_type::first_type;
  Adjacency<Node> out;
  for (const auto& [key, sighting] : edges) out[key.first].push_back(key.second);

  std::vector<Cycle> cycles;
  for (const auto& component : StronglyConnected(out)) {
    std::vector<Node> nodes = ShortestCycle(out, component);
    Cycle cycle;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& next = nodes[(i + 1) % nodes.size()];
      auto edge = edges.find({nodes[i], next});
      if (edge == edges.end()) break;  // cannot happen: the cycle follows edges
      cycle.edges.push_back({nodes[i], next, edge->second});
    }
    if (!cycle.edges.empty() && cycle.edges.size() == nodes.size()) cycles.push_back(std::move(cycle));
  }
  return cycles;
}

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_GRAPH_CYCLES_H_
