#ifndef WAITGRAPH_CLI_RENDER_TEXT_H_
#define WAITGRAPH_CLI_RENDER_TEXT_H_

#include <string>
#include <vector>

#include "rules/finding.pb.h"

namespace waitgraph::cli {

struct TextStyle {
  size_t width = 80;         // columns to wrap to
  bool color = false;        // ANSI colour
  bool full_stacks = false;  // every frame; else library runs are folded
};

// For people, in the manner of rustc/clang: per finding a headline of one
// line ("error[WG001] cross-call-deadlock: ..."), the user's line (-->),
// the detail, each related wait with the user's frames of its stack
// (library and stdlib frames folded), the fix; findings of one rule and one
// cause merged. Then a summary line and the notes about the traces; with
// several traces, each trace's findings under a summary line of its own.
std::string RenderText(const std::vector<findings::Report>& reports, const TextStyle& style = {});

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_RENDER_TEXT_H_
