// Small pieces of the text report's layout: word wrapping to a width,
// ANSI colour that can be switched off, and counts in good grammar.
#ifndef WAITGRAPH_CLI_TEXT_LAYOUT_H_
#define WAITGRAPH_CLI_TEXT_LAYOUT_H_

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

namespace waitgraph::cli {

// "1 frame", "3 frames"; `plural` for irregular nouns ("1 process", "2 processes").
std::string Count(size_t n, absl::string_view singular, absl::string_view plural = "");

// Splits `text` into lines of at most `width` columns (UTF-8 characters),
// breaking at spaces; the first line may use `first_width` columns. A word
// longer than a line (a long path) gets a line of its own, whole.
std::vector<std::string> WrapWords(absl::string_view text, size_t first_width, size_t width);

// Columns `text` takes on a terminal (UTF-8 characters, ANSI escapes ignored).
size_t Columns(absl::string_view text);

// `text` cut at a word boundary to at most `width` columns, with "…" when cut.
std::string FitToWidth(absl::string_view text, size_t width);

enum class Paint { kError, kWarning, kNote, kArrow, kLabel, kFix, kDim, kBold };

class Painter {
 public:
  explicit Painter(bool enabled) : enabled_(enabled) {}
  std::string operator()(Paint paint, absl::string_view text) const;

 private:
  bool enabled_;
};

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_TEXT_LAYOUT_H_
