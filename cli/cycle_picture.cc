#include "cli/cycle_picture.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace waitgraph::cli {
namespace {

constexpr size_t kWrapColumns = 38;  // node and edge labels wrap here

struct NodeStyle {
  const char* shape;
  const char* style;
  const char* fill;
};

NodeStyle StyleOf(const std::string& kind) {
  if (kind == "thread") return {"box", "rounded,filled", "#dbeafe"};
  if (kind == "loop") return {"ellipse", "filled", "#dcfce7"};
  if (kind == "executor") return {"box3d", "filled", "#fef3c7"};
  if (kind == "future") return {"note", "filled", "#f3e8ff"};
  if (kind == "lock" || kind == "semaphore") return {"octagon", "filled", "#fee2e2"};
  if (kind == "task") return {"box", "rounded,filled,dashed", "#e0f2fe"};
  return {"box", "filled", "#f1f5f9"};
}

// Graphviz reads backslashes in labels as escapes (\n, \N, \G...): a
// user's text must not be taken for one.
std::string EscapeLabelText(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else out += c;
  }
  return out;
}

// Word-wraps `text` to lines of at most kWrapColumns (a longer word stays
// whole), joined by Graphviz's centred line break.
std::string Wrap(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line.empty() && line.size() + 1 + word.size() > kWrapColumns) {
      lines.push_back(std::move(line));
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  if (!line.empty()) lines.push_back(std::move(line));
  for (std::string& l : lines) l = EscapeLabelText(l);
  return absl::StrJoin(lines, "\\n");
}

struct GraphCloser {
  void operator()(Agraph_t* g) const { agclose(g); }
};
using GraphPtr = std::unique_ptr<Agraph_t, GraphCloser>;

void Set(void* object, const char* name, const std::string& value) {
  agsafeset(object, const_cast<char*>(name), const_cast<char*>(value.c_str()),
            const_cast<char*>(""));
}

GraphPtr BuildGraph(const findings::CycleGraph& cycle, const std::string& title,
                    const std::string& source_root) {
  GraphPtr g(agopen(const_cast<char*>("cycle"), Agdirected, nullptr));
  Set(g.get(), "label", Wrap(title));
  Set(g.get(), "labelloc", "t");
  Set(g.get(), "fontname", "Helvetica");
  Set(g.get(), "fontsize", "12");
  Set(g.get(), "nodesep", "0.5");
  Set(g.get(), "ranksep", "0.6");
  for (const findings::GraphNode& node : cycle.nodes()) {
    Agnode_t* n = agnode(g.get(), const_cast<char*>(node.id().c_str()), 1);
    NodeStyle style = StyleOf(node.kind());
    // "thread: MainThread", but "event loop", not "loop: event loop".
    bool says_kind = false;
    for (absl::string_view word : absl::StrSplit(absl::AsciiStrToLower(node.label()), ' ')) {
      says_kind = says_kind || word == node.kind();
    }
    std::string label = says_kind ? Wrap(node.label()) : absl::StrCat(node.kind(), ": ", Wrap(node.label()));
    if (!node.role().empty()) absl::StrAppend(&label, "\\n", Wrap(node.role()));
    Set(n, "label", label);
    Set(n, "shape", style.shape);
    Set(n, "style", style.style);
    Set(n, "fillcolor", style.fill);
    Set(n, "fontname", "Helvetica");
    Set(n, "fontsize", "11");
  }
  for (const findings::GraphEdge& edge : cycle.edges()) {
    Agnode_t* from = agnode(g.get(), const_cast<char*>(edge.from().c_str()), 0);
    Agnode_t* to = agnode(g.get(), const_cast<char*>(edge.to().c_str()), 0);
    if (from == nullptr || to == nullptr) continue;  // not in the graph's nodes: malformed
    Agedge_t* e = agedge(g.get(), from, to, nullptr, 1);
    std::string label = Wrap(edge.label());
    if (edge.has_location() && !edge.location().path().empty()) {
      absl::StrAppend(&label, "\\n", EscapeLabelText(ShortWhere(edge.location(), source_root)));
    }
    Set(e, "label", label);
    // A latent cycle's edges were never all there at once: dashed, amber.
    Set(e, "color", cycle.latent() ? "#c2410c" : "#b91c1c");
    Set(e, "fontcolor", cycle.latent() ? "#7c2d12" : "#7f1d1d");
    if (cycle.latent()) Set(e, "style", "dashed");
    Set(e, "fontname", "Helvetica");
    Set(e, "fontsize", "10");
    Set(e, "penwidth", "1.5");
  }
  return g;
}

}  // namespace

std::string ShortWhere(const findings::Location& location, const std::string& source_root) {
  std::string path = location.path();
  std::string root = source_root;
  if (!root.empty() && root.back() != '/') root += '/';
  if (!root.empty() && absl::StartsWith(path, root)) {
    path = path.substr(root.size());
  } else if (size_t slash = path.rfind('/'); slash != std::string::npos) {
    path = path.substr(slash + 1);
  }
  return location.line() ? absl::StrCat(path, ":", location.line()) : path;
}

absl::StatusOr<std::string> CycleDot(const findings::CycleGraph& cycle, const std::string& title,
                                     const std::string& source_root) {
  GraphPtr g = BuildGraph(cycle, title, source_root);
  char* buffer = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buffer, &size);
  if (out == nullptr) return absl::InternalError("cannot allocate the DOT text");
  int failed = agwrite(g.get(), out);
  std::fclose(out);
  std::string dot(buffer, size);
  std::free(buffer);
  if (failed) return absl::InternalError("Graphviz could not write the graph");
  return dot;
}

absl::StatusOr<std::string> CycleSvg(const findings::CycleGraph& cycle, const std::string& title,
                                     const std::string& source_root) {
  GraphPtr g = BuildGraph(cycle, title, source_root);
  GVC_t* gvc = gvContext();
  if (gvc == nullptr) return absl::InternalError("Graphviz could not start (gvContext)");
  std::string svg;
  absl::Status status;
  if (gvLayout(gvc, g.get(), "dot") != 0) {
    status = absl::InternalError("Graphviz could not lay the cycle out (is libgvc's dot plugin installed?)");
  } else {
    char* data = nullptr;
    unsigned int length = 0;
    if (gvRenderData(gvc, g.get(), "svg", &data, &length) != 0 || data == nullptr) {
      status = absl::InternalError("Graphviz could not render SVG (is libgvc's core plugin installed?)");
    } else {
      svg.assign(data, length);
    }
    gvFreeRenderData(data);
    gvFreeLayout(gvc, g.get());
  }
  gvFreeContext(gvc);
  if (!status.ok()) return status;
  return svg;
}

}  // namespace waitgraph::cli
