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

// For every living descendant of `pid` with a live pointer of ours: reads
// its trace as of now and appends its report to `reports`, and to
// `blocked` what `blocked_now` says of its threads.
// Returns how many processes were added.
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
