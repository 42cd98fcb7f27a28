#include "cli/text_layout.h"

#include <cctype>

#include "absl/strings/str_cat.h"

namespace waitgraph::cli {

std::string Count(size_t n, absl::string_view singular, absl::string_view plural) {
  if (n == 1) return absl::StrCat(n, " ", singular);
  if (!plural.empty()) return absl::StrCat(n, " ", plural);
  return absl::StrCat(n, " ", singular, "s");
}

size_t Columns(absl::string_view text) {
  size_t columns = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b) {  // ESC [ ... m
      while (i < text.size() && text[i] != 'm') ++i;
      continue;
    }
    if ((c & 0xC0) != 0x80) ++columns;  // not a UTF-8 continuation byte
  }
  return columns;
}

namespace {

bool IsNumber(absl::string_view word) {
  return !word.empty() && word.find_first_not_of("0123456789.+-") == absl::string_view::npos &&
         std::isdigit(static_cast<unsigned char>(word.back()));
}

// "s", "ms", "s;", "s)," : a unit that belongs with the number before it.
bool IsUnit(absl::string_view word) {
  size_t end = word.find_first_of(";,:)");
  absl::string_view unit = word.substr(0, end);
  return unit == "s" || unit == "ms" || unit == "%";
}

}  // namespace

std::vector<std::string> WrapWords(absl::string_view text, size_t first_width, size_t width) {
  std::vector<std::string> lines(1);
  size_t limit = first_width;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == absl::string_view::npos) end = text.size();
    absl::string_view word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty()) continue;
    std::string& line = lines.back();
    if (line.empty()) {
      line = std::string(word);
    } else if (Columns(line) + 1 + Columns(word) <= limit) {
      absl::StrAppend(&line, " ", word);
    } else if (size_t last = line.rfind(' ');
               IsUnit(word) && last != std::string::npos && IsNumber(line.substr(last + 1))) {
      // "2.1 s" stays on one line: the number moves down with its unit.
      std::string number = line.substr(last + 1);
      line.resize(last);
      lines.push_back(absl::StrCat(number, " ", word));
      limit = width;
    } else {
      lines.emplace_back(word);
      limit = width;
    }
  }
  return lines;
}

std::string FitToWidth(absl::string_view text, size_t width) {
  if (Columns(text) <= width) return std::string(text);
  std::vector<std::string> lines = WrapWords(text, width > 2 ? width - 2 : 1, width);
  std::string first = lines.front();
  // Never end on a dangling separator.
  while (!first.empty() && (first.back() == ',' || first.back() == ';' || first.back() == ':')) {
    first.pop_back();
  }
  if (Columns(first) + 2 > width) {  // one word longer than the line: cut it
    std::string cut;
    size_t columns = 0;
    for (char c : first) {
      if ((static_cast<unsigned char>(c) & 0xC0) != 0x80 && ++columns > width - 2) break;
      cut += c;
    }
    first = cut;
  }
  return first + " …";
}

std::string Painter::operator()(Paint paint, absl::string_view text) const {
  if (!enabled_ || text.empty()) return std::string(text);
  const char* code = "1";
  switch (paint) {
    case Paint::kError: code = "1;31"; break;
    case Paint::kWarning: code = "1;33"; break;
    case Paint::kNote: code = "1;36"; break;
    case Paint::kArrow: code = "1;34"; break;
    case Paint::kLabel: code = "1"; break;
    case Paint::kFix: code = "1;32"; break;
    case Paint::kDim: code = "2"; break;
    case Paint::kBold: code = "1"; break;
  }
  return absl::StrCat("\x1b[", code, "m", text, "\x1b[0m");
}

}  // namespace waitgraph::cli
