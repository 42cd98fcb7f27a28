// The traces of one `waitgraph run`: every Python process the program starts
// (the program itself, `sh -c "python a.py; python b.py"`, workers) writes
// its own trace (trace/private_files.h: never an existing file), and carries
// the run's id in its ProcessInfo. RunTraces finds them beside the trace
// path given to the shim and follows each while the program runs.
#ifndef WAITGRAPH_CLI_RUN_TRACES_H_
#define WAITGRAPH_CLI_RUN_TRACES_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "analyzer/trace_loader.h"

namespace waitgraph::cli {

class RunTraces {
 public:
  // `pattern`: the WAITGRAPH_TRACE given to the program ("%p" = pid);
  // `run_id`: its WAITGRAPH_RUN_ID.
  RunTraces(std::string pattern, std::string run_id);

  // Looks for traces that appeared since the last call and reads what every
  // trace's writer has completed since.
  void Poll();

  // The traces of this run, in the order their processes started.
  std::vector<const analyzer::TraceAnalysis*> traces() const;
  // Those whose process is still running (not stopped, pid alive): only
  // their open waits last until now, and only they can be hung now.
  std::vector<const analyzer::TraceAnalysis*> running_traces() const;
  // Moves the clock of the running traces to `now_ns`.
  void AdvanceClock(long long now_ns);
  // The user's project, for traces adopted from now on (before the first Poll).
  void set_source_root(std::string dir) { source_root_ = std::move(dir); }

 private:
  void Discover();
  static bool Running(const analyzer::TraceAnalysis& trace);
  // True if `path` is a trace of this run (false: not, or not yet known).
  bool Adopt(const std::string& path);

  std::string dir_;
  std::string prefix_;     // file names start with this...
  std::string extension_;  // ...and end with this
  std::string run_id_;
  std::map<std::string, std::unique_ptr<analyzer::TraceAnalysis>> traces_;
  std::string source_root_;
  std::set<std::string> foreign_;  // files that belong to something else
};

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_RUN_TRACES_H_
