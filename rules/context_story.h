// Wording shared by the context rules (lost-context-write,
// context-not-propagated, context-reset-mismatch): where a context came
// from and where a var was touched, in the user's terms.
#ifndef WAITGRAPH_RULES_CONTEXT_STORY_H_
#define WAITGRAPH_RULES_CONTEXT_STORY_H_

#include <string>

#include "analyzer/context_model.h"
#include "analyzer/model.h"
#include "rules/finding.pb.h"

namespace waitgraph::rules {

// "app/views.py:12" (the last two path components and the line).
std::string ShortWhere(const analyzer::Frame& frame);
// The user's line of `stack` as ShortWhere, or "an unknown place".
std::string WhereIn(const analyzer::Model& model, analyzer::StackId stack);

// The API that made a copy or hand-off, recognised from the library frames
// of its stack ("asyncio.gather", "sync_to_async", "loop.run_in_executor"),
// else `fallback` (the name the shim gave it).
std::string ApiOf(const analyzer::Model& model, analyzer::StackId stack,
                  const std::string& fallback);

// "a task made by asyncio.gather at app.py:7" / "the main context of thread
// MainThread": what a context is, for a message.
std::string DescribeContext(const analyzer::Model& model, const analyzer::ContextModel& contexts,
                            analyzer::EntityId context);

// True if the innermost frame of `stack` is library code (stdlib,
// site-/dist-packages): used to leave a library's own bookkeeping alone.
bool InnermostIsLibrary(const analyzer::Model& model, analyzer::StackId stack);

// A related location for one var access.
findings::RelatedLocation AccessLocation(const analyzer::Model& model,
                                         const analyzer::VarAccess& access, std::string role,
                                         std::string message);

}  // namespace waitgraph::rules

#endif  // WAITGRAPH_RULES_CONTEXT_STORY_H_
