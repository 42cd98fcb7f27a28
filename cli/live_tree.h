// `waitgraph live PID` on a service's master (issue 15): the processes
// below PID that record a trace (its workers) are diagnosed too, each in
// its own report, so one command answers "which worker is stuck, in what".
#ifndef WAITGRAPH_CLI_LIVE_TREE_H_
#define WAITGRAPH_CLI_LIVE_TREE_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "analyzer/model.h"
#include "rules/finding.pb.h"

namespace waitgraph::cli {

// Where the live pointer of process `pid` may be: our own per-user
// directory, then, for a process of another user (root diagnosing a
// service whose workers run as another user), that user's default per-user
// directories (`/run/user/UID/waitgraph`, `${TMPDIR:-/tmp}/waitgraph-UID`),
// if that user (or root) controls them (trace::CheckTrustedDir). The user
// is the process's effective uid from /proc/PID/status (a process that
// dropped privileges is no longer dumpable, and its /proc entry then
// belongs to root).
std::vector<std::string> LivePointerCandidates(long pid);

// For every living descendant of `pid`: reads its trace as of now (found
// through LivePointerCandidates) and appends its report to `reports`, and
// to `blocked` what `blocked_now` says of its threads. A descendant that is
// a CPython process without a trace is read from its memory, as `attach`
// does (one snapshot; its report says so in a note). Returns how many
// processes were added.
int DiagnoseDescendants(pid_t pid, std::vector<findings::Report>& reports,
                        std::vector<std::string>& blocked,
                        const std::function<std::string(const analyzer::Model&)>& blocked_now,
                        const std::string& source_root = "");

// The "threads blocked now" texts, one per report; with several processes
// each under a line naming the process ("process 4242, worker 1 of 4240:").
std::string LiveBlockedText(const std::vector<findings::Report>& reports,
                            const std::vector<std::string>& blocked);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_LIVE_TREE_H_
