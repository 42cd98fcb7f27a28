// The waitgraph subcommands. Each takes its arguments after the subcommand
// name and returns the process exit status.
#ifndef WAITGRAPH_CLI_COMMANDS_H_
#define WAITGRAPH_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace waitgraph::cli {

// Exit statuses: part of the CLI contract that CI jobs depend on.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFindings = 1;    // check: findings at or above --fail-on
inline constexpr int kExitBadInput = 2;    // usage error, unreadable or corrupt trace
inline constexpr int kExitHang = 3;        // run: the program deadlocked and was stopped
inline constexpr int kExitCannotWrite = 4; // an output path (trace, report) is unwritable
inline constexpr int kExitProcessGone = 5; // live PID: that process no longer exists
inline constexpr int kExitNoCycle = 6;     // graph: no such finding, or it has no cycle to draw

using Args = std::vector<std::string>;

int RunCommand(const Args& args);
int AnalyzeCommand(const Args& args);
int CheckCommand(const Args& args);
int LiveCommand(const Args& args);
int ExplainCommand(const Args& args);
int RulesCommand(const Args& args);
int AttachCommand(const Args& args);
int GraphCommand(const Args& args);   // graph_command.cc
int ExportCommand(const Args& args);  // export_command.cc
int ReportCommand(const Args& args);  // report_command.cc

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_COMMANDS_H_
