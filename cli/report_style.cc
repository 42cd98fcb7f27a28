#include "cli/report_style.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace waitgraph::cli {
namespace {

// Narrower than this, wrapping does more harm than good.
constexpr int kMinWidth = 40;

bool NoColorRequested() {
  const char* v = std::getenv("NO_COLOR");  // no-color.org: set and not empty
  return v != nullptr && *v != '\0';
}

bool DumbTerminal() {
  const char* term = std::getenv("TERM");
  return term != nullptr && std::string(term) == "dumb";
}

}  // namespace

int TerminalWidth(int fd) {
  int width = 80;
  int columns = 0;
  if (const char* c = std::getenv("COLUMNS"); c != nullptr && absl::SimpleAtoi(c, &columns) && columns > 0) {
    width = columns;
  } else if (struct winsize ws; isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    width = ws.ws_col;
  }
  return width < kMinWidth ? kMinWidth : width;
}

std::optional<std::string> ResolveReportStyle(const ParsedOptions& opts, const Config& config, int fd,
                                              ReportStyle& out) {
  std::string root = opts.Get("--source-root").value_or(config.project);
  if (root.empty()) root = std::filesystem::current_path().string();
  std::error_code ec;
  out.source_root = std::filesystem::absolute(root, ec).lexically_normal().string();
  if (ec) return absl::StrCat("cannot use --source-root ", root, ": ", ec.message());
  if (out.source_root.size() > 1 && out.source_root.back() == '/') out.source_root.pop_back();
  std::string color = opts.Get("--color").value_or("auto");
  if (color == "always") {
    out.color = true;
  } else if (color == "never") {
    out.color = false;
  } else if (color == "auto") {
    out.color = fd >= 0 && isatty(fd) && !NoColorRequested() && !DumbTerminal();
  } else {
    return absl::StrCat("unknown --color ", color, "; use auto, always or never");
  }
  out.full_stacks = opts.flags.count("--full-stacks") > 0;
  out.width = TerminalWidth(fd);
  return std::nullopt;
}

std::set<std::string> WithReportStyleValues(std::set<std::string> set) {
  set.insert(kReportStyleValues.begin(), kReportStyleValues.end());
  return set;
}

std::set<std::string> WithReportStyleFlags(std::set<std::string> set) {
  set.insert(kReportStyleFlags.begin(), kReportStyleFlags.end());
  return set;
}

}  // namespace waitgraph::cli
