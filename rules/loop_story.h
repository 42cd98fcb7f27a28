// Shared by the loop-affinity rules (loop_crossing, closed_loop_use,
// non_threadsafe_loop_call): incidents from analyzer::LoopAffinity grouped by
// where they happened, and the locations and phrases of their findings.
#ifndef WAITGRAPH_RULES_LOOP_STORY_H_
#define WAITGRAPH_RULES_LOOP_STORY_H_

#include <string>
#include <vector>

#include "analyzer/loop_affinity.h"
#include "rules/rule.h"

namespace waitgraph::rules {

// Incidents of one kind, one group per (object or loop, API, user's line):
// a request handler that crosses on every request gives one finding.
std::vector<std::vector<analyzer::Incident>> GroupIncidents(const AnalysisInput& input,
                                                            analyzer::IncidentKind kind);

// "Queue.put_nowait at app.py:30": the API and the user's line that called it.
std::string DescribeUseSite(const analyzer::Model& model, const analyzer::Incident& incident);
// "event loop made by asyncio.run at app.py:40 on worker-1" for the loop the
// using thread was running, or "thread worker-1, which runs no event loop".
std::string DescribeUser(const AnalysisInput& input, const analyzer::Incident& incident);
// "Queue made at app.py:12" or "" if the object is not known.
std::string DescribeBoundObject(const AnalysisInput& input, analyzer::EntityId object);

// A finding for `group` (non-empty): location and stack of the first use,
// related locations for the object, both loops, and the loop's close; the
// count appended to `message`; the fingerprint from the object's origin and
// the use (file and function names, never lines).
// The finding's cause (for merging in reports) is the loop the objects are
// bound to: one shared client (or queue) used where it does not belong is
// one cause, whatever of it (transport, future) was touched and wherever.
findings::Finding LoopIncidentFinding(const AnalysisInput& input, const RuleInfo& info,
                                      const std::vector<analyzer::Incident>& group,
                                      std::string message, std::string fix);

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_LOOP_STORY_H_
