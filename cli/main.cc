// waitgraph: finds cross-call deadlocks, lost context state, loop-crossing
// resources and loop stalls in async Python services.
#include <iostream>
#include <string_view>

#include "cli/commands.h"

namespace {

constexpr char kHelp[] = R"(usage: waitgraph COMMAND [ARGS...]

Finds the bugs that hang or corrupt async Python services:
  deadlocks      threads, event loops, executors, threading locks and
                 asyncio tasks waiting for each other (asgiref
                 sync_to_async/async_to_sync, run_in_executor, lock order),
                 now or with unlucky timing; pools starved by their own
                 work; a process where nothing can move
  context        ContextVar writes lost in a task's copy of the context, or
                 never handed to a thread
  loop affinity  futures, queues, transports of one event loop used on
                 another, or after it closed
  stalls         blocking calls that freeze an event loop; saturated pools

commands:
  run [--trace PATH] [--hang-timeout S] -- PROGRAM [ARGS...]
                      run a program under the shim; report when it exits, or
                      at once (exit 3) if it deadlocks
  analyze TRACE|DIR   report on a recorded trace (a directory: all its traces)
  check TRACE|DIR...  report with a CI exit status (--fail-on LEVEL)
  live PID|TRACE      what a running or hung process is waiting for, now
  attach PID          diagnose a CPython process started without waitgraph,
                      from its memory (or --core FILE); exit 3 on a deadlock
  explain NAME|CODE   a rule's documentation
  rules               list the rules
  graph TRACE [--finding N] [--format dot|svg]
                      a picture of a deadlock's wait-for cycle
  export TRACE --format trace-event --output F.json
                      the timeline for ui.perfetto.dev (Trace Event Format)
  report TRACE|DIR --format html --output F.html
                      one self-contained page: findings, cycles, timeline

environment (the shim): WAITGRAPH_TRACE=PATH (%p = pid) turns it on, with
PYTHONPATH=<prefix>/lib/waitgraph/python; WAITGRAPH_STALL_MS (default 100, 0 =
off), WAITGRAPH_STALL_ERROR_MS (default 1000), WAITGRAPH_SATURATION_MS
(default 500), WAITGRAPH_FLUSH_MS (default 50), WAITGRAPH_TASK_SNAPSHOT_MS
(default 500, 0 = off), WAITGRAPH_STORAGE_TIMEOUT_MS (default 2000),
WAITGRAPH_RECORD_ARGV=1, WAITGRAPH_DIR (per-user directory), WAITGRAPH_DEBUG=1,
WAITGRAPH_FOLLOW_FORK=0 (forked children do not record),
WAITGRAPH_TRACE_MAX (bounds the trace: a flight recorder; default 256M, 0 = off).

`waitgraph COMMAND --help` tells more. The Python side:
  PYTHONPATH=<prefix>/lib/waitgraph/python WAITGRAPH_TRACE=out.wgtrace python app.py
  or: import waitgraph; waitgraph.start("out.wgtrace")
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace waitgraph::cli;
  if (argc < 2) {
    std::cerr << kHelp;
    return kExitBadInput;
  }
  std::string_view command = argv[1];
  Args args(argv + 2, argv + argc);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kHelp;
    return kExitOk;
  }
  if (command == "--version") {
    std::cout << "waitgraph " << WAITGRAPH_VERSION << "\n";
    return kExitOk;
  }
  if (command == "run") return RunCommand(args);
  if (command == "analyze") return AnalyzeCommand(args);
  if (command == "check") return CheckCommand(args);
  if (command == "live") return LiveCommand(args);
  if (command == "explain") return ExplainCommand(args);
  if (command == "rules") return RulesCommand(args);
  if (command == "attach") return AttachCommand(args);
  if (command == "graph") return GraphCommand(args);
  if (command == "export") return ExportCommand(args);
  if (command == "report") return ReportCommand(args);
  std::cerr << "waitgraph: unknown command " << command << " (see `waitgraph --help`)\n";
  return kExitBadInput;
}
