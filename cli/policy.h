// What a project decides about its findings, applied after the rules ran:
// a config file (rules off or re-graded, paths ignored), comments on the
// user's line (`# waitgraph: ignore[rule-name]`), and a baseline of accepted
// findings. Every suppression that matched nothing becomes a note, so stale
// ones get cleaned up.
#ifndef WAITGRAPH_CLI_POLICY_H_
#define WAITGRAPH_CLI_POLICY_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rules/finding.pb.h"

namespace waitgraph::cli {

// waitgraph.toml (a small TOML subset):
//   [rules]
//   potential-cross-call-deadlock = "off"     # or "error", "warning", "note"
//   [paths]
//   ignore = ["tests/fixtures/*", "*/vendor/*"]
//   project = "src"       # the user's code (relative to this file's directory)
//   [run]
//   hang-timeout = 5
struct Config {
  std::string path;  // where it was read from; empty = none
  std::map<std::string, std::string> rule_levels;  // rule name or code -> off|error|warning|note
  std::vector<std::string> ignore_paths;            // fnmatch globs on finding paths
  std::string project;  // [paths] project, resolved against the file's directory; "" = unset
  std::optional<double> hang_timeout;
};

// Reads `path`, or ./waitgraph.toml if `path` is empty and it exists.
absl::StatusOr<Config> LoadConfig(const std::string& path);

struct Policy {
  Config config;
  bool comment_suppressions = true;
  std::set<std::string> baseline;  // fingerprints to leave out
  // Suppression comments are read only from files under this directory
  // (symlinks resolved): a trace may be hostile. Empty: no restriction.
  std::string source_root;
};

// Drops and re-grades findings per `policy`; adds notes about suppressions
// that matched nothing and about how many findings the baseline hid.
void ApplyPolicy(const Policy& policy, std::vector<findings::Report>& reports);

absl::StatusOr<std::set<std::string>> ReadBaseline(const std::string& path);
absl::Status WriteBaseline(const std::string& path, const std::vector<findings::Report>& reports);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_POLICY_H_
