// `waitgraph live PID --watch`: a full-screen view of a running process that
// refreshes about once a second until `q`: its threads and what each waits
// for and for how long, its event loops and their lag, its executors' busy
// and queued work, and the current findings. And `live` on the pid of a
// `waitgraph run` wrapper, which has no trace of its own, follows the traced
// program it runs.
#ifndef WAITGRAPH_CLI_LIVE_WATCH_H_
#define WAITGRAPH_CLI_LIVE_WATCH_H_

#include <functional>
#include <string>
#include <vector>

#include "analyzer/trace_loader.h"
#include "rules/finding.pb.h"

namespace waitgraph::cli {

// The screen's lines for the process as `analysis` sees it now (`pid` 0: a
// trace file, liveness unknown). Pure, for tests and for WatchLive.
std::vector<std::string> LiveScreen(const analyzer::TraceAnalysis& analysis,
                                    const findings::Report& report, long pid, bool alive);

// Runs the view on the terminal until `q`, Ctrl-C or SIGTERM; the terminal is
// restored (main screen, cursor, line mode) however it ends. Returns the exit
// status (2 if stdin/stdout is not a terminal).
int WatchLive(const std::string& trace, long pid);

// When `pid` has no trace of its own (`has_trace` says) but a descendant
// does (the program a `waitgraph run` wrapper runs), that descendant's pid;
// else `pid`.
long FollowToTracedChild(long pid, const std::function<bool(long)>& has_trace);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_LIVE_WATCH_H_
