// The options every command that prints findings shares: whose code is the
// user's (--source-root, [paths] project), and how the text report looks
// (--color, --full-stacks, the width of the terminal).
#ifndef WAITGRAPH_CLI_REPORT_STYLE_H_
#define WAITGRAPH_CLI_REPORT_STYLE_H_

#include <optional>
#include <set>
#include <string>

#include "cli/options.h"
#include "cli/policy.h"
#include "cli/render_text.h"

namespace waitgraph::cli {

inline const std::set<std::string> kReportStyleValues = {"--source-root", "--color"};
inline const std::set<std::string> kReportStyleFlags = {"--full-stacks"};

// For --help texts.
inline constexpr char kReportStyleHelp[] = R"(  --source-root DIR    the user's code: frames under DIR are the user's (even
                       in site-packages), paths are shown relative to it,
                       SARIF URIs are relative to it, suppression comments
                       are read only under it (default: [paths] project of
                       waitgraph.toml, else the current directory)
  --color auto|always|never
                       colour the text report (auto: on a terminal, unless
                       NO_COLOR is set)
  --full-stacks        show every frame (default: library and standard
                       library frames are folded)
)";

struct ReportStyle {
  std::string source_root;  // absolute
  bool color = false;
  bool full_stacks = false;
  int width = 80;           // columns to wrap the text report to

  TextStyle text() const { return {.width = size_t(width), .color = color, .full_stacks = full_stacks}; }
};

// From the parsed flags and the config; `fd` is where the text report goes
// (a terminal there: colour and its width). An error message on bad values.
std::optional<std::string> ResolveReportStyle(const ParsedOptions& opts, const Config& config, int fd,
                                              ReportStyle& out);

// The width to wrap to: COLUMNS if set, else the terminal's on `fd`, else 80.
int TerminalWidth(int fd);

// `set` with the report-style options added (for an OptionSpec).
std::set<std::string> WithReportStyleValues(std::set<std::string> set);
std::set<std::string> WithReportStyleFlags(std::set<std::string> set);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_REPORT_STYLE_H_
