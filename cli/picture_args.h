// What `graph`, `export` and `report` share: one or more traces, a --format
// out of a fixed list, --output and --source-root, and the same one-line
// errors for bad usage, unreadable traces and unwritable output.
#ifndef WAITGRAPH_CLI_PICTURE_ARGS_H_
#define WAITGRAPH_CLI_PICTURE_ARGS_H_

#include <set>
#include <string>
#include <variant>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"

namespace waitgraph::cli {

struct PictureCommandSpec {
  std::string name;                  // "graph": used in "see `waitgraph graph --help`"
  const char* help = "";             // printed for --help
  std::vector<std::string> formats;  // the first is the default unless format_required
  bool format_required = false;
  bool many_traces = false;          // report: several traces or a run directory
  std::string traces_wanted;         // the usage error when the traces are missing
  std::set<std::string> more_values; // command-specific options taking a value
};

struct PictureArgs {
  ParsedOptions options;  // for command-specific options
  std::vector<std::string> traces;
  std::string format;
  std::string output;       // "-" for stdout
  std::string source_root;  // default: the working directory
};

// The arguments, or the exit status once help or a usage error was printed.
std::variant<PictureArgs, int> ParsePictureArgs(const Args& args, const PictureCommandSpec& spec);

// Prints "waitgraph: MESSAGE (see `waitgraph NAME --help`)"; kExitBadInput.
int PictureUsage(const std::string& name, const std::string& message);

// Prints why a trace cannot be read and what to pass instead; kExitBadInput.
int UnreadableTrace(const std::string& message);

// Writes TEXT to args.output; kExitOk, or kExitCannotWrite after saying why.
int WritePicture(const PictureArgs& args, const std::string& text);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_PICTURE_ARGS_H_
