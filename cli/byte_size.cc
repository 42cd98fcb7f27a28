#include "cli/byte_size.h"

#include <cctype>

namespace waitgraph::cli {
namespace {

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view Strip(std::string_view t) {
  while (!t.empty() && IsSpace(t.front())) t.remove_prefix(1);
  while (!t.empty() && IsSpace(t.back())) t.remove_suffix(1);
  return t;
}

bool EndsWithIgnoringCase(std::string_view t, std::string_view suffix) {
  if (t.size() <= suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(t[t.size() - suffix.size() + i])) !=
        std::tolower(static_cast<unsigned char>(suffix[i]))) {
      return false;
    }
  }
  return true;
}

int UnitShift(char c) {
  switch (std::toupper(static_cast<unsigned char>(c))) {
    case 'K': return 10;
    case 'M': return 20;
    case 'G': return 30;
    case 'T': return 40;
    default: return 0;
  }
}

}  // namespace

std::optional<uint64_t> ParseByteSize(std::string_view text) {
  std::string_view t = Strip(text);
  bool unit_needed = false;  // "iB" only after a unit letter
  if (EndsWithIgnoringCase(t, "iB")) {
    t.remove_suffix(2);
    unit_needed = true;
  } else if (EndsWithIgnoringCase(t, "B")) {
    t.remove_suffix(1);
  }
  const int shift = t.empty() ? 0 : UnitShift(t.back());
  if (shift != 0) t.remove_suffix(1);
  if (unit_needed && shift == 0) return std::nullopt;
  t = Strip(t);
  if (t.empty()) return std::nullopt;
  uint64_t n = 0;
  for (char c : t) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    if (n > (UINT64_MAX - 9) / 10) return std::nullopt;
    n = n * 10 + uint64_t(c - '0');
  }
  if (shift != 0 && n > (UINT64_MAX >> shift)) return std::nullopt;
  return n << shift;
}

}  // namespace waitgraph::cli
