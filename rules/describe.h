// Shared wording for rules: turning model entities, waits and stacks into
// the locations and phrases of a finding. Messages are lowercase, one line,
// and say what waits on what.
#ifndef WAITGRAPH_RULES_DESCRIBE_H_
#define WAITGRAPH_RULES_DESCRIBE_H_

#include <string>
#include <vector>

#include "analyzer/model.h"
#include "rules/finding.pb.h"
#include "rules/rule_table.h"

namespace waitgraph::rules {

findings::Location ToLocation(const analyzer::Frame& frame);
std::vector<findings::Location> ToStack(const analyzer::Model& model, analyzer::StackId stack);

// "ThreadSensitiveContext.__aexit__ → ThreadPoolExecutor.shutdown → Thread.join":
// the function that made the thread's first blocking call, then the blocking
// calls it is nested in, outermost first.
std::string DescribeWaitChain(const analyzer::Model& model, analyzer::ThreadId thread);

// "MainThread (running event loop created at app.py:40)".
std::string DescribeThread(const analyzer::Model& model, analyzer::ThreadId thread);
std::string DescribeLoop(const analyzer::Model& model, analyzer::EntityId loop);
std::string DescribeExecutor(const analyzer::Model& model, analyzer::EntityId executor);
// "Lock created at app.py:12" (a traced threading lock, by its class).
std::string DescribeLock(const analyzer::Model& model, analyzer::EntityId lock);

// "task worker_a" (asyncio task name, or its id when unknown).
std::string DescribeTask(const analyzer::Model& model, analyzer::EntityId task);
// "worker_a → Lock.acquire": the user's function in the task's await chain,
// then what it awaits.
std::string DescribeTaskWait(const analyzer::Model& model, const analyzer::Task& task);
// A related location for what an asyncio task awaits, with its await chain.
findings::RelatedLocation TaskWaitLocation(const analyzer::Model& model, const analyzer::Task& task,
                                           std::string role);

// A related location for one wait of a thread, with its whole stack.
findings::RelatedLocation WaitLocation(const analyzer::Model& model, const analyzer::Wait& wait,
                                       std::string role);
// The outermost active wait of `thread`, or nullptr.
const analyzer::Wait* OutermostWait(const analyzer::Model& model, analyzer::ThreadId thread);

// Seconds since the traced process started, for "seen at +1.25 s".
double SecondsSinceStart(const analyzer::Model& model, analyzer::TimeNs time);

// "Future.result@jobs.py:build_report": a wait as it enters a fingerprint
// (its API, and the user's file name and function, never the line).
std::string FingerprintPart(const analyzer::Model& model, const std::string& api,
                            analyzer::StackId stack);

// A threshold in milliseconds from environment variable `variable` (a
// positive number), else `default_ms`; in ns.
analyzer::TimeNs ThresholdFromEnv(const char* variable, double default_ms);

// "a", "a and b", "a, b and c".
std::string JoinAnd(const std::vector<std::string>& items);
// "1 frame", "2 frames" (`plural` for irregular nouns).
std::string CountOf(size_t n, const std::string& singular, const std::string& plural = "");

// A new finding with the rule's identity filled in.
findings::Finding NewFinding(const RuleInfo& info);
// Sets the fingerprint from the rule and parts that survive unrelated edits
// (file names, functions and API names; never line numbers or ids).
void SetFingerprint(findings::Finding& finding, const std::vector<std::string>& parts);

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_DESCRIBE_H_
