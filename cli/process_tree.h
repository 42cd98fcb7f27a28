// The processes of a service as a tree (issue 15): which recorded process is
// the master and which are its workers, and, from /proc, which processes
// descend from a pid (to stop them, or to find their traces).
//
// A role comes from the traces alone (ProcessInfo pid, parent_pid, origin,
// start time), never from a process's name or arguments:
//   - "worker N": forked by a recorded process (os.fork: a pre-fork
//     server's worker, a multiprocessing "fork"/"forkserver" worker) or a
//     multiprocessing "spawn" worker, whose parent is among the traces; N
//     counts its parent's workers in the order they started, from 1 (a
//     worker that replaces a dead one gets the next number);
//   - "master": a process with at least one such worker;
//   - "fork server", "resource tracker": multiprocessing's helpers;
//   - "forked child": forked by a process whose trace is not among those read;
//   - "" otherwise: a program started by exec (e.g. `sh -c "python a.py"`).
// A Python program exec'd by a forked child (os.fork() then os.execv) is
// the same process as that child: it gets the child's role. The child's
// own trace, if it recorded nothing of the program before the exec
// (Report.superseded_by_exec), is not a process image worth a report: it
// is left out when other traces are read with it, so no process counts
// twice and its parent is no master for it.
#ifndef WAITGRAPH_CLI_PROCESS_TREE_H_
#define WAITGRAPH_CLI_PROCESS_TREE_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "rules/finding.pb.h"

namespace waitgraph::cli {

// Sets Report.role of every report from the others, after leaving out the
// traces superseded by an exec (see above). A multiprocessing process
// started by exec records its program as `-c` (python -c "from
// multiprocessing.spawn import spawn_main; ..."): its program is then what
// it runs, the parent's program for a spawned worker (it imports the
// parent's main module and runs the target there, so `-m uvicorn` for
// `uvicorn --workers`; "multiprocessing.spawn" when the parent's trace is
// not among those read), multiprocessing.resource_tracker or
// multiprocessing.forkserver for the helpers.
void AssignRoles(std::vector<findings::Report>& reports);

// The traces of `reports` superseded by an exec (see above) whose files lie
// in `run_dir`: `waitgraph run` removes them from its own run directory,
// unless every trace is such (then that one is the run's only record).
std::vector<std::string> SupersededTraceFiles(const std::vector<findings::Report>& reports,
                                              const std::string& run_dir);

// "worker 2 of 4240", "master", "" (plain process): the role as said of
// one report among `reports`.
std::string DescribeRole(const findings::Report& report);

// Every living process below `root` in the process tree (children first
// found, then theirs), from /proc; not `root` itself.
std::vector<pid_t> Descendants(pid_t root);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_PROCESS_TREE_H_
