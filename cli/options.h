// A small parser for subcommand options: `--name VALUE`, `--name=VALUE`,
// boolean `--flag`, positionals, and `--` ending the options.
#ifndef WAITGRAPH_CLI_OPTIONS_H_
#define WAITGRAPH_CLI_OPTIONS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace waitgraph::cli {

struct ParsedOptions {
  std::map<std::string, std::string> values;  // "--trace" -> "x.wgtrace"
  std::set<std::string> flags;                // "--help"
  std::vector<std::string> positional;
  std::vector<std::string> after_dashes;      // everything after "--"
  bool help() const { return flags.count("--help") || flags.count("-h"); }
  std::optional<std::string> Get(const std::string& name) const;
};

struct OptionSpec {
  std::set<std::string> with_value;  // options that take a value
  std::set<std::string> flags;       // boolean options ("--help" is always allowed)
  // Stop option parsing at the first positional (run: the program's own
  // arguments are not ours).
  bool stop_at_positional = false;
};

absl::StatusOr<ParsedOptions> ParseOptions(const std::vector<std::string>& args,
                                           const OptionSpec& spec);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_OPTIONS_H_
