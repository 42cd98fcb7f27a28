#include "rules/context_story.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "rules/describe.h"

namespace waitgraph::rules {

std::string ShortWhere(const analyzer::Frame& frame) {
  return absl::StrCat(frame.shown_path(), ":", frame.line);  // the reports' one path style
}

std::string WhereIn(const analyzer::Model& model, analyzer::StackId stack) {
  const analyzer::Frame* f = model.UserFrame(stack);
  return f == nullptr ? "an unknown place" : ShortWhere(*f);
}

std::string ApiOf(const analyzer::Model& model, analyzer::StackId stack,
                  const std::string& fallback) {
  // Known spawning functions, checked on the library frames between the
  // shim's hook and the user's call; the outermost one names the API.
  static const std::pair<const char*, const char*> kKnown[] = {
      {"gather", "asyncio.gather"},
      {"ensure_future", "asyncio.ensure_future"},
      {"create_task", "asyncio.create_task"},
      {"TaskGroup.create_task", "TaskGroup.create_task"},
      {"BaseEventLoop.run_in_executor", "loop.run_in_executor"},
      {"SyncToAsync.__call__", "sync_to_async"},
      {"AsyncToSync.__call__", "async_to_sync"},
      {"wait", "asyncio.wait"},
      {"wait_for", "asyncio.wait_for"},
      {"shield", "asyncio.shield"},
      {"Runner.run", "asyncio.run"},
      {"TaskGroup.start_soon", "anyio TaskGroup.start_soon"},
  };
  std::string api;
  for (const analyzer::Frame* f : model.StackFrames(stack)) {
    if (!f->library) break;
    for (const auto& [function, name] : kKnown) {
      if (f->function == function) api = name;
    }
  }
  if (!api.empty()) return api;
  if (fallback == "create_task") return "loop.create_task";
  if (fallback == "create_task(context=)") return "create_task(context=...)";
  if (fallback == "copy_context") return "contextvars.copy_context()";
  if (fallback == "ThreadPoolExecutor.submit") return "executor.submit";
  if (fallback == "Thread.start") return "threading.Thread.start";
  return fallback;
}

std::string DescribeContext(const analyzer::Model& model, const analyzer::ContextModel& contexts,
                            analyzer::EntityId context) {
  if (context & analyzer::kThreadContextBit) {
    return absl::StrCat("the empty context of thread ",
                        model.ThreadLabel(context & ~analyzer::kThreadContextBit));
  }
  const analyzer::ContextCopy* copy = contexts.CopyOf(context);
  if (copy == nullptr) {
    analyzer::ThreadId thread = contexts.FirstThread(context);
    if (thread == 0) return "a context the trace does not see being made";
    return absl::StrCat("the context of thread ", model.ThreadLabel(thread));
  }
  std::string api = ApiOf(model, copy->stack, copy->api());
  switch (copy->kind) {
    case trace::CONTEXT_COPY_TASK:
    case trace::CONTEXT_COPY_LOCAL:
      return absl::StrCat("the task made by ", api, " at ", WhereIn(model, copy->stack));
    case trace::CONTEXT_COPY_SHARED:
      return absl::StrCat("the context given to ", api, " at ", WhereIn(model, copy->stack));
    default:
      return absl::StrCat("the copy made by ", api, " at ", WhereIn(model, copy->stack));
  }
}

bool InnermostIsLibrary(const analyzer::Model& model, analyzer::StackId stack) {
  std::vector<const analyzer::Frame*> frames = model.StackFrames(stack);
  return !frames.empty() && frames.front()->library;
}

findings::RelatedLocation AccessLocation(const analyzer::Model& model,
                                         const analyzer::VarAccess& access, std::string role,
                                         std::string message) {
  findings::RelatedLocation r;
  r.set_role(std::move(role));
  r.set_message(std::move(message));
  if (const analyzer::Frame* f = model.UserFrame(access.stack)) *r.mutable_location() = ToLocation(*f);
  for (auto& loc : ToStack(model, access.stack)) *r.add_stack() = std::move(loc);
  return r;
}

}  // namespace waitgraph::rules
